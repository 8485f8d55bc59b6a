"""The compiled tables as flat sparse arrays, shared by every exact solver.

:class:`TransitionIndex` lists the successors with positive probability of every
(state, move) pair in one flat array, ordered by (state, move), with a row pointer
(CSR layout), so that a batch of (state, move) pairs expands to its successors with a
few numpy operations and no Python loop over states. Built once per
:class:`~customer_models.Tables` and cached.
The solvers number what the customer shows after a move by the conversation core's
:func:`~envs.core.observation_code` (``N_OBSERVATION_CODES`` values).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difficult_customer.customer_models import FACTORS, Tables
from difficult_customer.customer_models.vocabulary import N_MOVES


@dataclass(frozen=True, eq=False)
class TransitionIndex:
    """Successors with positive probability of every (state, move), flat and CSR-indexed.

    Entry ``e`` of the flat arrays is one successor; the entries of pair ``(s, a)`` are
    ``indptr[s * A + a] : indptr[s * A + a + 1]``.
    """

    tables: Tables
    indptr: np.ndarray
    """(S * A + 1,) int64 row pointer."""
    source: np.ndarray
    """(E,) int64 state the entry leaves from."""
    move: np.ndarray
    """(E,) int64 move of the entry."""
    target: np.ndarray
    """(E,) int64 successor state."""
    prob: np.ndarray
    """(E,) float64 its probability."""
    reaction: np.ndarray
    """(E,) int64 the reaction shown with it."""
    reward: np.ndarray
    """(E,) float64 the reward of the transition."""
    expected_reward: np.ndarray
    """(S, A) float64 expected immediate reward of each (state, move)."""
    solved: np.ndarray
    """(S,) int64 solved factor of each state."""
    terminal: np.ndarray
    """(S,) bool."""

    @property
    def n_states(self) -> int:
        return int(self.solved.shape[0])

    def expand(self, states: np.ndarray, moves: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Successor entries of a batch of (state, move) pairs.

        Args:
            states: (N,) state indices.
            moves: (N,) move ids, or one move for every state.

        Returns:
            ``(parent, entry)``: for every successor, the position in the batch it comes
            from and its index into the flat arrays.
        """
        states = np.asarray(states, dtype=np.int64)
        pair = states * N_MOVES + np.asarray(moves, dtype=np.int64)
        starts = self.indptr[pair]
        lengths = self.indptr[pair + 1] - starts
        parent = np.repeat(np.arange(states.shape[0]), lengths)
        offsets = np.cumsum(lengths) - lengths
        entry = np.arange(int(lengths.sum())) - np.repeat(offsets - starts, lengths)
        return parent, entry


def transition_index(tables: Tables) -> TransitionIndex:
    """The (cached) :class:`TransitionIndex` of ``tables``."""
    index = tables.derived.get("model.cache")
    if index is None:
        index = tables.derived["model.cache"] = _build(tables)
    return index


def _build(t: Tables) -> TransitionIndex:
    n_states, n_moves, width = t.next_prob.shape
    positive = t.next_prob > 0
    counts = positive.reshape(n_states * n_moves, width).sum(-1)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    s, a, _ = np.nonzero(positive)  # C order: sorted by (state, move)
    solved = t.factors[:, FACTORS.index("solved")].astype(np.int64)
    out = TransitionIndex(
        tables=t,
        indptr=indptr,
        source=s.astype(np.int64),
        move=a.astype(np.int64),
        target=t.next_state[positive].astype(np.int64),
        prob=t.next_prob[positive],
        reaction=t.next_reaction[positive].astype(np.int64),
        reward=t.reward[positive],
        expected_reward=(t.next_prob * t.reward).sum(-1),
        solved=solved,
        terminal=np.asarray(t.terminal, dtype=bool),
    )
    return out


__all__ = ["TransitionIndex", "transition_index"]
