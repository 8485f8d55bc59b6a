"""Belief-based policies: QMDP and belief lookahead. They read only the observation.

Each keeps, per batch row, the exact Bayes filter's belief in ``predict``'s ``state``
(stable-baselines3's recurrent convention: pass back the returned state and
``episode_start``). A row starts a new belief when its observation is at turn 0, which
is exactly when an episode starts; see :meth:`BeliefPolicy._observe` for the rest. The
move just made is read from the observation's last-move one-hot, the turn from its turn
fraction. The move played is the one of highest
:func:`~agents.exact.lookahead.belief_q_values` (depth 0 is QMDP).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from difficult_customer.agents.base import BatchPolicy, PolicyContext
from difficult_customer.agents.exact.belief import Belief, BeliefFilter, SparseBeliefs
from difficult_customer.agents.exact.fib import solve_fib
from difficult_customer.agents.exact.lookahead import belief_q_values
from difficult_customer.agents.exact.oracle import solve_oracle
from difficult_customer.envs.observation import PARTIAL_SIZE, decode, turn_of

LEAVES = ("qmdp", "fib")
"""State move values a belief policy averages at its leaves."""


@dataclass(frozen=True)
class BeliefState:
    """The recurrent state of a belief-based policy: one belief per batch row.

    Attributes:
        beliefs: the rows' beliefs (normalized).
        turns: (n_rows,) turn of the observation each belief was last updated with.
    """

    beliefs: SparseBeliefs
    turns: np.ndarray

    def __len__(self) -> int:
        return self.beliefs.n_rows

    def belief(self, row: int, tables) -> Belief:
        """Row ``row``'s belief as a :class:`Belief` for analysis."""
        one = self.beliefs.select(np.array([row]))
        return Belief(tables, one.state, one.weight)

    def select(self, rows: np.ndarray) -> BeliefState:
        """The state of ``rows`` (in that order; rows may repeat)."""
        rows = np.asarray(rows, dtype=np.int64)
        return BeliefState(self.beliefs.select(rows), self.turns[rows])


class BeliefPolicy(BatchPolicy):
    """Exact Bayes filter plus depth-``depth`` lookahead on the belief (0 is QMDP).

    Args:
        context: the environment it acts in (persona, ablation, turn limit, rewards).
        depth: lookahead depth over observations; 0 is QMDP.
        name: registry name, for display.
    """

    def __init__(self, context: PolicyContext, depth: int, name: str | None = None, leaf: str = "qmdp") -> None:
        if leaf not in LEAVES:
            raise ValueError(f"leaf={leaf!r}; allowed: {', '.join(LEAVES)}")
        self.context = context
        self.depth = int(depth)
        self.leaf = leaf
        self.name = name or {0: "qmdp", 1: "belief_lookahead"}.get(self.depth, f"belief_lookahead_{self.depth}")
        self.tables = context.tables
        self.solution = solve_oracle(self.tables, context.max_turns)
        self.filter = BeliefFilter(self.tables)
        self._leaf_q = solve_fib(self.tables, context.max_turns) if leaf == "fib" else self.solution.q

    def _observe(self, obs: np.ndarray, state: Any, episode_start: np.ndarray | None) -> BeliefState:
        """Beliefs after the batch of observations ``obs`` (N, W).

        A row at turn 0 starts a new belief. A row at turn ``t`` > 0 updates its belief
        from turn ``t - 1`` (an ``episode_start`` flag on such a row is stale, as SB3's
        ``evaluate_policy`` leaves it for environments that met their episode quota,
        and is ignored). A row at turn ``t`` > 0 with no belief from turn ``t - 1``
        (no state, or ``episode_start`` after a reset the policy did not see) gets
        :meth:`~agents.exact.belief.BeliefFilter.recover_batch`'s uninformed guess.

        Raises:
            ValueError: for a state that is not this policy's, or a row whose belief is
                from another turn than ``t - 1`` without an ``episode_start`` flag.
        """
        n = obs.shape[0]
        seen = decode(obs)
        turn = np.asarray(turn_of(obs, self.context.max_turns))
        start = turn == 0
        flagged = np.ones(n, dtype=bool) if state is None else np.zeros(n, dtype=bool)
        if state is not None:
            if not isinstance(state, BeliefState) or len(state) != n:
                raise ValueError(
                    f"state must be the BeliefState this policy returned for a batch of {n}; got {state!r:.80}"
                )
            if episode_start is not None:
                flagged = np.asarray(episode_start, dtype=bool).reshape(-1).copy()
        follows = np.zeros(n, dtype=bool) if state is None else turn == state.turns + 1
        lost = ~start & ~follows
        if np.any(lost & ~flagged):
            bad = int(np.flatnonzero(lost & ~flagged)[0])
            raise ValueError(
                f"row {bad}: observation at turn {turn[bad]} follows a belief at turn {state.turns[bad]}; "
                "pass the state returned by the previous call and episode_start at resets"
            )
        parts, order = [], []
        go_on = np.flatnonzero(~start & follows)
        if go_on.size:
            parts.append(
                self.filter.update_batch(
                    state.beliefs.select(go_on),
                    seen.last_move[go_on],
                    seen.tone[go_on],
                    seen.reaction[go_on],
                    seen.solved[go_on],
                )
            )
            order.append(go_on)
        new = np.flatnonzero(start)
        if new.size:
            parts.append(self.filter.reset_batch(seen.tone[new], seen.reaction[new], seen.solved[new]))
            order.append(new)
        lost = np.flatnonzero(lost)
        if lost.size:
            parts.append(
                self.filter.recover_batch(seen.last_move[lost], seen.tone[lost], seen.reaction[lost], seen.solved[lost])
            )
            order.append(lost)
        merged = SparseBeliefs.concatenate(parts)
        position = np.empty(n, dtype=np.int64)
        position[np.concatenate(order)] = np.arange(n)
        return BeliefState(merged.select(position), turn)

    def q_values(self, state: BeliefState) -> np.ndarray:
        """(n_rows, 6) move values of the current beliefs."""
        moves_left = self.solution.moves_left(state.turns)
        return belief_q_values(self.solution, state.beliefs, moves_left, self.depth, self._leaf_q)

    def step(
        self, observation: np.ndarray, state: Any = None, episode_start: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, BeliefState]:
        """Filter and plan: (moves, move values, new state) for a batch (N, W) of observations."""
        obs = np.asarray(observation, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[-1] < PARTIAL_SIZE:
            raise ValueError(f"observations of shape {obs.shape}; expected (N, >= {PARTIAL_SIZE})")
        new_state = self._observe(obs, state, episode_start)
        q = self.q_values(new_state)
        return q.argmax(-1), q, new_state

    def moves_for(self, batch: np.ndarray, state: Any, episode_start: np.ndarray | None) -> tuple[np.ndarray, Any]:
        """Moves for a batch; the state holds the beliefs."""
        moves, _, new_state = self.step(batch, state, episode_start)
        return moves, new_state

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, depth={self.depth}, persona={self.context.persona!r})"


class QMDP(BeliefPolicy):
    """Bayes filter + the oracle's move values averaged over the belief (QMDP)."""

    def __init__(self, context: PolicyContext) -> None:
        super().__init__(context, depth=0, name="qmdp")


class BeliefLookahead(BeliefPolicy):
    """Bayes filter + expectimax over the next observations with QMDP leaves (default depth 1)."""

    def __init__(self, context: PolicyContext, depth: int = 1) -> None:
        super().__init__(context, depth=depth, name="belief_lookahead" if depth == 1 else f"belief_lookahead_{depth}")


__all__ = ["QMDP", "BeliefLookahead", "BeliefPolicy", "BeliefState"]
