"""Benchmark: solve every persona and the mixture exactly, under each single-claim ablation.

Prints one row per (ablation, persona): number of hidden states, the oracle's value, the
fast informed bound (FIB, an upper bound on every observation-only policy), the PBVI
certified lower bound, QMDP's, the belief lookahead's and PBVI's values (Monte Carlo,
95% interval), the best fixed sequence's exact value, J_random, and seconds to compile
the tables, to solve them (value iteration + J_random + FIB + best fixed sequence with
its branch-and-bound proof) and to run PBVI. Then the total solve time of the models of
each ablation. Not a test: timings are printed, never asserted.

Examples: difficult-customer solve-times (everything, 2000 episodes per Monte Carlo value);
difficult-customer solve-times --ablations none C4 --episodes 500
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.evaluation import monte_carlo
from difficult_customer.agents.exact.pbvi import DEFAULT_POINTS, PointBased
from difficult_customer.agents.exact.policies import BeliefPolicy
from difficult_customer.agents.exact.solve import solve
from difficult_customer.customer_models import CLAIMS, check_ablate
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS

PERSONAS = ("mixture", "genuine_grievance", "naturally_difficult", "belligerent", "reasonable")


@dataclass
class Config:
    """Settings of ``difficult-customer solve-times``."""

    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of the solved models."""
    episodes: int = 2000
    """Monte Carlo conversations per belief policy (0: skip the Monte Carlo values)."""
    seed: int = 0
    """Monte Carlo seed."""
    points: int = DEFAULT_POINTS
    """PBVI belief points per turn (0: skip PBVI)."""
    personas: list[str] = field(default_factory=lambda: list(PERSONAS))
    """Personas (and mixture) to solve."""
    ablations: list[str] = field(default_factory=lambda: ["none", *CLAIMS])
    """'none' and/or claim ids, one ablation each."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        for persona in self.personas:
            if persona not in PERSONAS:
                raise ValueError(f"unknown persona {persona!r}; allowed: {', '.join(PERSONAS)}")
        check_ablate([a for a in self.ablations if a != "none"])
        if self.episodes < 0 or self.points < 0:
            raise ValueError(f"episodes={self.episodes}, points={self.points}; allowed are integers >= 0")


def _mc(policy, context: PolicyContext, episodes: int, seed: int) -> str:
    if episodes <= 0:
        return "-"
    mc = monte_carlo(policy, context, episodes, seed)
    return f"{mc.mean:.3f}±{mc.half_width:.3f}"


def main(config: Config) -> int:
    """Solve, time and print the table; 2 on bad settings."""
    try:
        config.validate()
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args = config
    header = (
        f"{'ablation':8} {'persona':19} {'states':>6} {'oracle':>6} {'FIB ub':>6} {'PBVI lb':>7} "
        f"{'QMDP':>12} {'lookahead':>12} {'PBVI':>12} {'fixed seq':>9} {'random':>6} "
        f"{'compile s':>9} {'solve s':>7} {'PBVI s':>6}"
    )
    solve(PolicyContext.create(persona="reasonable", max_turns=2))  # warm numpy up before timing
    print(header)
    print("-" * len(header))
    totals: dict[str, float] = {}
    for ablation in args.ablations:
        ablate = [] if ablation == "none" else [ablation]
        for persona in args.personas:
            context = PolicyContext.create(persona=persona, ablate=ablate, max_turns=args.max_turns)
            solved = solve(context)
            pbvi, pbvi_bound, pbvi_seconds = None, "-", 0.0
            if args.points > 0:
                start = time.perf_counter()
                pbvi = PointBased(context, args.points)
                pbvi_seconds = time.perf_counter() - start
                pbvi_bound = f"{pbvi.pbvi.lower_bound:.3f}"
            qmdp = _mc(BeliefPolicy(context, 0), context, args.episodes, args.seed)
            lookahead = _mc(BeliefPolicy(context, 1), context, args.episodes, args.seed)
            point_based = "-" if pbvi is None else _mc(pbvi, context, args.episodes, args.seed)
            plan = solved.fixed_sequence
            fixed = f"{plan.value:.3f}" + ("" if plan.optimal else f"≤{plan.upper_bound:.3f}")
            print(
                f"{ablation:8} {persona:19} {solved.n_states:6d} {solved.oracle_value:6.3f} {solved.fib_value:6.3f} "
                f"{pbvi_bound:>7} {qmdp:>12} {lookahead:>12} {point_based:>12} {fixed:>9} "
                f"{solved.random_value:6.3f} {solved.compile_seconds:9.3f} {solved.solve_seconds:7.3f} "
                f"{pbvi_seconds:6.2f}",
                flush=True,
            )
            totals[ablation] = totals.get(ablation, 0.0) + solved.solve_seconds
    print()
    print(f"total solve seconds for {', '.join(args.personas)} (excluding compile and PBVI):")
    for ablation, seconds in totals.items():
        print(f"  {ablation:8} {seconds:.3f}")
    print("fixed seq: proven optimal by branch and bound, or 'value≤bound' when its node budget ran out")
    return 0
