"""Ablation study: what does each claim do to the learned strategy?

``difficult-customer ablations`` retrains PPO (several seeds) with each claim C1-C10
switched off in turn, and compares the learned policy's score and conformance to the
guide rules with and without the claim, next to the exact optimum's (the best
belief-based policy) under the same ablation. Budgeted to finish within an hour on two
cores; every training run and evaluation cell is saved as it finishes, so the command
resumes where it stopped. Writes ``ablations.md``, ``ablations.json`` and heat maps.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.agents import PolicyContext
from difficult_customer.customer_models import CLAIMS, check_ablate
from difficult_customer.experiments.commands.report import (
    EVAL_SEED_BASE,
    Budget,
    ReportConfig,
    scripted_score,
    train_all,
)
from difficult_customer.experiments.library import plots
from difficult_customer.experiments.library.conformance import RULES, conformance
from difficult_customer.experiments.library.evaluation import evaluate_cell, returns
from difficult_customer.experiments.library.io import atomic_write_json, atomic_write_text
from difficult_customer.experiments.library.scores import iqm_ci, normalize, reference_values

OPTIMUM = "belief_lookahead"
"""The exact policy shown as the optimum under each ablation (reads only observations)."""


@dataclass
class AblationConfig:
    claims: list[str] = field(default_factory=lambda: list(CLAIMS))
    steps: int = 100_000
    seeds: int = 3
    eval_episodes: int = 300
    belief_episodes: int = 4000
    """Conversations for the optimum's score (played in lockstep, fast)."""
    out: str = "results/ablations"
    seed: int = 0
    workers: int = 2

    def validate(self) -> None:
        check_ablate(self.claims)
        for name in ("steps", "seeds", "eval_episodes", "workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}; allowed is an integer >= 1")


BUDGETS = {
    "default": dict(steps=100_000, seeds=3, eval_episodes=300),
    "quick": dict(steps=20_000, seeds=1, eval_episodes=100, belief_episodes=1000),
    "tiny": dict(steps=1_024, seeds=1, eval_episodes=12, belief_episodes=100),
}


def run_ablations(config: AblationConfig) -> dict[str, Any]:
    """Train and evaluate every setting (no ablation first); returns the study's results."""
    config.validate()
    importlib.import_module("difficult_customer.agents.exact")
    started = time.perf_counter()
    budget = Budget({"ppo": (config.steps, config.seeds)}, config.eval_episodes, max(config.steps // 5, 1),
                    min(config.eval_episodes, 100), belief_episodes=config.belief_episodes)
    seeds = list(range(EVAL_SEED_BASE, EVAL_SEED_BASE + config.eval_episodes))
    settings: dict[str, Any] = {}
    for claim in ["none", *config.claims]:
        ablate = [] if claim == "none" else [claim]
        report_config = ReportConfig(out=config.out, seed=config.seed, ablate=ablate, workers=config.workers)
        trained = train_all(report_config, budget)
        context = PolicyContext.create(persona="mixture", ablate=ablate, seed=config.seed)
        refs = reference_values(context)
        names = [r["policy_name"] for r in trained["ppo"]]
        cells = Path(config.out) / "cells"
        learned_eps = [evaluate_cell(n, context, seeds, cells) for n in names]
        per_seed = [normalize(float(returns(e).mean()), refs["random"], refs["oracle"]) for e in learned_eps]
        point, low, high = iqm_ci(np.array(per_seed)[:, None], seed=config.seed)
        optimum_eps = evaluate_cell(OPTIMUM, context, seeds, cells)
        optimum_score = scripted_score(OPTIMUM, context, optimum_eps, refs, budget)
        oracle_eps = evaluate_cell("oracle", context, seeds, cells)
        settings[claim] = {
            "ablate": ablate,
            "references": refs,
            "ppo": {"normalized": point, "low": low, "high": high, "per_seed": per_seed,
                    "conformance": conformance([e for eps in learned_eps for e in eps])},
            "optimum": {"normalized": optimum_score["normalized"], "low": optimum_score["normalized_low"],
                        "high": optimum_score["normalized_high"], "conformance": conformance(optimum_eps)},
            "oracle": {"conformance": conformance(oracle_eps)},
        }
    return {"config": config.__dict__, "settings": settings, "wall_seconds": time.perf_counter() - started}


def _rates(conf: dict[str, Any]) -> list[float]:
    return [np.nan if conf[r]["rate"] is None else conf[r]["rate"] for r in RULES]


def write_ablations(results: dict[str, Any], out: Path) -> Path:
    atomic_write_json(out / "ablations.json", results)
    settings = results["settings"]
    rows = list(settings)
    for who in ("ppo", "optimum"):
        matrix = np.array([_rates(settings[c][who]["conformance"]) for c in rows])
        plots.heatmap(matrix, rows, list(RULES), out / f"conformance_{who}.png",
                      f"Conformance of {'PPO' if who == 'ppo' else 'the belief optimum'} with each claim switched off")
    base = settings.get("none")
    lines = ["# Ablations: what each claim does to the learned strategy", "",
             "Each row switches one claim off in the customer model (`ablate=[claim]`), retrains PPO "
             f"({results['config']['seeds']} seeds x {results['config']['steps']} steps) and evaluates on the mixture. "
             "Scores are normalized against random and the oracle of the same ablated model. Conformance: share of "
             "conversations following each rule; in brackets the change against no ablation.", "",
             "| claim off | PPO normalized | optimum normalized | " + " | ".join(f"PPO {r}" for r in RULES)
             + " | " + " | ".join(f"optimum {r}" for r in RULES) + " |",
             "|---|---|---|" + "---|" * (2 * len(RULES))]
    for claim, s in settings.items():
        cells = [f"{s['ppo']['normalized']:.3f} [{s['ppo']['low']:.3f}, {s['ppo']['high']:.3f}]",
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
    lines += ["", "![PPO conformance](conformance_ppo.png)", "", "![optimum conformance](conformance_optimum.png)", "",
              f"Wall time {results['wall_seconds']:.0f} s."]
    atomic_write_text(out / "ablations.md", "\n".join(lines) + "\n")
    return out / "ablations.md"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="difficult-customer ablations", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", default="default", choices=list(BUDGETS))
    p.add_argument("--claims", nargs="+", default=list(CLAIMS))
    p.add_argument("--out", default="results/ablations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = AblationConfig(claims=list(args.claims), out=args.out, seed=args.seed, workers=args.workers,
                            **BUDGETS[args.budget])
    try:
        results = run_ablations(config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    path = write_ablations(results, Path(config.out))
    print(f"ablations: {path} ({results['wall_seconds']:.0f} s)")
    return 0
