"""Belief features as extra input for learned policies: ``observation="belief"`` training.

A learned policy that sees only the current observation has to discover, on its own,
what the conversation so far says about the hidden customer. Here the exact Bayes
filter (:class:`~agents.exact.belief.BeliefFilter`) does that and its marginals (persona,
anger, trust, feeling heard, patience, abuse, apologies) are appended to the
observation. They are computed from the observation history and the model alone, never
from the hidden state: a policy trained on them is still an observation-only policy,
the belief-MDP view of the problem.

- :class:`BeliefFeatures`: the features of a belief, fixed width per model.
- :class:`BeliefVecEnv`: an SB3 ``VecEnvWrapper`` that appends them while training
  (imports stable-baselines3 when built).
- :class:`BeliefInputPolicy`: wraps a trained model so that ``predict`` takes plain
  observations and keeps the beliefs in SB3's ``state`` argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from difficult_customer.agents.base import check_observation
from difficult_customer.agents.exact.belief import Belief, BeliefFilter
from difficult_customer.customer_models import Tables
from difficult_customer.envs.observation import decode

FEATURE_SIZES: dict[str, int] = {"anger": 5, "trust": 4, "heard": 2, "patience": 5, "abuse": 3, "apologies": 3}
"""Factor -> number of values, after the persona (whose width is the mixture's size)."""


class BeliefFeatures:
    """Exact belief marginals from the observation history of one model.

    Args:
        tables: the compiled model the conversations come from.
    """

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.filter = BeliefFilter(tables)
        self.sizes = {"persona": len(tables.persona_names), **FEATURE_SIZES}
        self.size = sum(self.sizes.values())

    def reset(self, observation: np.ndarray) -> Belief:
        """The belief after an opening observation."""
        seen = decode(observation)
        return self.filter.reset(int(seen.tone), int(seen.reaction), int(seen.solved))

    def update(self, belief: Belief, move: int, observation: np.ndarray) -> Belief:
        """The belief after ``move`` and the observation that followed it."""
        seen = decode(observation)
        return self.filter.update(belief, int(move), int(seen.tone), int(seen.reaction), int(seen.solved))

    def features(self, belief: Belief) -> np.ndarray:
        """(size,) float32: the marginal of each factor, concatenated."""
        parts = []
        for factor, size in self.sizes.items():
            values = self.tables.factor(factor)[belief.states]
            parts.append(np.bincount(values, belief.probs, minlength=size)[:size])
        return np.concatenate(parts).astype(np.float32)

    def extend(self, observation: np.ndarray, belief: Belief) -> np.ndarray:
        """The observation with the belief features appended."""
        return np.concatenate([np.asarray(observation, dtype=np.float32), self.features(belief)])


def make_belief_vec_env(venv: Any, tables: Tables) -> Any:
    """Wrap an SB3 VecEnv of ``tables``' model so that observations carry belief features."""
    from stable_baselines3.common.vec_env import VecEnvWrapper  # the train extra: only when training

    class BeliefVecEnv(VecEnvWrapper):
        """Appends exact belief features to every observation (training with ``observation="belief"``)."""

        def __init__(self) -> None:
            self.beliefs_of = BeliefFeatures(tables)
            width = venv.observation_space.shape[0] + self.beliefs_of.size
            super().__init__(venv, observation_space=spaces.Box(0.0, 1.0, (width,), np.float32))
            self.beliefs: list[Belief] = []
            self.actions: np.ndarray | None = None

        def reset(self) -> np.ndarray:
            obs = self.venv.reset()
            self.beliefs = [self.beliefs_of.reset(o) for o in obs]
            return np.stack([self.beliefs_of.extend(o, b) for o, b in zip(obs, self.beliefs, strict=True)])

        def step_async(self, actions: np.ndarray) -> None:
            self.actions = np.asarray(actions).reshape(-1)
            self.venv.step_async(actions)

        def step_wait(self) -> tuple:
            obs, rewards, dones, infos = self.venv.step_wait()
            out = []
            for i, o in enumerate(obs):
                if dones[i]:
                    last = infos[i].get("terminal_observation")
                    if last is not None:
                        final = self.beliefs_of.update(self.beliefs[i], int(self.actions[i]), last)
                        infos[i]["terminal_observation"] = self.beliefs_of.extend(last, final)
                    self.beliefs[i] = self.beliefs_of.reset(o)
                else:
                    self.beliefs[i] = self.beliefs_of.update(self.beliefs[i], int(self.actions[i]), o)
                out.append(self.beliefs_of.extend(o, self.beliefs[i]))
            return np.stack(out), rewards, dones, infos

    return BeliefVecEnv()


class BeliefInputPolicy:
    """A model trained on belief features, behind the common ``predict`` interface.

    It takes plain observations; ``state`` holds each row's belief and last move, and
    a row starts a new belief where ``episode_start`` is set (or ``state`` is None).

    Args:
        model: anything with SB3's ``predict`` that was trained on extended observations.
        tables: the model of the environment it acts in.
    """

    def __init__(self, model: Any, tables: Tables) -> None:
        self.model = model
        self.beliefs_of = BeliefFeatures(tables)

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        obs = check_observation(observation)
        batch = obs.reshape(-1, obs.shape[-1])
        if state is None:
            starts = np.ones(len(batch), dtype=bool)
        elif episode_start is None:
            starts = np.zeros(len(batch), dtype=bool)
        else:
            starts = np.asarray(episode_start, dtype=bool).reshape(-1)
        beliefs = []
        for i, o in enumerate(batch):
            if starts[i]:
                beliefs.append(self.beliefs_of.reset(o))
            else:
                previous, moves = state
                beliefs.append(self.beliefs_of.update(previous[i], int(moves[i]), o))
        extended = np.stack([self.beliefs_of.extend(o, b) for o, b in zip(batch, beliefs, strict=True)])
        actions, _ = self.model.predict(extended, deterministic=deterministic)
        actions = np.asarray(actions).reshape(-1)
        return actions.reshape(obs.shape[:-1]), (beliefs, actions.copy())
