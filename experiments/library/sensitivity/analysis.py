"""From solved records to robustness: each conclusion's share of models, guide ranks, and indices per conclusion."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from difficult_customer.customer_models.space import Problem
from difficult_customer.experiments.library.conclusions import GUIDES
from difficult_customer.experiments.library.sensitivity.checks import Check, scale_defined
from difficult_customer.experiments.library.sensitivity.design import Design, Sample
from difficult_customer.experiments.library.stats import wilson_ci


@dataclass
class Analysis:
    """What :func:`analyze` returns, ready for ``sensitivity.json``."""

    conclusions: list[dict[str, Any]] = field(default_factory=list)
    ranks: dict[str, list[float]] = field(default_factory=dict)
    """Per guide: share of LHS models in which it ranks 1st, 2nd, ... 5th."""
    samples: int = 0
    """LHS models whose normalized numbers exist (the shares' denominator)."""
    undefined: int = 0
    """LHS models left out because their oracle is no better than random (no normalized scale)."""


def ranks_of(record: dict[str, float]) -> dict[str, int]:
    """Rank (1 = best) of each guide in one model; ties share the better rank."""
    scores = {g: record[g] for g in GUIDES}
    return {g: 1 + sum(scores[o] > scores[g] + 1e-12 for o in GUIDES) for g in GUIDES}


def analyze(
    problem: Problem,
    design: Design,
    lhs_records: Sequence[dict[str, float]],
    index_samples: Sequence[Sample],
    index_records: Sequence[dict[str, float]],
    conclusions: Iterable[Check],
    default_record: dict[str, float] | None = None,
) -> Analysis:
    """Shares over the LHS models, guide ranks, and indices per conclusion.

    A model whose oracle is no better than random has no normalized numbers: it is left
    out of the shares and ranks (counted in :attr:`Analysis.undefined`), its index metric
    is NaN, and the default model's entries are NaN and None if it is such a model.

    Args:
        problem: the sampled parameters and their groups.
        design: the design the samples came from (for the index analysis).
        lhs_records: one finite record per LHS model.
        index_samples: the index design's samples, in design order.
        index_records: one finite record per index sample, in the same order.
        conclusions: what to check.
        default_record: the record of the default model, to say whether each
            conclusion holds there.

    Raises:
        ValueError: if no LHS model has a normalized scale.
    """
    from SALib.analyze import morris, sobol  # optional extra (sensitivity)

    defined = [r for r in lhs_records if scale_defined(r)]
    if not defined:
        raise ValueError(f"none of the {len(lhs_records)} sampled models has an oracle better than random; "
                         "no conclusion can be checked")
    spec = problem.salib()
    group_names = list(dict.fromkeys(problem.groups))
    out = Analysis(samples=len(defined), undefined=len(lhs_records) - len(defined))
    x = np.array([s.x for s in index_samples], dtype=float)
    for c in conclusions:
        holds = [c.holds(r) for r in defined]
        share, low, high = wilson_ci(sum(holds), len(holds))
        values = np.array([c.metric(r) if scale_defined(r) else np.nan for r in index_records], dtype=float)
        if design.index_method == "morris":
            res = morris.analyze(spec, x, values, num_levels=design.morris_levels, seed=design.seed)
            names = [str(n) for n in res["names"]]
            index = {n: float(v) for n, v in zip(names, np.asarray(res["mu_star"]), strict=True)}
            conf = {n: float(v) for n, v in zip(names, np.asarray(res["mu_star_conf"]), strict=True)}
            kind = "morris_mu_star"
        else:
            res = sobol.analyze(spec, values, calc_second_order=False, seed=design.seed)
            index = {n: float(v) for n, v in zip(group_names, np.asarray(res["ST"]), strict=True)}
            conf = {n: float(v) for n, v in zip(group_names, np.asarray(res["ST_conf"]), strict=True)}
            kind = "sobol_total"
        quartiles = np.quantile([c.metric(r) for r in defined], [0.25, 0.5, 0.75])
        entry = {
            "id": c.id,
            "words": c.words,
            "text": c.text,
            "share": share,
            "share_ci": [low, high],
            "holds_in": int(sum(holds)),
            "samples": len(holds),
            "metric_quartiles": [float(q) for q in quartiles],
            "index_kind": kind,
            "index": index,
            "index_conf": conf,
        }
        if default_record is not None:
            ok = scale_defined(default_record)
            entry["default_value"] = float(c.metric(default_record)) if ok else float("nan")
            entry["holds_in_default"] = c.holds(default_record) if ok else None
        out.conclusions.append(entry)
    counts = {g: np.zeros(len(GUIDES)) for g in GUIDES}
    for r in defined:
        for g, rank in ranks_of(r).items():
            counts[g][rank - 1] += 1
    out.ranks = {g: (c / len(defined)).tolist() for g, c in counts.items()}
    return out


__all__ = ["Analysis", "analyze", "ranks_of"]
