"""Ablation study: what does each claim do to the learned strategy?

Retrains PPO (the budget's PPO runs: seeds x steps) with each claim C1-C10 switched off
in turn, and compares the learned policy's score (exact per seed: PPO's MLP reads only the
current observation) and conformance to the guide rules with and without the claim, next
to the certified bracket on the best observation-only policy and a belief-based exact
policy (belief_lookahead, sampled) under the same ablation. Every training run and evaluation cell is saved as it finishes, so
the command resumes where it stopped. Writes ablations.md, ablations.json and heat maps.
"""

from __future__ import annotations

import importlib
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.agents.exact.bracket import certified_bracket
from difficult_customer.customer_models import CLAIMS, check_ablate
from difficult_customer.experiments.library import plots
from difficult_customer.experiments.library.budgets import BudgetName, budget, eval_seeds
from difficult_customer.experiments.library.conformance import RULES, conformance
from difficult_customer.experiments.library.evaluation import evaluate_grid, score_seeds
from difficult_customer.experiments.library.io import atomic_write_json, atomic_write_text
from difficult_customer.experiments.library.training import train_all

OPTIMUM = "belief_lookahead"
"""The belief-based exact policy shown beside the bracket under each ablation (sampled: it has memory)."""
LEARNER = "ppo"
"""The learner retrained under each ablation (its steps and seeds come from the budget)."""
PERSONA = "mixture"
"""The customer every setting is trained and evaluated on."""


@dataclass
class Config:
    """Settings of the ablation study."""

    claims: list[str] = field(default_factory=lambda: list(CLAIMS))
    """Claims to switch off, one at a time (the study also runs with none switched off)."""
    budget: BudgetName = "default"
    """Named budget (experiments/library/budgets.py): its PPO steps and seeds, evaluation and Monte Carlo conversations."""
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


AblationConfig = Config
"""The study's settings under a descriptive name, for library callers."""


def run_ablations(config: Config) -> dict[str, Any]:
    """Train and evaluate every setting (no ablation first); returns the study's results."""
    config.validate()
    importlib.import_module("difficult_customer.agents.exact")
    started = time.perf_counter()
    plan = budget(config.budget).only(LEARNER)
    seeds = eval_seeds(config.seed, plan.eval_episodes)
    cells = Path(config.out) / "cells"
    settings: dict[str, Any] = {}
    for claim in ["none", *config.claims]:
        ablate = [] if claim == "none" else [claim]
        trained = train_all(plan, out=config.out, seed=config.seed, persona=PERSONA, ablate=ablate,
                            workers=config.workers, progress=config.progress)
        names = [r["policy"] for r in trained[LEARNER]]
        grid = evaluate_grid([*names, OPTIMUM, "oracle"], [PERSONA], seeds, cells, ablate=ablate, seed=config.seed,
                             mc_episodes=plan.mc_episodes, score=[*names, OPTIMUM],
                             learned_mc_episodes=plan.learned_mc_episodes, progress=config.progress)
        refs = grid.references[PERSONA]
        learned = score_seeds([grid.scores[(PERSONA, n)] for n in names], refs, seed=config.seed)
        optimum = grid.scores[(PERSONA, OPTIMUM)]
        bracket = certified_bracket(grid.contexts[PERSONA])
        settings[claim] = {
            "ablate": ablate,
            "references": refs,
            "bracket": {"lower_normalized": bracket.normalized[0], "upper_normalized": bracket.normalized[1],
                        "points": bracket.points, "depth": bracket.depth},
            "ppo": {"normalized": learned["normalized"], "low": learned["normalized_low"],
                    "high": learned["normalized_high"], "per_seed": learned["per_seed"], "seeds": learned["seeds"],
                    "exact_per_seed": learned["exact_per_seed"],
                    "conformance": conformance(grid.pooled(PERSONA, names))},
            "optimum": {"normalized": optimum["normalized"], "low": optimum["normalized_low"],
                        "high": optimum["normalized_high"], "conformance": conformance(grid.pooled(PERSONA, [OPTIMUM]))},
            "oracle": {"conformance": conformance(grid.pooled(PERSONA, ["oracle"]))},
        }
    return {"config": {**asdict(config), "steps": plan.learners[LEARNER][0], "seeds": plan.learners[LEARNER][1]},
            "settings": settings, "wall_seconds": time.perf_counter() - started}


def _rates(conf: dict[str, Any]) -> list[float]:
    return [np.nan if conf[r]["rate"] is None else conf[r]["rate"] for r in RULES]


def write_ablations(results: dict[str, Any], out: Path) -> Path:
    """Write ablations.json, the heat maps and ablations.md; returns the markdown's path."""
    atomic_write_json(out / "ablations.json", results)
    settings = results["settings"]
    rows = list(settings)
    for who in ("ppo", "optimum"):
        matrix = np.array([_rates(settings[c][who]["conformance"]) for c in rows])
        plots.heatmap(matrix, rows, list(RULES), out / f"conformance_{who}.png",
                      f"Conformance of {'PPO' if who == 'ppo' else OPTIMUM} with each claim switched off")
    base = settings.get("none")
    lines = ["# Ablations: what each claim does to the learned strategy", "",
             "Each row switches one claim off in the customer model (`ablate=[claim]`), retrains PPO "
             f"({results['config']['seeds']} seeds x {results['config']['steps']} steps) and evaluates on the mixture. "
             "Scores are normalized against random and the oracle of the same ablated model. PPO: exact per seed, "
             "IQM across seeds with a 95% bootstrap interval. Bracket: certified lower and upper bounds on the best "
             f"observation-only policy (exact). {OPTIMUM}: a belief-based exact policy, sampled. Conformance: share of "
             "conversations following each rule; in brackets the change against no ablation.", "",
             f"| claim off | PPO normalized | bracket | {OPTIMUM} normalized | " + " | ".join(f"PPO {r}" for r in RULES)
             + " | " + " | ".join(f"{OPTIMUM} {r}" for r in RULES) + " |",
             "|---|---|---|---|" + "---|" * (2 * len(RULES))]
    for claim, s in settings.items():
        ppo = s["ppo"]
        if ppo["high"] > ppo["low"]:
            ppo_cell = f"{ppo['normalized']:.3f} [{ppo['low']:.3f}, {ppo['high']:.3f}]"
        else:
            ppo_cell = f"{ppo['normalized']:.3f} ({'1 seed' if ppo['seeds'] == 1 else 'all seeds equal'}, exact)"
        cells = [ppo_cell, f"[{s['bracket']['lower_normalized']:.3f}, {s['bracket']['upper_normalized']:.3f}]",
                 f"{s['optimum']['normalized']:.3f} [{s['optimum']['low']:.3f}, {s['optimum']['high']:.3f}]"]
        for who in ("ppo", "optimum"):
            for r in RULES:
                rate = s[who]["conformance"][r]["rate"]
                ref = base[who]["conformance"][r]["rate"] if base else None
                if rate is None:
                    cells.append("n/a")
                elif ref is None or claim == "none":
                    cells.append(f"{rate:.2f}")
                else:
                    cells.append(f"{rate:.2f} ({rate - ref:+.2f})")
        lines.append(f"| {claim} | " + " | ".join(cells) + " |")
    lines += ["", "![PPO conformance](conformance_ppo.png)", "", f"![{OPTIMUM} conformance](conformance_optimum.png)", "",
              f"Wall time {results['wall_seconds']:.0f} s."]
    atomic_write_text(out / "ablations.md", "\n".join(lines) + "\n")
    return out / "ablations.md"


def main(config: Config) -> int:
    """Run the study, write its files; 2 on bad settings."""
    try:
        results = run_ablations(config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    path = write_ablations(results, Path(config.out))
    print(f"ablations: {path} ({results['wall_seconds']:.0f} s)")
    return 0
