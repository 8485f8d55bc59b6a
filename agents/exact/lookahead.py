"""Move values on a belief: QMDP (depth 0) and expectimax lookahead over observations.

With ``h`` moves left and belief ``b``:

- depth 0 (QMDP): ``Q0(b, a) = Σ_s b(s) q_oracle[h, s, a]``, the oracle's values averaged
  over the belief; it assumes the hidden state becomes known after this move, so it never
  pays for information.
- depth d >= 1: ``Qd(b, a) = Σ_s b(s) R(s, a) + Σ_o P(o | b, a) max_a' Q(d-1)(b_ao, a')``,
  where ``o`` ranges over the (reaction, tone, solved) observations the move can bring and
  ``b_ao`` is the filtered belief. The maximum over ``a'`` after each observation is what
  makes it value adapting to what it will see. Leaves are QMDP values; terminal successors
  and successors at the turn limit are worth 0.

Everything is computed on unnormalized weights (the values are linear in the belief's
scale), for a whole batch of beliefs at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from difficult_customer.agents.exact.belief import SparseBeliefs, merge
from difficult_customer.agents.exact.model import transition_index
from difficult_customer.agents.exact.oracle import OracleSolution
from difficult_customer.customer_models import Tables
from difficult_customer.customer_models.vocabulary import N_MOVES, N_TONES
from difficult_customer.envs.core import N_OBSERVATION_CODES, observation_code

MAX_DEPTH = 3


def belief_q_values(
    solution: OracleSolution,
    beliefs: SparseBeliefs,
    moves_left: np.ndarray,
    depth: int = 1,
    leaf: np.ndarray | None = None,
) -> np.ndarray:
    """Move values of a batch of beliefs by depth-``depth`` lookahead with QMDP leaves.

    Args:
        solution: the oracle's values of the same model and turn limit.
        beliefs: a batch of beliefs (normalized or not; values scale with the weight).
        moves_left: (n_rows,) moves left for each row, each >= 1.
        depth: 0 for QMDP, 1-3 for observation lookahead.
        leaf: (max_turns + 1, S, A) state move values averaged at the leaves; the
            oracle's ``solution.q`` (QMDP leaves) if None, or e.g. FIB values.

    Returns:
        (n_rows, 6) values of each move.

    Raises:
        ValueError: for a depth outside 0-3.
    """
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or not 0 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth={depth!r}; allowed: 0 (QMDP) to {MAX_DEPTH}")
    moves_left = np.asarray(moves_left, dtype=np.int64).reshape(-1)
    if moves_left.shape[0] != beliefs.n_rows:
        raise ValueError(f"moves_left has {moves_left.shape[0]} rows; the beliefs have {beliefs.n_rows}")
    leaf = solution.q if leaf is None else leaf
    return _q(solution, leaf, beliefs, moves_left, int(depth))


def _q(solution: OracleSolution, leaf: np.ndarray, b: SparseBeliefs, moves_left: np.ndarray, depth: int) -> np.ndarray:
    n = b.n_rows
    out = np.zeros((n, N_MOVES))
    if b.row.shape[0] == 0:
        return out
    if depth == 0:
        values = leaf[moves_left[b.row], b.state]  # (E, A)
        for a in range(N_MOVES):
            out[:, a] = np.bincount(b.row, b.weight * values[:, a], minlength=n)
        return out
    for a in range(N_MOVES):
        br = observation_branches(solution.tables, b, moves_left, a)
        out[:, a] = br.reward
        if br.keys is None:
            continue
        if depth == 1:  # leaves: QMDP values of each branch's belief, without merging states
            values = leaf[br.left, br.states] * br.weight[:, None]
            child_q = np.stack(
                [np.bincount(br.inverse, values[:, m], minlength=br.keys.shape[0]) for m in range(N_MOVES)], -1
            )
        else:
            child_q = _q(solution, leaf, br.child(solution.tables.n_states), br.left[br.first], depth - 1)
        out[:, a] += br.to_rows(child_q.max(-1), n)
    return out


class Branches(NamedTuple):
    """One move made from a batch of beliefs, split by the observation that follows.

    ``reward`` is each row's expected immediate reward. The remaining fields describe the
    live successors (not ended, moves left), one entry per (row, observation, successor
    state), grouped by branch (row, observation): ``keys`` are the distinct branches,
    ``inverse`` maps entries to them and ``first`` is one entry of each. ``keys`` is None
    when no successor lives on.
    """

    reward: np.ndarray
    keys: np.ndarray | None = None
    inverse: np.ndarray | None = None
    first: np.ndarray | None = None
    states: np.ndarray | None = None
    weight: np.ndarray | None = None
    left: np.ndarray | None = None

    def child(self, n_states: int) -> SparseBeliefs:
        """The (unnormalized) belief of every branch."""
        return merge(self.inverse, self.states, self.weight, self.keys.shape[0], n_states)

    def to_rows(self, branch_values: np.ndarray, n_rows: int) -> np.ndarray:
        """Per belief row, the sum of its branches' values."""
        return np.bincount(self.keys // N_OBSERVATION_CODES, branch_values, minlength=n_rows)


def observation_branches(tables: Tables, b: SparseBeliefs, moves_left: np.ndarray, move: int) -> Branches:
    """Make ``move`` from every belief row of ``b`` and split what follows by the observation seen."""
    ix = transition_index(tables)
    n = b.n_rows
    parent, entry = ix.expand(b.state, move)
    row = b.row[parent]
    weight = b.weight[parent] * ix.prob[entry]
    reward = np.bincount(row, weight * ix.reward[entry], minlength=n)
    target = ix.target[entry]
    left = moves_left[row] - 1
    alive = ~ix.terminal[target] & (left > 0)
    if not alive.any():
        return Branches(reward)
    row, weight, target, left = row[alive], weight[alive], target[alive], left[alive]
    tones = np.arange(N_TONES)
    branch = row[:, None] * N_OBSERVATION_CODES + observation_code(
        tones[None, :], ix.reaction[entry[alive]][:, None], ix.solved[target][:, None]
    )
    branch_weight = weight[:, None] * tables.tone_prob[target]
    positive = branch_weight > 0
    states = np.broadcast_to(target[:, None], positive.shape)[positive]
    branch_left = np.broadcast_to(left[:, None], positive.shape)[positive]
    keys, first, inverse = np.unique(branch[positive], return_index=True, return_inverse=True)
    return Branches(reward, keys, inverse, first, states, branch_weight[positive], branch_left)


__all__ = ["MAX_DEPTH", "Branches", "belief_q_values", "observation_branches"]
