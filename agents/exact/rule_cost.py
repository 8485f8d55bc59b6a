"""What keeping a conformance rule costs, exactly: the oracle restricted to the rule's moves.

For a rule (an automaton with memory ``m``, :mod:`difficult_customer.agents.rules`), finite-
horizon value iteration runs on the product of the hidden state and the memory::

    q[h, s, m, a] = R(s, a) + Σ_{s', r', τ'} P(s', r' | s, a) P(τ' | s') v[h-1, s', m'(m, a, r', τ', σ(s'))]

with ``q = -inf`` for a move the rule forbids, and ``v = -inf`` where the conversation
ends (a terminal successor, or the turn limit) with the rule broken (R6's unpaid offer).
So the restricted oracle keeps the rule with certainty, and its value is the best return
any policy that keeps the rule can reach, hidden state visible. The cost of the rule is
the unrestricted oracle's value minus this one (0 when the optimum keeps the rule
anyway; ``inf`` when no policy can keep it for sure). Reuses the oracle's flat tables
(:func:`~difficult_customer.agents.exact.model.transition_index`) read-only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difficult_customer.agents.exact.model import transition_index
from difficult_customer.agents.exact.oracle import solve_oracle
from difficult_customer.agents.rules import RULE_AUTOMATA, Rule
from difficult_customer.customer_models import Tables
from difficult_customer.customer_models.vocabulary import N_MOVES, N_REACTIONS, N_TONES


@dataclass(frozen=True)
class RuleCost:
    """The restricted and unrestricted oracle values of one rule, overall and by persona."""

    rule: str
    oracle: float
    restricted: float
    oracle_by_persona: dict[str, float]
    restricted_by_persona: dict[str, float]

    @property
    def cost(self) -> float:
        """Oracle value minus the best value while keeping the rule (inf if it cannot be kept)."""
        return self.oracle - self.restricted

    def cost_by_persona(self) -> dict[str, float]:
        """The cost given each persona of the mixture."""
        return {p: self.oracle_by_persona[p] - self.restricted_by_persona[p] for p in self.oracle_by_persona}


def _memory_table(rule: Rule) -> np.ndarray:
    """``next_memory[m, a, r, τ, σ]`` for every memory, move, reaction, tone and solved flag."""
    out = np.zeros((rule.n_memory, N_MOVES, N_REACTIONS, N_TONES, 2), dtype=np.int64)
    for m in range(rule.n_memory):
        for a in range(N_MOVES):
            for r in range(N_REACTIONS):
                for tone in range(N_TONES):
                    for solved in (0, 1):
                        out[m, a, r, tone, solved] = rule.update(m, a, r, tone, solved)
    return out


def _solve(tables: Tables, max_turns: int, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """(v_H over (S, M), start weights over (S, M)) of the restricted oracle."""
    ix = transition_index(tables)
    n_states, n_memory = tables.n_states, rule.n_memory
    names = tables.persona_names
    genuine = np.array([names[p] == "genuine_grievance" for p in tables.factor("persona")], dtype=bool)
    allowed = np.zeros((n_states, n_memory, N_MOVES), dtype=bool)
    for m in range(n_memory):
        for a in range(N_MOVES):
            allowed[:, m, a] = np.where(genuine, rule.allowed(m, a, True), rule.allowed(m, a, False))
    owed = np.array([rule.owed_at_end(m) for m in range(n_memory)])
    table = _memory_table(rule)

    live = ~ix.terminal[ix.source]
    source, move, target = ix.source[live], ix.move[live], ix.target[live]
    reaction, prob = ix.reaction[live], ix.prob[live]
    solved = ix.solved[target]
    if rule.uses_tone:
        weight = prob[:, None] * tables.tone_prob[target]
        e, tone = np.nonzero(weight > 0)
        source, move, target, reaction, solved, weight = (
            source[e], move[e], target[e], reaction[e], solved[e], weight[e, tone])
    else:
        tone, weight = np.zeros(source.shape, dtype=np.int64), prob
    ends = ix.terminal[target]
    pair = source * N_MOVES + move
    next_memory = [table[m, move, reaction, tone, solved] for m in range(n_memory)]
    broken_at_end = [ends & owed[nm] for nm in next_memory]

    v = np.where(owed[None, :], -np.inf, 0.0) * np.ones((n_states, 1))  # h = 0: the turn limit
    v[ix.terminal] = 0.0
    for _ in range(max_turns):
        q = np.empty((n_states, n_memory, N_MOVES))
        for m in range(n_memory):
            future = np.where(ends, 0.0, v[target, next_memory[m]])
            future = np.where(broken_at_end[m], -np.inf, future)
            q[:, m, :] = ix.expected_reward + np.bincount(
                pair, weight * future, minlength=n_states * N_MOVES).reshape(n_states, N_MOVES)
        q[~allowed] = -np.inf
        v = q.max(-1)
        v[ix.terminal] = 0.0

    start = np.zeros((n_states, n_memory))
    states = np.flatnonzero(tables.initial_by_persona.sum(0) > 0)
    for s in states:
        for t in range(N_TONES):
            w = tables.tone_prob[s, t]
            if w > 0:
                start[s, rule.start(int(tables.opening_reaction[s]), t, 0)] += w
    return v, start




def rule_cost(tables: Tables, max_turns: int, rule: str) -> RuleCost:
    """Exact cost of keeping ``rule`` (cached per tables, turn limit and rule).

    Raises:
        ValueError: for an unknown rule id, listing the known ones.
    """
    if rule not in RULE_AUTOMATA:
        raise ValueError(f"unknown rule {rule!r}; allowed: {', '.join(RULE_AUTOMATA)}")
    cache = tables.derived.setdefault("rule_cost.cache", {})
    key = (int(max_turns), rule)
    if key not in cache:
        oracle = solve_oracle(tables, max_turns)
        v, start = _solve(tables, int(max_turns), RULE_AUTOMATA[rule])
        with np.errstate(invalid="ignore"):
            by_start = np.where(start > 0, start * v, 0.0).sum(-1)  # (S,): start weight x value, per state
        restricted_by = {name: _weighted(tables.initial_by_persona[i], by_start)
                         for i, name in enumerate(tables.persona_names)}
        restricted = _weighted(tables.initial, by_start)
        cache[key] = RuleCost(rule, oracle.value, restricted, oracle.value_by_persona(), restricted_by)
    return cache[key]


def _weighted(weight: np.ndarray, value: np.ndarray) -> float:
    """``weight @ value`` over states with positive weight (so -inf times 0 is no nan)."""
    keep = weight > 0
    return float(weight[keep] @ value[keep])


def rule_costs(tables: Tables, max_turns: int) -> dict[str, RuleCost]:
    """:func:`rule_cost` of every rule R1-R6."""
    return {rule: rule_cost(tables, max_turns, rule) for rule in RULE_AUTOMATA}


__all__ = ["RuleCost", "rule_cost", "rule_costs"]
