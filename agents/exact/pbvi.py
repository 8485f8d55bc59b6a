"""Point-based value iteration (PBVI): a belief-based policy with a certified value.

Finite-horizon PBVI (Pineau, Gordon and Thrun, 2003) on the exact Bayes filter's
beliefs. Belief points are collected per turn from simulated conversations (QMDP moves
with some random exploration). Going backwards from the turn limit, each point gets a
backup: for every move and every observation it could bring, the best alpha vector of
the next turn for the filtered belief is picked; the move with the highest value wins,
and its alpha vector, the exact value of that conditional plan in every hidden state,
is computed on all states. So

- the policy at any belief ``b`` with ``h`` moves left plays the move of
  ``argmax_alpha b · alpha`` over the turn's alpha vectors, and
- ``Σ_o0 max_alpha b_o0 · alpha`` over the opening observations ``o0`` is a *lower bound*
  on that policy's value (each alpha vector is the value of a plan the policy can do at
  least as well as), certified without Monte Carlo. With the fast informed bound as the
  upper bound, it brackets the optimum of observation-only policies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.belief import BeliefFilter, SparseBeliefs, merge
from difficult_customer.agents.exact.lookahead import belief_q_values
from difficult_customer.agents.exact.model import transition_index
from difficult_customer.agents.exact.oracle import solve_oracle
from difficult_customer.agents.exact.policies import BeliefPolicy, BeliefState
from difficult_customer.customer_models import Tables
from difficult_customer.customer_models.vocabulary import N_MOVES, N_TONES
from difficult_customer.envs.core import (
    N_OBSERVATION_CODES,
    conversation_core,
    observation_code,
    opening_distribution,
    split_observation_code,
    uniforms,
)

DEFAULT_POINTS = 128
"""Belief points per turn."""


@dataclass(frozen=True, eq=False)
class PBVISolution:
    """Alpha vectors per moves left, their moves, and the certified lower bound.

    Attributes:
        tables: the model.
        max_turns: the turn limit.
        alphas: ``alphas[h]`` is an (m_h, S) array of alpha vectors with ``h`` moves left.
        moves: ``moves[h]`` is the (m_h,) first move of each alpha vector's plan.
        lower_bound: certified lower bound on the policy's expected return.
        points: belief points backed up per turn.
    """

    tables: Tables
    max_turns: int
    alphas: list[np.ndarray]
    moves: list[np.ndarray]
    lower_bound: float
    points: int

    def values(self, beliefs: SparseBeliefs, moves_left: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(best alpha value, its move) for each belief row; rows may differ in moves left."""
        moves_left = np.asarray(moves_left, dtype=np.int64)
        value = np.full(beliefs.n_rows, -np.inf)
        move = np.zeros(beliefs.n_rows, dtype=np.int64)
        for h in np.unique(moves_left):
            rows = np.flatnonzero(moves_left == h)
            sub = beliefs.select(rows)
            alphas = self.alphas[int(h)]
            scores = _row_sums((alphas[:, sub.state] * sub.weight).T, sub.row, rows.shape[0])
            best = scores.argmax(-1)
            value[rows] = scores[np.arange(rows.shape[0]), best]
            move[rows] = self.moves[int(h)][best]
        return value, move


def collect_points(
    tables: Tables, max_turns: int, points: int, seed: int = 0, explore: float = 0.3
) -> list[SparseBeliefs]:
    """Beliefs reached at each turn by simulated conversations (QMDP moves, ``explore`` random).

    Conversations are played by the conversation core (the points only steer which plans
    PBVI builds; any choice keeps its bound certified). Returns one batch per turn
    ``0 .. max_turns - 1``, at most ``points`` rows each; turn 0 holds every opening
    belief.
    """
    rng = np.random.default_rng(seed)
    filt = BeliefFilter(tables)
    solution = solve_oracle(tables, max_turns)
    core = conversation_core(tables, max_turns)
    runs = max(4 * points, 64)
    conv = core.reset(uniforms(rng, runs))
    beliefs = filt.reset_batch(*split_observation_code(conv.code.astype(np.int64)))
    out = [opening_beliefs(tables)]
    for turn in range(max_turns):
        q = belief_q_values(solution, beliefs, np.full(beliefs.n_rows, max_turns - turn), 0)
        moves = np.where(rng.random(beliefs.n_rows) < explore, rng.integers(0, N_MOVES, beliefs.n_rows), q.argmax(-1))
        conv, step = core.step(conv, moves, uniforms(rng, beliefs.n_rows))
        beliefs = filt.update_batch(beliefs, moves, *split_observation_code(conv.code.astype(np.int64)))
        alive = np.flatnonzero(~conv.done)
        if turn + 1 == max_turns or alive.size == 0:
            break
        conv, beliefs = conv.select(alive), beliefs.select(alive)
        keep = rng.permutation(beliefs.n_rows)[:points]
        out.append(beliefs.select(np.sort(keep)))
    while len(out) < max_turns:
        out.append(out[-1])
    return out


def opening_beliefs(tables: Tables) -> SparseBeliefs:
    """Every opening belief, one row per (tone, reaction) with positive chance, unnormalized.

    The rows' total weights are the chances of the opening observations, so a value that
    is linear in the belief, summed over the rows, is an expected value over openings.
    """
    opening = opening_distribution(tables)
    _, row = np.unique(opening.code, return_inverse=True)
    return merge(row, opening.state, opening.prob, int(row.max()) + 1, tables.n_states)


def _row_sums(values: np.ndarray, row: np.ndarray, n_rows: int) -> np.ndarray:
    """Sum ``values`` (E, m) over entries grouped by ``row`` (sorted, every row present)."""
    starts = np.searchsorted(row, np.arange(n_rows))
    return np.add.reduceat(values, starts, axis=0)




def solve_pbvi(
    tables: Tables, max_turns: int, points: int = DEFAULT_POINTS, seed: int = 0, cache: bool = True
) -> PBVISolution:
    """Point-based value iteration (cached per tables, turn limit, points and seed).

    Args:
        tables: the model.
        max_turns: the turn limit.
        points: belief points per turn (>= 1).
        seed: seed of the simulated conversations the points come from.
        cache: False solves afresh and leaves the cache alone (for timing).

    Raises:
        ValueError: if ``points`` < 1.
    """
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 1:
        raise ValueError(f"points={points!r}; allowed is an integer >= 1")
    if not cache:
        return _solve(tables, int(max_turns), int(points), int(seed))
    key = (int(max_turns), int(points), int(seed))
    solutions = tables.derived.setdefault("pbvi.cache", {})
    if key not in solutions:
        solutions[key] = _solve(tables, int(max_turns), int(points), int(seed))
    return solutions[key]


def _solve(tables: Tables, max_turns: int, points: int, seed: int) -> PBVISolution:
    ix = transition_index(tables)
    n_states = tables.n_states
    beliefs_by_turn = collect_points(tables, max_turns, points, seed)
    alphas: list[np.ndarray] = [np.zeros((1, n_states))]
    moves: list[np.ndarray] = [np.zeros(1, dtype=np.int64)]
    tones = np.arange(N_TONES)
    # For computing alpha vectors on every state: all live entries of each move, by tone.
    live = ~ix.terminal[ix.source] & ~ix.terminal[ix.target]
    by_move = []
    for a in range(N_MOVES):
        e = np.flatnonzero(live & (ix.move == a))
        code = observation_code(tones[None, :], ix.reaction[e][:, None], ix.solved[ix.target[e]][:, None])
        weight = ix.prob[e][:, None] * tables.tone_prob[ix.target[e]]
        by_move.append((ix.source[e], ix.target[e], code, weight))
    for h in range(1, max_turns + 1):
        points_h = beliefs_by_turn[max_turns - h]
        previous = alphas[h - 1]
        previous_by_state = np.ascontiguousarray(previous.T)  # (S, m): gathers by state are contiguous
        n = points_h.n_rows
        value = np.zeros((n, N_MOVES))
        choice = np.zeros((n, N_MOVES, N_OBSERVATION_CODES), dtype=np.int64)
        default = np.zeros((N_MOVES, N_OBSERVATION_CODES), dtype=np.int64)
        for a in range(N_MOVES):
            parent, entry = ix.expand(points_h.state, a)
            row = points_h.row[parent]
            weight = points_h.weight[parent] * ix.prob[entry]
            value[:, a] = np.bincount(row, weight * ix.reward[entry], minlength=n)
            target = ix.target[entry]
            alive = ~ix.terminal[target]
            if h == 1 or not alive.any():
                continue
            row, weight, target, entry = row[alive], weight[alive], target[alive], entry[alive]
            branch = row[:, None] * N_OBSERVATION_CODES + observation_code(
                tones[None, :], ix.reaction[entry][:, None], ix.solved[target][:, None]
            )
            bw = weight[:, None] * tables.tone_prob[target]
            positive = bw > 0
            merged = merge(
                branch[positive],
                np.broadcast_to(target[:, None], bw.shape)[positive],
                bw[positive],
                n * N_OBSERVATION_CODES,
                n_states,
            )
            keys, starts = np.unique(merged.row, return_index=True)  # merged is sorted by row
            scores = np.add.reduceat(previous_by_state[merged.state] * merged.weight[:, None], starts, axis=0)
            best = scores.argmax(-1)
            value[:, a] += np.bincount(keys // N_OBSERVATION_CODES, scores[np.arange(keys.shape[0]), best], minlength=n)
            choice[keys // N_OBSERVATION_CODES, a, keys % N_OBSERVATION_CODES] = best
            pooled = np.zeros((N_OBSERVATION_CODES, previous.shape[0]))
            np.add.at(pooled, keys % N_OBSERVATION_CODES, scores)
            seen = np.zeros(N_OBSERVATION_CODES, dtype=bool)
            seen[keys % N_OBSERVATION_CODES] = True
            fallback = int(previous.sum(-1).argmax())
            default[a] = np.where(seen, pooled.argmax(-1), fallback)
            unseen = np.ones((n, N_OBSERVATION_CODES), dtype=bool)
            unseen[keys // N_OBSERVATION_CODES, keys % N_OBSERVATION_CODES] = False
            choice[:, a, :] = np.where(unseen, default[a][None, :], choice[:, a, :])
        best_move = value.argmax(-1)
        new = ix.expected_reward[:, best_move].T.copy()  # (n, S)
        if h > 1:
            for a in range(N_MOVES):
                rows = np.flatnonzero(best_move == a)
                if rows.size == 0:
                    continue
                # Points that picked the same continuation plans share their alpha vector.
                plans, inverse = np.unique(choice[rows, a, :], axis=0, return_inverse=True)
                source, target, code, weight = by_move[a]
                picked = plans[:, code]  # (u, E, T) alpha index per plan, entry, tone
                contrib = (previous[picked, target[None, :, None]] * weight[None]).sum(-1)  # (u, E)
                u = plans.shape[0]
                key = (np.arange(u)[:, None] * n_states + source[None, :]).ravel()
                future = np.bincount(key, contrib.ravel(), minlength=u * n_states).reshape(u, n_states)
                new[rows] += future[inverse.reshape(-1)]
        new[:, tables.terminal] = 0.0
        first: dict[bytes, int] = {}
        for i, vector in enumerate(np.round(new, 12)):
            first.setdefault(vector.tobytes(), i)
        index = np.array(sorted(first.values()))
        alphas.append(new[index])
        moves.append(best_move[index])
    openings = beliefs_by_turn[0]
    scores = _row_sums((alphas[max_turns][:, openings.state] * openings.weight).T, openings.row, openings.n_rows)
    lower = float(scores.max(-1).sum())
    return PBVISolution(tables, max_turns, alphas, moves, lower, points)


class PointBased(BeliefPolicy):
    """Bayes filter + the move of the best PBVI alpha vector for the belief."""

    def __init__(self, context: PolicyContext, points: int = DEFAULT_POINTS) -> None:
        super().__init__(context, depth=0, name="pbvi")
        self.pbvi = solve_pbvi(self.tables, context.max_turns, points, context.seed or 0)

    def q_values(self, state: BeliefState) -> np.ndarray:
        """One-hot-ish scores: the best alpha vector's value on its move, -inf elsewhere."""
        value, move = self.pbvi.values(state.beliefs, self.solution.moves_left(state.turns))
        out = np.full((len(state), N_MOVES), -np.inf)
        out[np.arange(len(state)), move] = value
        return out


__all__ = ["DEFAULT_POINTS", "PBVISolution", "PointBased", "collect_points", "opening_beliefs", "solve_pbvi"]
