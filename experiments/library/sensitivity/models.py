"""Solving one sampled model exactly: its record of raw values.

A record holds, for one model drawn from a :class:`~difficult_customer.customer_models.space.Space`:
the oracle, random, every guide's exact value, the best fixed sequence (and a proven bound
on every fixed sequence), the certified bracket on the best observation-only policy, each
rule's cost, and the oracle's conformance rates. :func:`finite_record` turns it into the
numbers the analysis reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.bracket import certified_bracket
from difficult_customer.agents.exact.evaluation import propagate
from difficult_customer.agents.exact.fixed_sequence import solve_fixed_sequence
from difficult_customer.agents.exact.rule_cost import rule_costs
from difficult_customer.customer_models.compile import clear_compiled
from difficult_customer.customer_models.space import Space
from difficult_customer.experiments.library.conclusions import GUIDES
from difficult_customer.experiments.library.conformance import conformance
from difficult_customer.experiments.library.rollouts import run_episodes

Record = dict[str, float | None]
"""One solved model: raw values by key (see :func:`solve_sample`)."""


@dataclass(frozen=True)
class SolveSettings:
    """How precisely each sampled model is solved."""

    max_turns: int = 16
    bracket_points: int = 64
    """PBVI belief points for the bracket's lower end."""
    bracket_depth: int = 2
    """Expectimax depth in front of the bracket's upper end."""
    conformance_episodes: int = 200
    """Conversations of the oracle per model for its conformance rates (0 skips them)."""
    fixed_sequence_nodes: int = 2000
    """Branch-and-bound node budget for the best fixed sequence (past it, a proven upper bound is kept)."""
    seed: int = 0


def solve_sample(space: Space, x: Sequence[float], settings: SolveSettings) -> Record:
    """Solve one sampled model exactly and return its record (raw values, not normalized).

    Keys: ``oracle``, ``random``, each guide, ``fixed_sequence`` (the best found) and
    ``fixed_sequence_bound`` (a proven upper bound on every fixed sequence), ``bracket_lower``,
    ``bracket_upper``, ``cost_R1`` ... (``None`` where a rule cannot be kept for sure),
    and ``conf_R1`` ... (the oracle's conformance rate over sampled conversations; ``None``
    where the rule never applied).
    """
    mixture = space.model(x)
    context = PolicyContext.create(persona=mixture, max_turns=settings.max_turns)
    tables = context.tables
    bracket = certified_bracket(tables, points=settings.bracket_points, depth=settings.bracket_depth,
                                seed=settings.seed, max_turns=settings.max_turns)
    record: Record = {
        "oracle": bracket.oracle,
        "random": bracket.random,
        "bracket_lower": bracket.lower,
        "bracket_upper": bracket.upper,
    }
    plan = solve_fixed_sequence(tables, settings.max_turns, max_nodes=settings.fixed_sequence_nodes)
    record["fixed_sequence"] = float(plan.value)
    # Every fixed sequence is an observation-only policy, so the bracket's upper end bounds it too.
    record["fixed_sequence_bound"] = float(min(plan.upper_bound, bracket.upper))
    for g in GUIDES:
        record[g] = float(propagate(agents.make(g, context), context).value)
    for rule, cost in rule_costs(tables, settings.max_turns).items():
        record[f"cost_{rule}"] = float(cost.cost) if np.isfinite(cost.cost) else None
    if settings.conformance_episodes > 0:
        seeds = range(settings.seed, settings.seed + settings.conformance_episodes)
        table = conformance(run_episodes("oracle", context, seeds))
        for rule, row in table.items():
            record[f"conf_{rule}"] = row["rate"]
    clear_compiled()  # each sampled model is solved once: keep memory flat over hundreds of them
    return record


RULE_COST_CAP = 10.0
"""A rule that no policy can keep for sure costs ``inf``; the analysis uses this raw cap instead."""


def finite_record(record: Record) -> dict[str, float]:
    """A record with ``None`` rule costs (cannot be kept) as :data:`RULE_COST_CAP`, other ``None`` as NaN."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if value is None:
            out[key] = RULE_COST_CAP if key.startswith("cost_") else float("nan")
        else:
            out[key] = float(value)
    return out


__all__ = ["RULE_COST_CAP", "Record", "SolveSettings", "finite_record", "solve_sample"]
