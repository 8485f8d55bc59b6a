"""Ablation study: what does each claim do to the learned strategy?

Retrains PPO (the budget's PPO runs: seeds x steps) with each claim C1-C10 switched off in
turn, and compares the learned policy's score (exact per seed: PPO's MLP reads only the
current observation) and conformance to the guide rules with and without the claim, next
to the certified bracket on the best observation-only policy and a belief-based exact
policy (belief_lookahead, sampled) under the same ablation. Resumable. Writes
ablations.md, ablations.json (the typed results) and heat maps, through the report
pipeline (``experiments/library/report/``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from difficult_customer.customer_models import CLAIMS, check_ablate
from difficult_customer.experiments.library.budgets import BudgetName, budget
from difficult_customer.experiments.library.report.ablations import build_ablations
from difficult_customer.experiments.library.report.files import write_report

LEARNER = "ppo"
"""The learner retrained under each ablation (its steps and seeds come from the budget)."""


@dataclass
class Config:
    """Settings of the ablation study."""

    claims: list[str] = field(default_factory=lambda: list(CLAIMS))
    """Claims to switch off, one at a time (the study also runs with none switched off)."""
    budget: BudgetName = "default"
    """Named budget (experiments/library/budgets.py): its PPO steps and seeds, evaluation and Monte Carlo sizes."""
    out: str = "results/ablations"
    """Folder for ablations.md, ablations.json, the heat maps, training runs and evaluation cells."""
    seed: int = 0
    """Training seeds are seed, seed + 1, ...; evaluation seeds are derived from it too."""
    workers: int = 2
    """Training runs in parallel (one per core)."""
    progress: bool = True
    """Show progress bars on stderr."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        check_ablate(self.claims)
        budget(self.budget).only(LEARNER)
        if self.workers < 1:
            raise ValueError(f"workers={self.workers}; allowed is an integer >= 1")


def main(config: Config) -> int:
    """Run the study, write its files; 2 on bad settings."""
    try:
        config.validate()
        results = build_ablations(config.claims, config.out, config.budget, config.seed, learner=LEARNER,
                                  workers=config.workers, progress=config.progress)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    path = write_report(results, config.out)
    print(f"ablations: {path} ({results.wall_seconds:.0f} s)")
    return 0
