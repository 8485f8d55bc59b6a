"""Which models a sensitivity study samples: a Latin hypercube for the shares, Morris or Sobol for the indices.

Why Morris for the indices by default: Sobol indices need ``N (2G + 2)`` models and are
noisy at the ``N`` that fits ten minutes; Morris's elementary effects screen the same
groups with ``r (G + 1)`` models and come with a bootstrap interval. ``index_method="sobol"``
runs SALib's Sobol design and analysis instead, for a bigger budget.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from difficult_customer.customer_models.space import GROUP_BY, Problem

INDEX_METHODS: tuple[str, ...] = ("morris", "sobol")


@dataclass(frozen=True)
class Design:
    """How many models to sample, and how.

    Raises:
        ValueError: on construction, for a value outside what each field allows.
    """

    lhs_samples: int = 128
    """Latin-hypercube models for the shares."""
    index_method: str = "morris"
    """``"morris"`` (grouped elementary effects) or ``"sobol"`` (grouped Sobol indices)."""
    index_trajectories: int = 8
    """Morris trajectories ``r`` (``r (G + 1)`` models), or Sobol's base ``N`` (``N (2G + 2)`` models)."""
    morris_levels: int = 4
    """Grid levels of the Morris design."""
    group_by: str = "switch"
    """Index groups: ``"switch"`` (each assumption, contested reading or claim id; the starting
    state's fields) or ``"claim"`` (assumptions folded into their claim: fewer groups, fewer models)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.group_by not in GROUP_BY:
            raise ValueError(f"group_by={self.group_by!r}; allowed: {', '.join(map(repr, GROUP_BY))}")
        if self.index_method not in INDEX_METHODS:
            raise ValueError(f"index_method={self.index_method!r}; allowed: {', '.join(map(repr, INDEX_METHODS))}")
        if self.lhs_samples < 2:
            raise ValueError(f"lhs_samples={self.lhs_samples}; allowed is at least 2")
        if self.index_trajectories < 2:
            raise ValueError(f"index_trajectories={self.index_trajectories}; allowed is at least 2")
        if self.index_method == "sobol" and self.index_trajectories & (self.index_trajectories - 1):
            raise ValueError(f"index_trajectories={self.index_trajectories}; Sobol's N must be a power of 2")


@dataclass(frozen=True)
class Sample:
    """One point of a design: which design, its row, and the parameter values."""

    design: str
    """``"lhs"`` or the index method."""
    index: int
    x: tuple[float, ...]

    @property
    def key(self) -> str:
        """The sample's file name in a study's samples folder: ``lhs-00003``."""
        return f"{self.design}-{self.index:05d}"


def draw(problem: Problem, design: Design) -> list[Sample]:
    """The samples of both designs (the Latin hypercube first), deterministic in ``design.seed``."""
    from SALib.sample import latin, morris, sobol  # optional extra (sensitivity)

    spec = problem.salib()
    lhs = latin.sample(spec, design.lhs_samples, seed=design.seed)
    if design.index_method == "morris":
        idx = morris.sample(spec, N=design.index_trajectories, num_levels=design.morris_levels, seed=design.seed)
    else:
        idx = sobol.sample(spec, design.index_trajectories, calc_second_order=False, seed=design.seed)
    return [Sample("lhs", i, tuple(map(float, row))) for i, row in enumerate(lhs)] + [
        Sample(design.index_method, i, tuple(map(float, row))) for i, row in enumerate(idx)
    ]


def design_fingerprint(problem: Problem, design: Design, settings: dict[str, Any]) -> str:
    """A short hash of everything that decides the samples' results (for resuming safely)."""
    blob = json.dumps({"problem": asdict(problem), "design": asdict(design), "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


__all__ = ["INDEX_METHODS", "Design", "Sample", "design_fingerprint", "draw"]
