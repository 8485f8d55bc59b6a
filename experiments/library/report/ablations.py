"""The ablation study's results: each claim switched off in turn, the learner retrained and scored.

For each claim (and ``"none"`` first) the budget's runs of one learner are retrained on the
ablated model and scored (exact per seed where the learner is memoryless), next to the
certified bracket (at ``certified_bracket``'s default precision, coarser than the report's: one per claim)
and a belief-based exact policy under the same ablation. Training runs and
evaluation cells are saved as they finish (resumable).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from difficult_customer.experiments.library.budgets import budget, eval_seeds
from difficult_customer.experiments.library.evaluation import evaluate_grid, score_seeds
from difficult_customer.experiments.library.report.build import cached_bracket, rule_rates
from difficult_customer.experiments.library.report.results import AblationResults, AblationSetting, Reference, Score
from difficult_customer.experiments.library.sweep.trainings import train_all


def build_ablations(claims: Sequence[str], out: str | Path, budget_name: str = "default", seed: int = 0,
                    learner: str = "ppo", optimum: str = "belief_lookahead", persona: str = "mixture",
                    workers: int = 2, progress: bool = True) -> AblationResults:
    """Train and evaluate every setting (no ablation first).

    Raises:
        ValueError: for a budget that does not train ``learner``.
    """
    started = time.perf_counter()
    plan = budget(budget_name).only(learner)
    steps, n_seeds = plan.learners[learner]
    seeds = eval_seeds(seed, plan.eval_episodes)
    out = Path(out)
    results = AblationResults(learner=learner, optimum=optimum, persona=persona, steps=steps, seeds=n_seeds,
                              seed=seed, budget=budget_name)
    for claim in ["none", *claims]:
        ablate = [] if claim == "none" else [claim]
        trained = train_all(plan, out=str(out), seed=seed, persona=persona, ablate=ablate, workers=workers,
                            progress=progress)
        names = [r["policy"] for r in trained[learner]]
        grid = evaluate_grid([*names, optimum, "oracle"], [persona], seeds, out / "cells", ablate=ablate, seed=seed,
                             mc_episodes=plan.mc_episodes, score=[*names, optimum],
                             learned_mc_episodes=plan.learned_mc_episodes, progress=progress)
        refs = grid.references[persona]
        results.settings[claim] = AblationSetting(
            ablate=ablate, references=Reference(**refs),
            bracket=cached_bracket(out, f"{persona}__{claim}", grid.contexts[persona], precision={}),
            learner=Score.of(score_seeds([grid.scores[(persona, n)] for n in names], refs, seed=seed)),
            learner_conformance=rule_rates(grid.pooled(persona, names)),
            optimum=Score.of(grid.scores[(persona, optimum)]),
            optimum_conformance=rule_rates(grid.pooled(persona, [optimum])),
            oracle_conformance=rule_rates(grid.pooled(persona, ["oracle"])))
    results.wall_seconds = time.perf_counter() - started
    return results


__all__ = ["build_ablations"]
