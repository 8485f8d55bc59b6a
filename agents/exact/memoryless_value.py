"""The exact value of a memoryless policy: an exact forward pass over (table key, hidden state) pairs.

A *memoryless* policy picks its move from the current partial observation alone,
deterministically; the observation carries the turn, the last move and the clipped move
counts, so such a policy is a function of (turn, table key)
(:mod:`~agents.exact.table_keys`). Conversations that show the same observation can
therefore be merged: the exact distribution over (table key, hidden state) pairs, turn by
turn, is all there is to the policy's value. :func:`memoryless_value` computes it, asking
the policy for a move once per turn on the batch of that turn's reached keys.
:class:`TableModel` is the step it is built from (shared with
:mod:`~agents.exact.memoryless_search`). See ``docs/exact.md``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from difficult_customer.agents.base import Policy, PolicyContext
from difficult_customer.agents.exact.model import transition_index
from difficult_customer.agents.exact.table_keys import split_table_key, table_key
from difficult_customer.agents.exact.table_policies import moves_of
from difficult_customer.customer_models import Tables
from difficult_customer.customer_models.vocabulary import N_MOVES
from difficult_customer.envs.core import START_HISTORY, observation_code, observation_lookup, opening_distribution

MoveFunction = Callable[[int, np.ndarray], np.ndarray]
"""``moves(turn, keys)``: the policy's move for each table key of a turn."""


class TableModel:
    """The tables as the engine needs them: successors with their next table key."""

    def __init__(self, tables: Tables, max_turns: int) -> None:
        self.tables = tables
        self.max_turns = max_turns
        self.ix = transition_index(tables)
        self.n_states = tables.n_states
        self.persona = tables.factor("persona").astype(np.int64)
        self.n_personas = len(tables.persona_names)
        self.next_history = observation_lookup(max_turns).next_history

    def openings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, states, probabilities) at turn 0, from the core's opening distribution, merged."""
        opening = opening_distribution(self.tables)
        keys = table_key(opening.code, START_HISTORY)
        return merge_pairs(keys, opening.state, opening.prob, self.n_states)[:3]

    def successors(self, keys: np.ndarray, states: np.ndarray, moves: np.ndarray) -> tuple[np.ndarray, ...]:
        """Successors of (table key, state) pairs under ``moves``.

        Returns:
            ``(parent, reward_weight, reward, child_parent, child_key, child_state,
            child_weight)`` flattened as: ``parent`` (E,) the pair each transition comes
            from, its probability and reward, and for the transitions that continue, one
            entry per tone with positive chance.
        """
        ix = self.ix
        parent, entry = ix.expand(states, moves)
        prob = ix.prob[entry]
        reward = ix.reward[entry]
        target = ix.target[entry]
        alive = ~ix.terminal[target]
        e_parent, e_entry, e_prob, e_target = parent[alive], entry[alive], prob[alive], target[alive]
        move = moves[e_parent]
        _, history = split_table_key(keys[e_parent])
        history = self.next_history[history * (N_MOVES + 1) + move]
        tone_prob = self.tables.tone_prob[e_target]  # (E', T)
        rows, tone = np.nonzero(tone_prob > 0)
        shown = observation_code(tone, ix.reaction[e_entry][rows], ix.solved[e_target][rows])
        return (
            parent,
            prob,
            reward,
            e_parent[rows],
            table_key(shown, history[rows]),
            e_target[rows],
            e_prob[rows] * tone_prob[rows, tone],
        )


def merge_pairs(keys: np.ndarray, states: np.ndarray, prob: np.ndarray, n_states: int) -> tuple[np.ndarray, ...]:
    """Sum duplicate (table key, state) entries, sorted by key then state; and each entry's row."""
    key, inverse = np.unique(keys * n_states + states, return_inverse=True)
    return key // n_states, key % n_states, np.bincount(inverse, prob, minlength=key.shape[0]), inverse


@dataclass(frozen=True)
class MemorylessValue:
    """The exact value of a memoryless policy.

    Attributes:
        value: expected return.
        value_by_persona: expected return given each persona of the mixture.
        observations: distinct (turn, observation) pairs the policy was asked about: those
            reached with positive probability.
        max_support: most (observation, hidden state) pairs alive at one turn (positive
            probability, as ``propagate`` counts them).
        seconds: wall time.
    """

    value: float
    value_by_persona: dict[str, float]
    observations: int
    max_support: int
    seconds: float


def memoryless_value(policy: Policy, context: PolicyContext) -> MemorylessValue:
    """The exact expected return of a deterministic memoryless policy in ``context``.

    ``policy.predict(batch, None, None, True)`` must be a deterministic function of each
    partial observation (scripted policies, :class:`TablePolicy`, an SB3 MLP acting
    deterministically). It is called once per turn, on the batch of the distinct
    observations reachable at that turn (with the moves of the turns before).

    Raises:
        ValueError: for a context whose observation is not ``"partial"``, or a policy
            that returns something other than one move id per observation.
    """
    if context.observation != "partial":
        raise ValueError(f"observation={context.observation!r}; memoryless_value needs 'partial'")
    start = time.perf_counter()
    model = TableModel(context.tables, context.max_turns)

    def moves(turn: int, keys: np.ndarray) -> np.ndarray:
        return moves_of(policy, turn, keys, context.max_turns)

    value, by_persona, queried, support = _forward(model, moves)
    return MemorylessValue(
        value=value,
        value_by_persona=by_persona,
        observations=queried,
        max_support=support,
        seconds=time.perf_counter() - start,
    )


def _forward(model: TableModel, moves_for: MoveFunction) -> tuple[float, dict[str, float], int, int]:
    """Exact forward propagation of (observation, state) pairs under a move function."""
    t = model.tables
    keys, states, prob = model.openings()
    by_persona = np.zeros(model.n_personas)
    queried = support = 0
    for turn in range(model.max_turns):
        if keys.shape[0] == 0:
            break
        support = max(support, int(keys.shape[0]))
        distinct, which = np.unique(keys, return_inverse=True)
        queried += int(distinct.shape[0])
        move = np.asarray(moves_for(turn, distinct), dtype=np.int64)[which]
        parent, p, reward, c_parent, c_key, c_state, c_weight = model.successors(keys, states, move)
        w = prob[parent] * p
        by_persona += np.bincount(model.persona[states[parent]], w * reward, minlength=model.n_personas)
        if turn + 1 == model.max_turns:
            break
        keys, states, prob, _ = merge_pairs(c_key, c_state, prob[c_parent] * c_weight, model.n_states)
    start = t.initial_by_persona.sum(-1) * np.asarray(t.mixture.weights)
    persona_values = dict(zip(t.persona_names, (by_persona / start).tolist(), strict=True))
    return float(by_persona.sum()), persona_values, queried, support


def reached_table_keys(policy: Policy, context: PolicyContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (turn, table key) a memoryless policy reaches, with its probability.

    Returns:
        ``(turns, keys, probabilities)``, sorted by turn then key (:func:`~agents.exact.table_keys.table_key`);
        probabilities sum to the expected number of turns played.
    """
    model = TableModel(context.tables, context.max_turns)
    keys, states, prob = model.openings()
    out_turn, out_key, out_mass = [], [], []
    for turn in range(model.max_turns):
        if keys.shape[0] == 0:
            break
        distinct, which = np.unique(keys, return_inverse=True)
        out_turn.append(np.full(distinct.shape[0], turn))
        out_key.append(distinct)
        out_mass.append(np.bincount(which, prob, minlength=distinct.shape[0]))
        move = moves_of(policy, turn, distinct, context.max_turns)[which]
        if turn + 1 == model.max_turns:
            break
        _, _, _, c_parent, c_key, c_state, c_weight = model.successors(keys, states, move)
        keys, states, prob, _ = merge_pairs(c_key, c_state, prob[c_parent] * c_weight, model.n_states)
    return np.concatenate(out_turn), np.concatenate(out_key), np.concatenate(out_mass)


__all__ = ["MemorylessValue", "MoveFunction", "TableModel", "memoryless_value", "merge_pairs", "reached_table_keys"]
