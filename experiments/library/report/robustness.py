"""How robust the report's conclusions are: a quick sensitivity study, or one read from a ``sensitivity.json``."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from difficult_customer.agents.exact.bracket import PRECISE
from difficult_customer.customer_models.space import space_for
from difficult_customer.customer_models.switches import VARIANTS
from difficult_customer.experiments.library.io import read_json
from difficult_customer.experiments.library.report.results import ConclusionShare, Robustness
from difficult_customer.experiments.library.sensitivity import (
    Design,
    SolveSettings,
    default_conclusions,
    design_fingerprint,
    draw,
    finite_record,
    solve_models,
)
from difficult_customer.experiments.library.stats import wilson_ci

QUICK_STUDY_SAMPLES = 16
"""Latin-hypercube models of the report's own quick sensitivity study (default budget)."""
STUDY_POINTS = 64
"""PBVI belief points of the quick study's brackets (the report's own bracket uses more; the depth is the same)."""


def quick_sensitivity(variant: str, samples: int, out: Path, max_turns: int, seed: int = 0,
                      workers: int = 1) -> Robustness:
    """A quick sensitivity study of the headline conclusions: their share of ``samples`` plausible models.

    Draws ``samples`` models from the documented ranges of every assumption and reading (a
    Latin hypercube, as ``difficult-customer sensitivity``), solves each exactly at a coarser
    precision (brackets with :data:`STUDY_POINTS` belief points and the report's expectimax
    depth, no conformance) and gives, per conclusion, the share of models in which it holds
    with a Wilson interval. Each solved model is saved in ``out`` (resumable).

    Raises:
        ValueError: for an unknown variant or fewer than 2 samples.
    """
    if samples < 2:
        raise ValueError(f"samples={samples}; allowed is an integer >= 2")
    space = space_for(variant)
    design = Design(lhs_samples=samples, index_trajectories=2, seed=seed)
    settings = SolveSettings(max_turns=max_turns, bracket_points=STUDY_POINTS, bracket_depth=PRECISE["depth"],
                             conformance_episodes=0, fixed_sequence_nodes=200, seed=seed)
    fingerprint = design_fingerprint(space.problem, design, asdict(settings))
    jobs = [("default", tuple(space.default_x()))] + [
        (s.key, s.x) for s in draw(space.problem, design) if s.design == "lhs"]
    records = solve_models(space, jobs, settings, out / variant, fingerprint, workers)
    models = [finite_record(records[key]) for key, _ in jobs[1:]]
    default = finite_record(records["default"])
    conclusions = {}
    for c in default_conclusions():
        share, low, high = wilson_ci(sum(c.holds(r) for r in models), len(models))
        conclusions[c.id] = ConclusionShare(text=c.text, share=share, share_ci=(low, high),
                                            holds_in_default=c.holds(default))
    return Robustness(source=f"the report's quick study ({samples} models)", variant=variant, samples=samples,
                      conclusions=conclusions, quick=True)


def read_sensitivity(path: str | Path, variant: str) -> Robustness | None:
    """The robustness of each conclusion for ``variant`` from a ``sensitivity.json`` (None if it lacks the variant).

    Raises:
        ValueError: for a file that is not a sensitivity.json.
    """
    data = read_json(Path(path))
    if not isinstance(data, dict) or "variants" not in data:
        raise ValueError(f"{str(path)!r} is not a sensitivity.json (no 'variants' in it)")
    study = data["variants"].get(variant)
    if study is None:
        return None
    return Robustness(source=str(path), variant=variant, samples=study.get("lhs_samples"), conclusions={
        c["id"]: ConclusionShare(text=c["text"], share=c["share"], share_ci=tuple(c["share_ci"]),
                                 holds_in_default=c.get("holds_in_default")) for c in study["conclusions"]})


def robustness_of(sensitivity: str | None, samples: int, variant: str, out: Path, max_turns: int, seed: int,
                  workers: int) -> Robustness | None:
    """Read from ``sensitivity`` (a sensitivity.json), else the quick study of ``samples`` models, else None."""
    if sensitivity is not None:
        return read_sensitivity(sensitivity, variant)
    if samples and variant in VARIANTS:
        return quick_sensitivity(variant, samples, out / "sensitivity", max_turns, seed=seed, workers=workers)
    return None


__all__ = ["QUICK_STUDY_SAMPLES", "STUDY_POINTS", "quick_sensitivity", "read_sensitivity", "robustness_of"]
