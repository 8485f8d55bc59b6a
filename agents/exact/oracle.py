"""The oracle: finite-horizon value iteration with the hidden state fully observed.

The oracle sees the customer's hidden state (anger, trust, persona, ...) and the turn,
so its value is an upper bound on what any policy that reads only the observation can
reach. The turn is part of the horizon: with ``max_turns`` turns a conversation has at
most ``max_turns`` moves, and ``q[h]`` is the value of each move with ``h`` moves left
(``q[0] = 0``). Terminal states are worth 0 (their tables carry reward 0).

Solving is a backward sweep of ``max_turns`` sparse Bellman backups over the (S, A, K)
tables; it takes milliseconds even for the ~7000 states of the mixture.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.model import transition_index
from difficult_customer.customer_models import FACTORS, Tables
from difficult_customer.envs.observation import PARTIAL_SIZE, hidden_one_hot, hidden_size, turn_of


@dataclass(frozen=True, eq=False)
class OracleSolution:
    """Optimal values of the fully observed model for a turn limit.

    Attributes:
        tables: the compiled model.
        max_turns: the turn limit (the horizon).
        q: (max_turns + 1, S, A) float64: ``q[h, s, a]`` is the optimal expected return of
            move ``a`` in state ``s`` with ``h`` moves left, acting optimally afterwards.
        v: (max_turns + 1, S) float64: ``v[h] = q[h].max(-1)``.
    """

    tables: Tables
    max_turns: int
    q: np.ndarray
    v: np.ndarray

    @property
    def value(self) -> float:
        """Expected return from the start distribution (the oracle's value, J_oracle)."""
        return float(self.tables.initial @ self.v[self.max_turns])

    def value_by_persona(self) -> dict[str, float]:
        """The oracle's value given each persona of the mixture."""
        values = self.tables.initial_by_persona @ self.v[self.max_turns]
        return dict(zip(self.tables.persona_names, values.tolist(), strict=True))

    def moves_left(self, turn: np.ndarray | int) -> np.ndarray:
        """Moves left at ``turn`` (clipped to [1, max_turns] so a lookup never fails)."""
        return np.clip(self.max_turns - np.asarray(turn, dtype=np.int64), 1, self.max_turns)




def solve_oracle(tables: Tables, max_turns: int) -> OracleSolution:
    """Finite-horizon value iteration on ``tables`` (cached per tables and turn limit).

    Args:
        tables: a compiled model.
        max_turns: the turn limit, an integer >= 1.

    Returns:
        The :class:`OracleSolution`.

    Raises:
        ValueError: if ``max_turns`` is not an integer >= 1.
    """
    if isinstance(max_turns, bool) or not isinstance(max_turns, (int, np.integer)) or max_turns < 1:
        raise ValueError(f"max_turns={max_turns!r}; allowed is an integer >= 1")
    max_turns = int(max_turns)
    by_horizon = tables.derived.setdefault("oracle.cache", {})
    if max_turns not in by_horizon:
        by_horizon[max_turns] = _solve(tables, max_turns)
    return by_horizon[max_turns]


def _solve(t: Tables, max_turns: int) -> OracleSolution:
    ix = transition_index(t)
    n_states, n_moves = ix.expected_reward.shape
    # Terminal states are worth 0, so only transitions between live states carry future value.
    live = ~ix.terminal[ix.source] & ~ix.terminal[ix.target]
    pair = ix.source[live] * n_moves + ix.move[live]
    target, prob = ix.target[live], ix.prob[live]
    q = np.zeros((max_turns + 1, n_states, n_moves))
    v = np.zeros((max_turns + 1, n_states))
    for h in range(1, max_turns + 1):
        future = np.bincount(pair, prob * v[h - 1][target], minlength=n_states * n_moves)
        q[h] = ix.expected_reward + future.reshape(n_states, n_moves)
        q[h][ix.terminal] = 0.0
        v[h] = q[h].max(-1)
    q.setflags(write=False)
    v.setflags(write=False)
    return OracleSolution(t, max_turns, q, v)


def hidden_state_index(tables: Tables, observation: np.ndarray) -> np.ndarray:
    """Hidden-state indices read from ``observation="full"`` observations.

    Args:
        tables: the model the observations come from.
        observation: (..., PARTIAL_SIZE + hidden block) observations.

    Returns:
        (...,) int64 row of the tables for each observation.

    Raises:
        ValueError: if the observation has no hidden block of the right width, or its
            block matches no state of ``tables``.
    """
    obs = np.asarray(observation, dtype=np.float32)
    width = hidden_size(len(tables.persona_names))
    if obs.shape[-1] != PARTIAL_SIZE + width:
        raise ValueError(
            f"observation has {obs.shape[-1]} values; the oracle needs observation='full' "
            f"({PARTIAL_SIZE + width} values for {len(tables.persona_names)} persona(s))"
        )
    codes = _hidden_codes(tables)
    block = obs[..., PARTIAL_SIZE:].reshape(-1, width)
    match = block @ codes.T  # (N, S): number of factors whose one-hot agrees
    index = match.argmax(-1)
    if not np.all(match[np.arange(len(index)), index] == len(FACTORS)):
        raise ValueError("the hidden-state block of the observation matches no state of the model")
    return index.reshape(obs.shape[:-1]).astype(np.int64)




def _hidden_codes(tables: Tables) -> np.ndarray:
    codes = tables.derived.get("oracle.codes")
    if codes is None:
        codes = tables.derived["oracle.codes"] = hidden_one_hot(tables.factors, len(tables.persona_names))
    return codes


class OracleValueIteration:
    """The optimal policy when the hidden state is visible: an upper bound, not a fair player.

    It reads the hidden state from ``observation="full"`` observations (the hidden
    one-hot block of ``difficult_customer.envs.observation``) and the turn from the turn fraction, and
    plays the move of highest ``q[max_turns - turn, state]``. Registered as ``"oracle"``
    with kind ``"oracle"``: evaluation code gives it ``observation="full"``.
    """

    name = "oracle"

    def __init__(self, context: PolicyContext) -> None:
        self.context = context
        self.solution = solve_oracle(context.tables, context.max_turns)

    def q_values(self, observation: np.ndarray) -> np.ndarray:
        """(..., A) optimal move values for full observations."""
        obs = np.asarray(observation, dtype=np.float32)
        states = hidden_state_index(self.solution.tables, obs)
        turn = np.asarray(turn_of(obs, self.context.max_turns))
        return self.solution.q[self.solution.moves_left(turn), states]

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """The oracle's moves for one full observation or a batch (SB3 interface)."""
        return self.q_values(observation).argmax(-1), state

    def __repr__(self) -> str:
        return f"OracleValueIteration(persona={self.context.persona!r}, max_turns={self.context.max_turns})"


__all__ = ["OracleSolution", "OracleValueIteration", "hidden_state_index", "solve_oracle"]
