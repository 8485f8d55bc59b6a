"""Experiments: a library plus thin commands.

- :mod:`~difficult_customer.experiments.library`: evaluation (cells, scores, caching),
  rollouts, training, budgets and seeds, statistics, conformance, plots, atomic files;
- :mod:`~difficult_customer.experiments.commands`: one module per command, each a
  ``Config`` dataclass and ``main(config) -> int``, importing the library, never each other;
- :mod:`~difficult_customer.experiments.teaching`: the teaching demos;
- :mod:`~difficult_customer.experiments.cli`: the command table behind ``difficult-customer``.

Run ``difficult-customer --help``. Needs the ``report`` extra (scipy, tqdm, rich,
matplotlib); training needs the ``train`` extra.
"""

if __name__ != "difficult_customer.experiments":  # a checkout's folder imported under a second, top-level name
    raise ImportError(
        f"this package is difficult_customer.experiments, imported here as {__name__!r}; install the project "
        "(pip install -e .) and import difficult_customer.experiments"
    )

from difficult_customer.experiments.library.notices import quiet_gym_notice

quiet_gym_notice()  # before anything imports stable-baselines3, which imports gym if d3rlpy brought it (data extra)
