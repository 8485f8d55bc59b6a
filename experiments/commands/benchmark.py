"""The benchmark: every policy x every persona, seeded, with confidence intervals.

``difficult-customer benchmark`` plays N conversations per (policy, persona) on the
same environment seeds for every policy (common random numbers), and reports mean
return with a 95% t-interval, success rate (solved and followed up) with a Wilson
interval, solved, walk-away and abuse-ended rates and mean turns, and the normalized
score (0 random, 1 the oracle; exact where the tables allow). Results are written
as JSON and CSV. Each (persona, policy) cell is saved as soon as it is done, so an
interrupted run resumes where it stopped; a cell is recomputed only if its settings
changed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from difficult_customer import agents
from difficult_customer.agents import PolicyContext
from difficult_customer.customer_models import PERSONA_NAMES, check_ablate
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.io import atomic_write_csv, atomic_write_json, read_json
from difficult_customer.experiments.library.rollouts import Episode, run_episodes
from difficult_customer.experiments.library.stats import mean_ci, wilson_ci

DEFAULT_PERSONAS = ("mixture", "genuine_grievance", "naturally_difficult", "belligerent", "reasonable")


@dataclass
class BenchmarkConfig:
    """Settings of a benchmark run; every field is a command-line option."""

    episodes: int = 500
    """Conversations per (policy, persona)."""
    seed: int = 0
    """Base seed: episode i uses environment seed ``seed * 1_000_003 + i``; policies get ``seed``."""
    personas: list[str] = field(default_factory=lambda: list(DEFAULT_PERSONAS))
    """Personas (or mixtures) to benchmark on."""
    policies: list[str] = field(default_factory=list)
    """Policies to benchmark; empty means every registered policy."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of each conversation."""
    ablate: list[str] = field(default_factory=list)
    """Claim ids to switch off in the customer model."""
    out: str = "results/benchmark"
    """Folder for benchmark.json, benchmark.csv and the per-cell files used to resume."""
    resume: bool = True
    """Reuse finished cells from an earlier run with the same settings."""

    def validate(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes={self.episodes}; allowed is an integer >= 1")
        for persona in self.personas:
            if persona not in PERSONA_NAMES:
                raise ValueError(f"unknown persona {persona!r}; allowed: {', '.join(PERSONA_NAMES)}")
        known = agents.names()
        for name in self.policies:
            if ":" not in name and name not in known:
                raise ValueError(f"unknown policy {name!r}; allowed: {', '.join(known)}")
        check_ablate(self.ablate)


def episode_seeds(config: BenchmarkConfig) -> list[int]:
    return [config.seed * 1_000_003 + i for i in range(config.episodes)]


def summarize(episodes: list[Episode]) -> dict[str, Any]:
    """The benchmark's numbers for one cell."""
    n = len(episodes)
    ret, ret_lo, ret_hi = mean_ci([e.ret for e in episodes])
    succ, succ_lo, succ_hi = wilson_ci(sum(e.success for e in episodes), n)
    outcomes = [e.outcome for e in episodes]
    return {
        "episodes": n,
        "return_mean": ret,
        "return_ci_low": ret_lo,
        "return_ci_high": ret_hi,
        "success_rate": succ,
        "success_ci_low": succ_lo,
        "success_ci_high": succ_hi,
        "solved_rate": sum(o in ("solved", "solved_and_followed_up") for o in outcomes) / n,
        "walk_away_rate": outcomes.count("walked_away") / n,
        "abuse_end_rate": outcomes.count("ended_after_abuse") / n,
        "timeout_rate": outcomes.count("timed_out") / n,
        "mean_turns": sum(e.turns for e in episodes) / n,
    }


def _cell_key(config: BenchmarkConfig, persona: str, policy: str) -> str:
    settings = {
        "episodes": config.episodes,
        "seed": config.seed,
        "max_turns": config.max_turns,
        "ablate": sorted(config.ablate),
        "persona": persona,
        "policy": policy,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def run_benchmark(config: BenchmarkConfig, progress: bool = True) -> dict[str, Any]:
    """Run (or resume) the benchmark and write its files.

    Returns:
        ``{"config": ..., "rows": [...], "wall_seconds": ...}``; each row is one
        (persona, policy) cell with the numbers of :func:`summarize`.
    """
    config.validate()
    policies = config.policies or agents.names()
    out = Path(config.out)
    cells_dir = out / "cells"
    seeds = episode_seeds(config)
    started = time.perf_counter()
    total = len(policies) * len(config.personas) * config.episodes
    bar = _progress_bar(total, progress)
    rows = []
    try:
        for persona in config.personas:
            context = PolicyContext.create(
                persona=persona, ablate=config.ablate, max_turns=config.max_turns, seed=config.seed
            )
            for policy in policies:
                key = _cell_key(config, persona, policy)
                path = cells_dir / f"{persona}__{policy.replace(':', '_').replace('/', '_')}.json"
                cached = read_json(path) if config.resume else None
                if cached is not None and cached.get("key") == key:
                    row = cached["row"]
                    bar.update(config.episodes)
                else:
                    bar.set_description(f"{persona} / {policy}")
                    episodes = run_episodes(policy, context, seeds, progress=bar.update)
                    row = {"persona": persona, "policy": policy, "kind": _kind(policy), **summarize(episodes)}
                    row.update(normalized_columns(policy, context, row))
                    atomic_write_json(path, {"key": key, "row": row})
                rows.append(row)
    finally:
        bar.close()
    result = {
        "config": asdict(config),
        "rows": rows,
        "wall_seconds": time.perf_counter() - started,
    }
    atomic_write_json(out / "benchmark.json", result)
    atomic_write_csv(out / "benchmark.csv", rows)
    return result


def normalized_columns(policy: str, context: PolicyContext, row: dict[str, Any]) -> dict[str, Any]:
    """Exact expected return where the tables allow it, and the normalized score.

    ``normalized = (J - J_random) / (J_oracle - J_random)`` with exact J_random and
    J_oracle. J is the exact value for policies that can be evaluated exactly (scripted
    ones, random, the oracle, the best fixed sequence; no interval needed), otherwise
    the Monte Carlo mean with its interval, normalized.
    """
    from difficult_customer.agents.exact.evaluation import exact_value
    from difficult_customer.experiments.library.rollouts import policy_context_for
    from difficult_customer.experiments.library.scores import normalize, reference_values

    refs = reference_values(context)
    exact = None
    if ":" not in policy:
        own = policy_context_for(policy, context)
        exact = exact_value(agents.make(policy, own), own)
    value = row["return_mean"] if exact is None else exact

    def norm(j: float) -> float:
        return normalize(j, refs["random"], refs["oracle"])

    low, high = (value, value) if exact is not None else (row["return_ci_low"], row["return_ci_high"])
    return {
        "exact_return": exact,
        "normalized": norm(value),
        "normalized_ci_low": norm(low),
        "normalized_ci_high": norm(high),
        "value_source": "exact" if exact is not None else "monte carlo",
    }


def _kind(policy: str) -> str:
    return "learned" if ":" in policy else agents.spec(policy).kind


class _NullBar:
    def update(self, n: int = 1) -> None: ...

    def set_description(self, text: str) -> None: ...

    def close(self) -> None: ...


def _progress_bar(total: int, enabled: bool) -> Any:
    if not enabled:
        return _NullBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:  # the report extra brings tqdm
        return _NullBar()
    return tqdm(total=total, unit="ep", dynamic_ncols=True, file=sys.stderr)


def format_table(rows: list[dict[str, Any]]) -> str:
    """A plain-text table of benchmark rows, grouped by persona."""
    header = (f"{'persona':<20} {'policy':<20} {'return (95% CI)':<26} {'exact':>7} {'normalized (95% CI)':<24} "
              f"{'success (95% CI)':<22} {'solved':>6} {'walk':>5} {'abuse':>5} {'turns':>5}")
    lines = [header, "-" * len(header)]
    last = None
    for r in rows:
        if last is not None and r["persona"] != last:
            lines.append("")
        last = r["persona"]
        ret = f"{r['return_mean']:+.3f} [{r['return_ci_low']:+.3f}, {r['return_ci_high']:+.3f}]"
        succ = f"{r['success_rate']:.2f} [{r['success_ci_low']:.2f}, {r['success_ci_high']:.2f}]"
        exact = "" if r.get("exact_return") is None else f"{r['exact_return']:+.3f}"
        norm = f"{r['normalized']:+.3f} " + (
            "(exact)" if r.get("exact_return") is not None
            else f"[{r['normalized_ci_low']:+.3f}, {r['normalized_ci_high']:+.3f}]"
        )
        lines.append(
            f"{r['persona']:<20} {r['policy']:<20} {ret:<26} {exact:>7} {norm:<24} {succ:<22} {r['solved_rate']:>6.2f} "
            f"{r['walk_away_rate']:>5.2f} {r['abuse_end_rate']:>5.2f} {r['mean_turns']:>5.1f}"
        )
    return "\n".join(lines)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="difficult-customer benchmark", description=__doc__)
    defaults = BenchmarkConfig()
    parser.add_argument("--episodes", type=int, default=defaults.episodes, help="conversations per cell")
    parser.add_argument("--seed", type=int, default=defaults.seed, help="base seed")
    parser.add_argument("--personas", nargs="+", default=defaults.personas, help="personas or mixtures")
    parser.add_argument("--policies", nargs="+", default=[], help="policies (default: every registered one)")
    parser.add_argument("--max-turns", type=int, default=defaults.max_turns, help="turn limit")
    parser.add_argument("--ablate", nargs="*", default=[], help="claim ids to switch off, e.g. C4 C6")
    parser.add_argument("--out", default=defaults.out, help="output folder")
    parser.add_argument("--no-resume", action="store_true", help="recompute every cell")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = BenchmarkConfig(
        episodes=args.episodes,
        seed=args.seed,
        personas=list(args.personas),
        policies=list(args.policies),
        max_turns=args.max_turns,
        ablate=list(args.ablate),
        out=args.out,
        resume=not args.no_resume,
    )
    try:
        result = run_benchmark(config, progress=not args.no_progress)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(format_table(result["rows"]))
    print(f"\nwritten: {Path(config.out) / 'benchmark.json'}, {Path(config.out) / 'benchmark.csv'}")
    return 0
