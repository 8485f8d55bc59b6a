"""The best fixed sequence: one list of moves, played whatever the customer shows.

A fixed sequence ``a_1 ... a_H`` is valued exactly by pushing the distribution over
hidden states through the tables: ``d_{t+1}(s') = Σ_s d_t(s) P(s' | s, a_t)`` over
states still in conversation, with expected reward ``Σ_s d_t(s) R(s, a_t)`` per turn.
There are ``6^H`` sequences (``6^16 ≈ 2.8e12``), so :func:`best_fixed_sequence` runs a beam
search: all prefixes of one length are extended by every move, scored by their reward
so far plus an optimistic bound on what any fixed continuation can add
(:func:`blind_values`: the best move values when the current state is known but the
next move must be chosen without seeing the outcome, averaged over the state
distribution), and the ``beam_width`` best distinct ones are kept.

:func:`branch_and_bound` searches depth first with the same bound and prunes every
prefix that cannot beat the incumbent: when it finishes within its node budget its
answer is the proven optimum. :func:`solve_fixed_sequence` runs both; ``docs/exact.md``
has the measured gaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from difficult_customer.agents.base import BatchPolicy, PolicyContext
from difficult_customer.agents.exact.model import transition_index
from difficult_customer.agents.exact.oracle import OracleSolution, solve_oracle
from difficult_customer.customer_models import Move, Tables
from difficult_customer.customer_models.vocabulary import N_MOVES
from difficult_customer.envs.observation import turn_of

DEFAULT_BEAM_WIDTH = 64


@dataclass(frozen=True)
class FixedSequencePlan:
    """A fixed sequence of moves and its exact expected return.

    Attributes:
        moves: one move per turn (``max_turns`` of them).
        value: exact expected return of playing them from the start distribution.
        method: how it was found (``"beam 64"``, ``"branch and bound"``).
        optimal: True if proven optimal among all fixed sequences.
        nodes: prefixes expanded by the search.
        upper_bound: a proven upper bound on every fixed sequence's value (equal to
            ``value`` when optimal; ``inf`` if the search proved nothing).
    """

    moves: tuple[Move, ...]
    value: float
    method: str
    optimal: bool = False
    nodes: int = 0
    upper_bound: float = float("inf")

    def names(self) -> list[str]:
        """Move names, in order."""
        return [m.name for m in self.moves]


def blind_values(tables: Tables, max_turns: int) -> np.ndarray:
    """Blind move values: ``(max_turns + 1, S, A)``, an upper bound for fixed sequences.

    ``blind[h, s, a] = R(s, a) + max_a' Σ_s' P(s' | s, a) blind[h-1, s', a']``: the current
    state is known but the next move is chosen before seeing where it led. For any state
    distribution ``d`` and any fixed sequence starting with ``a``, the sequence's value is
    at most ``Σ_s d(s) blind[h, s, a]`` (by induction on ``h``), and ``blind <= q_oracle``.
    Cached per (tables, max_turns).
    """
    by_horizon = tables.derived.setdefault("fixed_sequence.blind", {})
    if max_turns not in by_horizon:
        ix = transition_index(tables)
        n_states = tables.n_states
        live = ~ix.terminal[ix.source] & ~ix.terminal[ix.target]
        pair = ix.source[live] * N_MOVES + ix.move[live]
        target, prob = ix.target[live], ix.prob[live]
        blind = np.zeros((max_turns + 1, n_states, N_MOVES))
        for h in range(1, max_turns + 1):
            ahead = prob[:, None] * blind[h - 1][target]  # (E, A')
            future = np.stack(
                [np.bincount(pair, ahead[:, m], minlength=n_states * N_MOVES) for m in range(N_MOVES)], -1
            ).max(-1)
            blind[h] = ix.expected_reward + future.reshape(n_states, N_MOVES)
            blind[h][ix.terminal] = 0.0
        blind.setflags(write=False)
        by_horizon[max_turns] = blind
    return by_horizon[max_turns]


class _Dynamics:
    """Per-move sparse transition lists from non-terminal states, for pushing distributions."""

    def __init__(self, solution: OracleSolution) -> None:
        t = solution.tables
        self.tables = t
        self.solution = solution
        self.blind = blind_values(t, solution.max_turns)
        self.n_states = t.n_states
        ix = transition_index(t)
        self.expected_reward = ix.expected_reward.copy()
        self.expected_reward[t.terminal] = 0.0
        live = ~ix.terminal[ix.source] & ~ix.terminal[ix.target]  # mass reaching a terminal state leaves
        self.moves = []
        for a in range(N_MOVES):
            keep = live & (ix.move == a)
            self.moves.append((ix.source[keep], ix.target[keep], ix.prob[keep]))

    def push(self, dist: np.ndarray, move: int) -> tuple[np.ndarray, np.ndarray]:
        """Distributions (B, S) after ``move``, and the expected reward of the move (B,)."""
        source, target, prob = self.moves[move]
        rows = dist.shape[0]
        key = (np.arange(rows)[:, None] * self.n_states + target[None, :]).ravel()
        nxt = np.bincount(key, (dist[:, source] * prob).ravel(), minlength=rows * self.n_states)
        return nxt.reshape(rows, self.n_states), dist @ self.expected_reward[:, move]

    def bound(self, dist: np.ndarray, moves_left: int) -> np.ndarray:
        """Upper bound on what any fixed continuation adds: ``max_a Σ_s d(s) blind[h, s, a]``."""
        if moves_left <= 0:
            return np.zeros(dist.shape[0])
        return (dist @ self.blind[moves_left]).max(-1)


def _dynamics(tables: Tables, max_turns: int) -> _Dynamics:
    by_horizon = tables.derived.setdefault("fixed_sequence.dynamics", {})
    if max_turns not in by_horizon:
        by_horizon[max_turns] = _Dynamics(solve_oracle(tables, max_turns))
    return by_horizon[max_turns]


def _start(tables: Tables, start: np.ndarray | None) -> np.ndarray:
    dist = tables.initial if start is None else np.asarray(start, dtype=np.float64)
    if dist.shape != (tables.n_states,) or not np.isclose(dist.sum(), 1.0) or dist.min() < 0:
        raise ValueError(f"start must be a distribution over the {tables.n_states} states; got shape {dist.shape}")
    dist = dist.copy()
    dist[tables.terminal] = 0.0
    return dist


def sequence_value(tables: Tables, moves: list[int] | tuple[int, ...], start: np.ndarray | None = None) -> float:
    """Exact expected return of playing ``moves`` in order from ``start`` (default: the start distribution)."""
    dyn = _dynamics(tables, max(1, len(moves)))
    dist = _start(tables, start)[None]
    total = 0.0
    for move in moves:
        dist, reward = dyn.push(dist, int(move))
        total += float(reward[0])
    return total


def best_fixed_sequence(
    tables: Tables, max_turns: int, beam_width: int = DEFAULT_BEAM_WIDTH, start: np.ndarray | None = None
) -> FixedSequencePlan:
    """Beam search for the best fixed sequence of ``max_turns`` moves.

    Args:
        tables: the compiled model.
        max_turns: the turn limit (the sequence length).
        beam_width: prefixes kept per length (>= 1).
        start: start distribution over states; the model's own if None (pass a row of
            ``tables.initial_by_persona`` for one persona of a mixture).

    Returns:
        The best sequence found, with its exact value.

    Raises:
        ValueError: for a beam width below 1.
    """
    if isinstance(beam_width, bool) or not isinstance(beam_width, (int, np.integer)) or beam_width < 1:
        raise ValueError(f"beam_width={beam_width!r}; allowed is an integer >= 1")
    dyn = _dynamics(tables, max_turns)
    dist = _start(tables, start)[None]
    gained = np.zeros(1)
    prefixes: list[tuple[int, ...]] = [()]
    nodes = 0
    for turn in range(max_turns):
        left = max_turns - turn - 1
        children, rewards = zip(*(dyn.push(dist, a) for a in range(N_MOVES)), strict=True)
        child_dist = np.concatenate(children)  # move-major: row a * B + b
        child_gain = np.concatenate([gained + r for r in rewards])
        child_prefix = [p + (a,) for a in range(N_MOVES) for p in prefixes]
        nodes += child_dist.shape[0]
        score = child_gain + dyn.bound(child_dist, left)
        order = np.argsort(-score, kind="stable")
        keep, seen = [], set()
        for i in order:  # distinct (distribution, reward so far) only: many moves can be no-ops
            signature = (round(float(child_gain[i]), 12), np.round(child_dist[i], 12).tobytes())
            if signature in seen:
                continue
            seen.add(signature)
            keep.append(i)
            if len(keep) == beam_width:
                break
        keep = np.asarray(keep)
        dist, gained, prefixes = child_dist[keep], child_gain[keep], [child_prefix[i] for i in keep]
    best = int(np.argmax(gained))
    moves = tuple(Move(a) for a in prefixes[best])
    return FixedSequencePlan(moves, float(gained[best]), f"beam {beam_width}", False, nodes)


def branch_and_bound(
    tables: Tables,
    max_turns: int,
    start: np.ndarray | None = None,
    incumbent: FixedSequencePlan | None = None,
    max_nodes: int = 100_000,
) -> FixedSequencePlan:
    """Depth-first search that prunes prefixes whose bound cannot beat the incumbent.

    Args:
        tables: the compiled model.
        max_turns: the sequence length.
        start: start distribution (the model's if None).
        incumbent: a known plan (the beam search's if None) to start pruning from.
        max_nodes: expansion budget.

    Returns:
        The best plan found; ``optimal`` is True if the search finished within the
        budget (then no fixed sequence is better, up to 1e-12). Otherwise
        ``upper_bound`` is the largest bound of the prefixes left open.
    """
    if incumbent is None:
        incumbent = best_fixed_sequence(tables, max_turns, start=start)
    dyn = _dynamics(tables, max_turns)
    best_value, best_moves = incumbent.value, [int(m) for m in incumbent.moves]
    nodes = 0
    stack: list[tuple[np.ndarray, float, tuple[int, ...], float]] = [(_start(tables, start)[None], 0.0, (), np.inf)]
    # Transpositions: prefixes of one length that reach the same distribution have the same
    # continuations, so only the one with the most reward so far needs expanding.
    reached: dict[tuple[int, bytes], float] = {}
    while stack:
        if nodes >= max_nodes:  # out of budget: what is left open bounds the optimum
            upper = max([best_value, *(b for _, _, _, b in stack)])
            moves = tuple(Move(a) for a in best_moves)
            return FixedSequencePlan(moves, best_value, "branch and bound", upper <= best_value + 1e-12, nodes, upper)
        dist, gained, prefix, _ = stack.pop()
        signature = (len(prefix), np.round(dist[0], 12).tobytes())
        if reached.get(signature, -np.inf) >= gained - 1e-12:
            continue
        reached[signature] = gained
        nodes += 1
        left = max_turns - len(prefix) - 1
        children, rewards = zip(*(dyn.push(dist, a) for a in range(N_MOVES)), strict=True)
        child_dist = np.concatenate(children)
        child_gain = gained + np.concatenate(rewards)
        bound = child_gain + dyn.bound(child_dist, left)
        for a in np.argsort(bound):  # push the most promising last, so it is popped first
            if bound[a] <= best_value + 1e-12:
                continue
            if left == 0 or child_dist[a].sum() <= 0:
                best_value, best_moves = float(child_gain[a]), list(prefix) + [int(a)] * (left + 1)
                continue
            stack.append((child_dist[a : a + 1], float(child_gain[a]), prefix + (int(a),), float(bound[a])))
    moves = tuple(Move(a) for a in best_moves)
    return FixedSequencePlan(moves, best_value, "branch and bound", True, nodes, best_value)


def solve_fixed_sequence(
    tables: Tables, max_turns: int, beam_width: int = 8, max_nodes: int = 2000
) -> FixedSequencePlan:
    """The best fixed sequence: beam search for an incumbent, then branch and bound to prove it.

    Cached per (tables, max_turns). If branch and bound runs out of its node budget
    (``max_nodes``, about 0.2 s on the mixture), the best plan found is returned with
    ``optimal`` False and a proven ``upper_bound``.
    """
    by_horizon = tables.derived.setdefault("fixed_sequence.plans", {})
    if max_turns not in by_horizon:
        incumbent = best_fixed_sequence(tables, max_turns, beam_width)
        by_horizon[max_turns] = branch_and_bound(tables, max_turns, incumbent=incumbent, max_nodes=max_nodes)
    return by_horizon[max_turns]


class BestFixedSequence(BatchPolicy):
    """Plays the best fixed sequence of moves (:func:`solve_fixed_sequence`), turn by turn.

    Reads only the turn from the observation: what the best script that ignores the
    customer achieves. Memoryless, so :func:`~agents.exact.evaluation.exact_value`
    evaluates it exactly (and finds the plan's value).
    """

    name = "best_fixed_sequence"

    def __init__(self, context: PolicyContext) -> None:
        self.context = context
        self.plan = solve_fixed_sequence(context.tables, context.max_turns)
        self._moves = np.array([int(m) for m in self.plan.moves], dtype=np.int64)

    def moves_for(self, batch: np.ndarray, state: Any, episode_start: np.ndarray | None) -> tuple[np.ndarray, Any]:
        """The plan's move for the turn of each observation."""
        turn = np.asarray(turn_of(batch, self.context.max_turns))
        return self._moves[np.clip(turn, 0, len(self._moves) - 1)], state

    def __repr__(self) -> str:
        return f"BestFixedSequence({', '.join(self.plan.names())})"


__all__ = [
    "DEFAULT_BEAM_WIDTH",
    "BestFixedSequence",
    "FixedSequencePlan",
    "best_fixed_sequence",
    "blind_values",
    "branch_and_bound",
    "sequence_value",
    "solve_fixed_sequence",
]
