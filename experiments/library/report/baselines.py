"""The committed converged baselines: a sweep store shipped with the package, and the report built from it.

The study ``experiments/studies/baselines.yaml`` trains every learner to convergence; its
store, without its artifacts (no model files), is committed as ``experiments/baselines/``
(``runs.sqlite`` and ``studies/``). One command builds the store's report, saves it beside
the store as ``baselines.json`` and writes ``docs/baselines.md`` (:data:`REGENERATE`); the
default report reads ``baselines.json`` (:func:`load_baselines`: no training, no solving)
and shows the converged learners beside its own budget-limited ones.
"""

from __future__ import annotations

import json
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path

from difficult_customer.experiments.library.report.results import StoreResults, from_data

STORE_NAME = "experiments/baselines"
"""The committed store, as the repository names it."""
RESULTS_FILE = "baselines.json"
"""The store's report (a :class:`StoreResults`), saved beside its ``runs.sqlite``."""
DOC = "docs/baselines.md"
"""The generated page of the converged baselines."""
REGENERATE = f"difficult-customer report --from {STORE_NAME} --out results/baselines --baselines-doc {DOC}"
"""The command that rebuilds ``baselines.json`` and ``docs/baselines.md`` from the committed store (run from the
repository's root)."""


def baselines_folder() -> Traversable:
    """The committed store's folder in the installed package (``difficult_customer.experiments/baselines``)."""
    return resources.files("difficult_customer.experiments").joinpath("baselines")


def intro_path(doc: str | Path) -> Path:
    """The hand-written text a generated page starts with: ``docs/baselines.md`` -> ``docs/baselines.intro.md``."""
    doc = Path(doc)
    return doc.with_name(f"{doc.stem}.intro{doc.suffix}")


def load_baselines(folder: Traversable | Path | None = None) -> tuple[StoreResults | None, str]:
    """The committed baselines' results (from the store's ``baselines.json``), or None and one line saying why not.

    ``folder``: the store (default: the package's, :func:`baselines_folder`).
    """
    folder = baselines_folder() if folder is None else folder
    results_file = folder.joinpath(RESULTS_FILE)
    if not results_file.is_file():
        if folder.joinpath("runs.sqlite").is_file():
            return None, (f"Converged baselines: the committed store {STORE_NAME} has no {RESULTS_FILE} yet; build it "
                          f"with `{REGENERATE}`.")
        return None, (f"Converged baselines: none committed ({STORE_NAME} is not in this copy), so this report shows "
                      "only its own budget-limited learners.")
    try:
        results = from_data(json.loads(results_file.read_text(encoding="utf-8")))
    except (ValueError, json.JSONDecodeError) as err:
        return None, f"Converged baselines: {STORE_NAME}/{RESULTS_FILE} cannot be read ({err}); rebuild it with " \
                     f"`{REGENERATE}`."
    if not isinstance(results, StoreResults):
        return None, (f"Converged baselines: {STORE_NAME}/{RESULTS_FILE} holds results of another kind; rebuild it "
                      f"with `{REGENERATE}`.")
    return results, ""


__all__ = ["DOC", "REGENERATE", "RESULTS_FILE", "STORE_NAME", "baselines_folder", "intro_path", "load_baselines"]
