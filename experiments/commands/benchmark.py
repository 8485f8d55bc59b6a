"""The benchmark: every policy x every persona, seeded, with confidence intervals.

Plays N conversations per (policy, persona) on the same environment seeds for every
policy (common random numbers), and reports mean return with a 95% t-interval, success
rate (solved and followed up) with a Wilson interval, solved, walk-away and abuse-ended
rates and mean turns, and the normalized score (0 random, 1 the oracle; exact where the
tables allow). Writes benchmark.json and benchmark.csv. Each (persona, policy) cell is
saved as soon as it is done, so an interrupted run resumes where it stopped; a cell is
recomputed only if its settings changed.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from difficult_customer import agents
from difficult_customer.customer_models import PERSONA_NAMES, check_ablate
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.budgets import benchmark_seeds
from difficult_customer.experiments.library.evaluation import evaluate_grid, summarize
from difficult_customer.experiments.library.io import atomic_write_csv, atomic_write_json

DEFAULT_PERSONAS = ("mixture", "genuine_grievance", "naturally_difficult", "belligerent", "reasonable")


@dataclass
class Config:
    """Settings of a benchmark run."""

    episodes: int = 500
    """Conversations per (policy, persona)."""
    seed: int = 0
    """Base seed: conversation i uses environment seed seed * 1_000_003 + i; policies get seed."""
    personas: list[str] = field(default_factory=lambda: list(DEFAULT_PERSONAS))
    """Personas (or mixtures) to benchmark on."""
    policies: list[str] = field(default_factory=list)
    """Policies to benchmark: registered names or paths of trained models (model.zip); empty: every registered one."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of each conversation."""
    ablate: list[str] = field(default_factory=list)
    """Claims (C1-C10) or other switches of the customer model to turn off, e.g. C4 C6."""
    mc_episodes: int = 0
    """Conversations (in lockstep) for the score of a policy that cannot be valued exactly; 0 uses the cell's own."""
    out: str = "results/benchmark"
    """Folder for benchmark.json, benchmark.csv and the per-cell files used to resume."""
    resume: bool = True
    """Reuse finished cells from an earlier run with the same settings (--no-resume recomputes)."""
    progress: bool = True
    """Show a progress bar on stderr."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        if self.episodes < 1:
            raise ValueError(f"episodes={self.episodes}; allowed is an integer >= 1")
        if self.mc_episodes < 0:
            raise ValueError(f"mc_episodes={self.mc_episodes}; allowed is an integer >= 0")
        for persona in self.personas:
            if persona not in PERSONA_NAMES:
                raise ValueError(f"unknown persona {persona!r}; allowed: {', '.join(PERSONA_NAMES)}")
        for name in self.policies:
            agents.spec(name)  # names the bad policy and the allowed ones
        check_ablate(self.ablate)




def run_benchmark(config: Config) -> dict[str, Any]:
    """Run (or resume) the benchmark and write its files.

    Returns:
        ``{"config": ..., "rows": [...], "wall_seconds": ...}``; each row is one (persona,
        policy) cell: ``summarize``'s numbers and ``score_policy``'s score.
    """
    config.validate()
    policies = config.policies or agents.names()
    out = Path(config.out)
    started = time.perf_counter()
    grid = evaluate_grid(policies, config.personas, benchmark_seeds(config.seed, config.episodes), out / "cells",
                         ablate=config.ablate, max_turns=config.max_turns, seed=config.seed,
                         mc_episodes=config.mc_episodes, resume=config.resume, progress=config.progress)
    rows = [{"persona": persona, "policy": policy, **summarize(grid.episodes[(persona, policy)]),
             **grid.scores[(persona, policy)]} for persona in config.personas for policy in policies]
    result = {"config": asdict(config), "rows": rows, "wall_seconds": time.perf_counter() - started}
    atomic_write_json(out / "benchmark.json", result)
    atomic_write_csv(out / "benchmark.csv", rows)
    return result


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of benchmark rows, grouped by persona."""
    header = (f"{'persona':<20} {'policy':<20} {'return (95% CI)':<26} {'source':>11} {'normalized (95% CI)':<24} "
              f"{'success (95% CI)':<22} {'solved':>6} {'walk':>5} {'abuse':>5} {'turns':>5}")
    lines = [header, "-" * len(header)]
    last = None
    for r in rows:
        if last is not None and r["persona"] != last:
            lines.append("")
        last = r["persona"]
        ret = f"{r['return_mean']:+.3f} [{r['return_ci_low']:+.3f}, {r['return_ci_high']:+.3f}]"
        succ = f"{r['success_rate']:.2f} [{r['success_ci_low']:.2f}, {r['success_ci_high']:.2f}]"
        norm = f"{r['normalized']:+.3f} " + (
            "(exact)" if r["source"] == "exact" else f"[{r['normalized_low']:+.3f}, {r['normalized_high']:+.3f}]"
        )
        lines.append(
            f"{r['persona']:<20} {r['policy']:<20} {ret:<26} {r['source']:>11} {norm:<24} {succ:<22} "
            f"{r['solved_rate']:>6.2f} {r['walk_away_rate']:>5.2f} {r['abuse_end_rate']:>5.2f} {r['mean_turns']:>5.1f}"
        )
    return "\n".join(lines)


def main(config: Config) -> int:
    """Run the benchmark, print its table; 2 on bad settings."""
    try:
        result = run_benchmark(config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(result["rows"]))
    print(f"\nwritten: {Path(config.out) / 'benchmark.json'}, {Path(config.out) / 'benchmark.csv'}")
    return 0
