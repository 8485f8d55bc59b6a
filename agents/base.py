"""The policy interface, and the context a policy is built for.

Every policy, scripted, exact or learned, has stable-baselines3's
``predict(observation, state=None, episode_start=None, deterministic=True)`` and takes
one observation or a batch, so any code that plays policies (and SB3's
``evaluate_policy``) can play all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, runtime_checkable

import numpy as np

from difficult_customer.customer_models import Move, Rewards, Tables, compile_model
from difficult_customer.envs.customer_env import (
    DEFAULT_MAX_TURNS,
    check_max_turns,
    check_observation_mode,
    make_rewards,
)
from difficult_customer.envs.observation import PARTIAL_SIZE, Observed, decode


@runtime_checkable
class Policy(Protocol):
    """What every policy offers (SB3's ``PolicyPredictor``)."""

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]: ...


@dataclass(frozen=True)
class PolicyContext:
    """The environment a policy is built for: exact policies compile its tables.

    Scripted policies ignore it; belief-based and oracle policies need the same
    persona, ablation, turn limit and rewards as the environment they act in.
    """

    persona: Any = "mixture"
    ablate: tuple[str, ...] = ()
    max_turns: int = DEFAULT_MAX_TURNS
    observation: str = "partial"
    rewards: Rewards = field(default_factory=Rewards)
    seed: int | None = None
    """Seed for policies that draw random numbers."""

    def __post_init__(self) -> None:
        check_max_turns(self.max_turns)
        check_observation_mode(self.observation)

    @classmethod
    def create(
        cls,
        persona: Any = "mixture",
        ablate: Iterable[str] | None = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        observation: str = "partial",
        rewards: Rewards | Mapping[str, float] | None = None,
        seed: int | None = None,
    ) -> PolicyContext:
        return cls(persona, tuple(sorted(ablate or ())), max_turns, observation, make_rewards(rewards), seed)

    @cached_property
    def tables(self) -> Tables:
        return compile_model(self.persona, self.ablate, self.rewards)

    def env_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``gym.make("DifficultCustomer-v0", **kwargs)``."""
        return {
            "persona": self.persona,
            "ablate": list(self.ablate),
            "max_turns": self.max_turns,
            "observation": self.observation,
            "rewards": self.rewards,
        }


def check_observation(observation: np.ndarray) -> np.ndarray:
    """One observation or a batch as float32, or a ``ValueError`` naming the bad shape."""
    obs = np.asarray(observation, dtype=np.float32)
    if obs.ndim == 0 or obs.shape[-1] < PARTIAL_SIZE:
        raise ValueError(f"observation of shape {obs.shape}; expected (..., >= {PARTIAL_SIZE})")
    return obs


class BatchPolicy:
    """A policy that decides for a batch of observations at once.

    Subclasses implement :meth:`moves_for` on a batch ``(n, width)``; :meth:`predict` takes
    one observation or a batch of any leading shape (SB3's convention) and gives the moves
    in that shape.
    """

    def moves_for(self, batch: np.ndarray, state: Any, episode_start: np.ndarray | None) -> tuple[np.ndarray, Any]:
        """``(moves (n,), new state)`` for a batch of checked float32 observations."""
        raise NotImplementedError

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """SB3's ``predict``: the moves for one observation or a batch, and the new state."""
        obs = check_observation(observation)
        moves, state = self.moves_for(obs.reshape(-1, obs.shape[-1]), state, episode_start)
        return np.asarray(moves).reshape(obs.shape[:-1]), state


class ObservationPolicy(BatchPolicy):
    """A policy that maps one decoded observation to a move, with no memory.

    Subclasses implement :meth:`act`. Reading only the partial observation is what makes a
    policy a fair comparison to a person at the desk: it never sees the hidden state.
    """

    name: str = "observation_policy"
    cites: str = ""
    """Guide files and claims the policy follows."""

    def act(self, seen: Observed) -> Move:
        raise NotImplementedError

    def moves_for(self, batch: np.ndarray, state: Any, episode_start: np.ndarray | None) -> tuple[np.ndarray, Any]:
        seen = decode(batch)
        return np.array([int(self.act(Observed(*(f[i] for f in seen)))) for i in range(len(batch))]), state

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
