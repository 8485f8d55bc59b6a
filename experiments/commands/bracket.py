"""Print the certified bracket on the best observation-only policy for each persona, and the points curve.

The bracket is two exact numbers: a lower bound (the exact value of an actual
observation-history policy, from PBVI's plans) and an upper bound (expectimax over
observations with the fast informed bound at the leaves). Seconds exclude compiling the
tables.

Examples: difficult-customer bracket; difficult-customer bracket --precise;
difficult-customer bracket --personas mixture --curve 8 16 32 64
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.bracket import (
    DEEPEST,
    DEFAULT_DEPTH,
    DEFAULT_POINTS,
    PRECISE,
    certified_bracket,
    points_curve,
)
from difficult_customer.agents.exact.model import transition_index
from difficult_customer.customer_models import PERSONA_NAMES
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS

PERSONAS = ("mixture", "genuine_grievance", "naturally_difficult", "belligerent", "reasonable")


@dataclass
class Config:
    """Settings of ``difficult-customer bracket``."""

    points: int = DEFAULT_POINTS
    """PBVI belief points per turn (the lower bound's plans)."""
    depth: int = DEFAULT_DEPTH
    """Turns of expectimax in front of the upper bound (0-4; each turn costs about a hundredfold)."""
    lower_depth: int = 0
    """Turns of expectimax in front of the lower bound (0-4)."""
    precise: bool = False
    """Use the report's setting (512 points, depth 3) instead of points, depth and lower depth."""
    deepest: bool = False
    """Use the tightest setting measured (512 points, depth 4; about a minute and 1 GB on the mixture)."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of the models."""
    curve: list[int] = field(default_factory=list)
    """Belief points of the points curve on the mixture, e.g. 8 16 32 (none: no curve)."""
    personas: list[str] = field(default_factory=lambda: list(PERSONAS))
    """Personas (and mixture) to bracket."""


def main(config: Config) -> int:
    """Print the table (and the curve); 2 on bad settings."""
    for persona in config.personas:
        if persona not in PERSONA_NAMES:
            print(f"error: unknown persona {persona!r}; allowed: {', '.join(PERSONA_NAMES)}", file=sys.stderr)
            return 2
    setting = {"points": config.points, "depth": config.depth, "lower_depth": config.lower_depth}
    if config.precise or config.deepest:
        setting = dict(DEEPEST if config.deepest else PRECISE)
    print(f"setting: {setting}; seconds exclude compiling the tables")
    print("| model | oracle | random | FIB | lower | upper | normalized | width | s (cpu s) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    try:
        for persona in config.personas:
            context = PolicyContext.create(persona=persona, max_turns=config.max_turns)
            transition_index(context.tables)
            b = certified_bracket(context, **setting)
            low, high = b.normalized
            print(
                f"| {persona} | {b.oracle:.4f} | {b.random:.4f} | {b.fib:.4f} | {b.lower:.4f} | "
                f"{b.upper:.4f} | [{low:.3f}, {high:.3f}] | {b.width:.4f} | {b.seconds:.2f} ({b.cpu_seconds:.2f}) |"
            )
        if config.curve:
            context = PolicyContext.create(persona="mixture", max_turns=config.max_turns)
            print("\npoints curve (mixture): PBVI's certified lower bound")
            print("| points | lower | normalized | alpha vectors at the opening | s (cpu s) |")
            print("| --- | --- | --- | --- | --- |")
            bracket = certified_bracket(context, 1, 0)
            for c in points_curve(context, config.curve):
                print(
                    f"| {c.points} | {c.lower:.4f} | {bracket.normalize(c.lower):.3f} | {c.alphas} | "
                    f"{c.seconds:.2f} ({c.cpu_seconds:.2f}) |"
                )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
