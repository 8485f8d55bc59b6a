"""Search the best memoryless policy and print it next to the certified bracket.

A memoryless policy picks its move from the current observation alone (every scripted
policy, and a deterministic MLP on the plain observation). The search runs exact
policy-improvement sweeps over the table from observation to move, from each start; the
value it prints is the exact value of the table it found, so a certified lower bound on
the memoryless optimum, and the bracket's upper bound bounds it from above.

Examples: difficult-customer memoryless (the mixture, 16 turns);
difficult-customer memoryless --persona belligerent --max-turns 3 --save best.npz
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies the starts name)
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.bracket import DEEPEST, certified_bracket
from difficult_customer.agents.exact.memoryless_search import SearchRun, search_memoryless
from difficult_customer.customer_models import PERSONA_NAMES
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS


@dataclass
class Config:
    """Settings of ``difficult-customer memoryless``."""

    persona: str = "mixture"
    """Persona or mixture of the customer."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of the model."""
    starts: list[str] = field(default_factory=lambda: ["tone_reader", "guide_000", "best_fixed_sequence"])
    """Registered memoryless policies the search starts from (their moves fill the table)."""
    random_starts: int = 2
    """Further starts: seeded random fixed sequences of moves."""
    kicks: int = 0
    """Times a few reached observations of the best table get a random move and the sweeps run again."""
    seed: int = 0
    """Seed of the random starts and the kicks."""
    max_sweeps: int = 30
    """Most improvement sweeps per start."""
    save: str | None = None
    """Write the best table to this .npz file (TablePolicy.load reads it)."""


def main(config: Config) -> int:
    """Run the search and print each start, the best table's value and where it lies; 2 on bad settings."""
    if config.persona not in PERSONA_NAMES:
        print(f"error: unknown persona {config.persona!r}; allowed: {', '.join(PERSONA_NAMES)}", file=sys.stderr)
        return 2
    try:
        context = PolicyContext.create(persona=config.persona, max_turns=config.max_turns)
        bracket = certified_bracket(context, depth=DEEPEST["depth"])  # the tightest upper bound
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{config.persona}, max_turns={config.max_turns}: {bracket}", flush=True)
    print("| start | start value (norm.) | after sweeps (norm.) | sweeps | s (cpu s) | note |")
    print("| --- | --- | --- | --- | --- | --- |", flush=True)

    def show(run: SearchRun) -> None:
        print(
            f"| {run.start} | {run.values[0]:.4f} ({bracket.normalize(run.values[0]):.3f}) | "
            f"{run.values[-1]:.4f} ({bracket.normalize(run.values[-1]):.3f}) | {len(run.values) - 1} | "
            f"{run.seconds:.1f} ({run.cpu_seconds:.1f}) | {run.stopped} |",
            flush=True,
        )

    try:
        result = search_memoryless(
            context,
            config.starts,
            config.random_starts,
            config.kicks,
            seed=config.seed,
            max_sweeps=config.max_sweeps,
            progress=show,
        )
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(
        f"best memoryless policy found: {result.value:.4f} raw, {bracket.normalize(result.value):.3f} normalized "
        f"(from {result.start}; {result.policy.size} table entries; {result.seconds:.0f} s, "
        f"cpu {result.cpu_seconds:.0f} s)"
    )
    print(
        f"memoryless optimum in [{result.value:.4f}, {bracket.upper:.4f}] raw, "
        f"[{bracket.normalize(result.value):.3f}, {bracket.normalize(bracket.upper):.3f}] normalized"
    )
    print(bracket.locate(result.value))
    if config.save:
        result.policy.save(config.save)
        print(f"table written to {config.save} (TablePolicy.load; observations not in it get move 0)")
    return 0
