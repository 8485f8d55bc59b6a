"""The research report as a pipeline: build typed results, render them, write the files.

- :mod:`.results`: the typed :class:`~.results.Results` (and the store's and ablations'), saved and loaded as JSON;
- :mod:`.build`: train, score and bracket what the report shows (:func:`~.build.build_results`);
- :mod:`.store`: the same from a sweep study's results store (:func:`~.store.store_results`);
- :mod:`.ablations`: the ablation study (:func:`~.ablations.build_ablations`);
- :mod:`.robustness`: the conclusions' robustness (a quick sensitivity study, or a sensitivity.json);
- :mod:`.render`: the markdown of any results (:func:`~.render.render`);
- :mod:`.files`: results JSON, figures and markdown written into a folder (:func:`~.files.write_report`).
"""
