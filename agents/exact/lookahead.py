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

import numpy as np

from difficult_customer.agents.exact.belief import SparseBeliefs, merge
from difficult_customer.agents.exact.model import N_OBSERVATION_KEYS, observation_key, transition_index
from difficult_customer.agents.exact.oracle import OracleSolution
from difficult_customer.customer_models.vocabulary import N_MOVES, N_TONES

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
    ix = transition_index(solution.tables)
    tone_prob = solution.tables.tone_prob
    tones = np.arange(N_TONES)
    for a in range(N_MOVES):
        parent, entry = ix.expand(b.state, a)
        row = b.row[parent]
        weight = b.weight[parent] * ix.prob[entry]
        out[:, a] = np.bincount(row, weight * ix.reward[entry], minlength=n)
        target = ix.target[entry]
        left = moves_left[row] - 1
        alive = ~ix.terminal[target] & (left > 0)
        if not alive.any():
            continue
        row, weight, target, left = row[alive], weight[alive], target[alive], left[alive]
        reaction = ix.reaction[entry[alive]]
        # Split by the tone seen: one branch per (row, reaction, tone, solved).
        branch = row[:, None] * N_OBSERVATION_KEYS + observation_key(
            reaction[:, None], tones[None, :], ix.solved[target][:, None]
        )
        branch_weight = weight[:, None] * tone_prob[target]
        positive = branch_weight > 0
        branch, branch_weight = branch[positive], branch_weight[positive]
        states = np.broadcast_to(target[:, None], positive.shape)[positive]
        branch_left = np.broadcast_to(left[:, None], positive.shape)[positive]
        keys, first, inverse = np.unique(branch, return_index=True, return_inverse=True)
        if depth == 1:  # leaves: QMDP values of each branch's belief, without merging states
            values = leaf[branch_left, states] * branch_weight[:, None]
            child_q = np.stack(
                [np.bincount(inverse, values[:, m], minlength=keys.shape[0]) for m in range(N_MOVES)], -1
            )
        else:
            child = merge(inverse, states, branch_weight, keys.shape[0], solution.tables.n_states)
            child_q = _q(solution, leaf, child, branch_left[first], depth - 1)
        out[:, a] += np.bincount(keys // N_OBSERVATION_KEYS, child_q.max(-1), minlength=n)
    return out


__all__ = ["MAX_DEPTH", "belief_q_values"]
