"""Write a report's files from its typed results: the results JSON, the PNG figures and the markdown."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from difficult_customer.experiments.library import findings, plots
from difficult_customer.experiments.library.conformance import RULES
from difficult_customer.experiments.library.io import atomic_write_text
from difficult_customer.experiments.library.report.baselines import REGENERATE, RESULTS_FILE, intro_path
from difficult_customer.experiments.library.report.build import GROUP_ORDER
from difficult_customer.experiments.library.report.render import TITLE, render
from difficult_customer.experiments.library.report.results import (
    AblationResults,
    AnyResults,
    Curve,
    Results,
    RuleRate,
    StoreResults,
    save,
)
from difficult_customer.experiments.library.report.store import display_path

MARKDOWN = {Results: "report.md", StoreResults: "report.md", AblationResults: "ablations.md"}
"""The markdown file of each kind of results."""
JSON = {Results: "results.json", StoreResults: "results.json", AblationResults: "ablations.json"}
"""The results file of each kind of results."""


def _curve_data(curve: Curve) -> dict[str, list]:
    return {"steps": curve.steps, "scores": curve.scores}


def _filter_label(label: str, group: str) -> str:
    return f"{label} (model's filter)" if group == findings.GROUP_FILTER else label


def _rates(conf: dict[str, RuleRate]) -> list[float]:
    return [np.nan if conf[r].rate is None else conf[r].rate for r in RULES]


def report_figures(results: Results, out: Path) -> None:
    """learning_curves.png, scores.png, conformance.png and strategies.png of the report."""
    persona = results.persona
    sc = results.main_scores()
    b = results.brackets[persona]
    band = (b.lower_normalized, b.upper_normalized)
    if results.curves:
        curves = {_filter_label(k, findings.learner_group(k)): _curve_data(c) for k, c in results.curves.items()}
        plots.learning_curves(curves, {n: v.normalized for n, v in sc.items() if v.kind == "guide"},
                              out / "learning_curves.png",
                              f"Learning curves on {results.settings.train_persona} (normalized)", band=band)
    names = [n for g in GROUP_ORDER for n in sorted((n for n, v in sc.items() if v.group == g),
                                                      key=lambda n: -sc[n].normalized)]
    plots.score_bars(names, [sc[n].normalized for n in names], [sc[n].normalized_low for n in names],
                     [sc[n].normalized_high for n in names], out / "scores.png", f"Normalized scores on {persona}",
                     groups=[sc[n].group for n in names], band=band)
    rows = list(results.conformance)
    plots.heatmap(np.array([_rates(results.conformance[n]) for n in rows]), rows, list(RULES),
                  out / "conformance.png", f"Share of conversations following each rule ({persona})")
    plots.strategy_grid({n: np.array(v) for n, v in results.strategies.items()}, out / "strategies.png",
                        f"Moves by turn on {persona}")


def store_figures(results: StoreResults, out: Path) -> None:
    """scores.png (each group's IQM) and learning_curves.png of a report built from a store."""
    groups = results.groups
    plots.score_bars([g.label for g in groups], [g.score.normalized for g in groups],
                     [g.score.normalized_low for g in groups], [g.score.normalized_high for g in groups],
                     out / "scores.png", "IQM across seeds per group (normalized)", groups=[g.group for g in groups])
    curves = {_filter_label(g.label, g.group): _curve_data(g.curve) for g in groups if g.curve}
    if curves:
        plots.learning_curves(curves, {}, out / "learning_curves.png", "Learning curves per group (normalized)")


def ablation_figures(results: AblationResults, out: Path) -> None:
    """conformance_learner.png and conformance_optimum.png: rates per rule with each claim switched off."""
    rows = list(results.settings)
    for who, name in (("learner", results.learner), ("optimum", results.optimum)):
        matrix = np.array([_rates(getattr(results.settings[c], f"{who}_conformance")) for c in rows])
        plots.heatmap(matrix, rows, list(RULES), out / f"conformance_{who}.png",
                      f"Conformance of {name} with each claim switched off")


def write_report(results: AnyResults, out: str | Path) -> Path:
    """Write the results JSON, the figures and the markdown into ``out``; returns the markdown's path."""
    out = Path(out)
    kind = type(results)
    save(results, out / JSON[kind])
    {Results: report_figures, StoreResults: store_figures, AblationResults: ablation_figures}[kind](results, out)
    return atomic_write_text(out / MARKDOWN[kind], render(results))


BASELINES_HEADER = (f"<!-- Generated from the committed store by `{REGENERATE}` (run from the repository's root): "
                    "do not edit by hand. The text before the generated part is {intro}; "
                    "tests/test_baselines_report.py checks that this page is current. -->")
"""The first line of the generated baselines page (``{intro}``: the hand-written preamble's file)."""


BASELINES_IMAGES = "images/baselines"
"""Where the baselines page's figures go, beside the page."""


def baselines_markdown(results: StoreResults, intro: str = "", intro_name: str = "docs/baselines.intro.md") -> str:
    """The baselines page: a header saying how it is made, the hand-written ``intro``, then the store's report
    (``report.md`` without its title, its figures in :data:`BASELINES_IMAGES`)."""
    body = render(results).removeprefix(TITLE + "\n").lstrip("\n")
    body = re.sub(r"\]\(([\w-]+\.png)\)", rf"]({BASELINES_IMAGES}/\1)", body)
    parts = [BASELINES_HEADER.format(intro=intro_name), intro.strip(), body]
    return "\n\n".join(p for p in parts if p)


def write_baselines_doc(results: StoreResults, store: str | Path, doc: str | Path) -> Path:
    """Save ``results`` as the store's ``baselines.json`` (what the default report reads) and write the page ``doc``
    from them, preceded by ``doc``'s hand-written preamble (:func:`~.baselines.intro_path`, if it exists), with its
    figures beside it (:data:`BASELINES_IMAGES`)."""
    doc = Path(doc)
    save(results, Path(store) / RESULTS_FILE)
    images = doc.parent / BASELINES_IMAGES
    images.mkdir(parents=True, exist_ok=True)
    store_figures(results, images)
    intro = intro_path(doc)
    text = intro.read_text(encoding="utf-8") if intro.is_file() else ""
    return atomic_write_text(doc, baselines_markdown(results, text, display_path(intro)))


__all__ = ["BASELINES_HEADER", "BASELINES_IMAGES", "JSON", "MARKDOWN", "ablation_figures", "baselines_markdown",
           "report_figures", "store_figures", "write_baselines_doc", "write_report"]
