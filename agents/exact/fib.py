"""The fast informed bound (FIB): move values that pay for what the agent cannot see.

QMDP values a move as if the hidden state became known right after it. The fast
informed bound (Hauskrecht, 2000) lets the agent know the current state but choose its
next move knowing only the next observation::

    q_fib[h, s, a] = R(s, a) + Σ_o max_a' Σ_{s'} P(s', o | s, a) q_fib[h-1, s', a']

with ``o`` = (reaction, tone, solved). It is still an upper bound on the optimal value
of a belief (``max_a Σ_s b(s) q_fib[h, s, a]``), and never above QMDP's, so its move
values charge for uncertainty that QMDP ignores. Solving takes one sparse backup per
turn, like value iteration.
"""

from __future__ import annotations

import numpy as np

from difficult_customer.agents.exact.model import transition_index
from difficult_customer.customer_models import Tables
from difficult_customer.customer_models.vocabulary import N_MOVES, N_TONES
from difficult_customer.envs.core import N_OBSERVATION_CODES, observation_code


def solve_fib(tables: Tables, max_turns: int) -> np.ndarray:
    """FIB move values ``(max_turns + 1, S, A)`` by moves left (cached); ``[0] = 0``."""
    by_horizon = tables.derived.setdefault("fib.cache", {})
    if max_turns not in by_horizon:
        by_horizon[max_turns] = _solve(tables, int(max_turns))
    return by_horizon[max_turns]


def _solve(t: Tables, max_turns: int) -> np.ndarray:
    ix = transition_index(t)
    n_states = t.n_states
    # Rows: (entry, tone) pairs with positive chance, grouped by (state, move, observation).
    live = ~ix.terminal[ix.source] & ~ix.terminal[ix.target]
    entry = np.repeat(np.flatnonzero(live), N_TONES)
    tone = np.tile(np.arange(N_TONES), int(live.sum()))
    weight = ix.prob[entry] * t.tone_prob[ix.target[entry], tone]
    keep = weight > 0
    entry, tone, weight = entry[keep], tone[keep], weight[keep]
    group = (ix.source[entry] * N_MOVES + ix.move[entry]) * N_OBSERVATION_CODES + observation_code(
        tone, ix.reaction[entry], ix.solved[ix.target[entry]]
    )
    order = np.argsort(group, kind="stable")
    entry, weight, group = entry[order], weight[order], group[order]
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
    pair = group[starts] // N_OBSERVATION_CODES  # (state, move) of each group
    target = ix.target[entry]
    q = np.zeros((max_turns + 1, n_states, N_MOVES))
    for h in range(1, max_turns + 1):
        best = np.add.reduceat(weight[:, None] * q[h - 1][target], starts, axis=0).max(-1)
        future = np.bincount(pair, best, minlength=n_states * N_MOVES).reshape(n_states, N_MOVES)
        q[h] = ix.expected_reward + future
        q[h][ix.terminal] = 0.0
    q.setflags(write=False)
    return q


__all__ = ["solve_fib"]
