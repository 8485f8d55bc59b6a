"""Imitation as a baseline: behaviour cloning into a stable-baselines3 policy, and offline RL with d3rlpy.

- :func:`demonstrations` reads a Minari dataset (:mod:`~experiments.library.datasets`) into
  arrays: observations, the moves made, each step's return to go, and a held-out split by
  episode.
- :func:`clone` is behaviour cloning (BC) into the MLP policy of an SB3 PPO model: the negative
  log-likelihood of the demonstrated moves, a small entropy bonus, and (to start a later PPO
  fine-tuning with a critic that knows the returns) a value loss on the returns to go. The
  model is the same one ``difficult-customer train`` builds (``configs/ppo.yaml``, the
  natively batched env), so ``model.learn()`` fine-tunes it with RL: ConvLab's recipe.
- :func:`offline_cql` trains d3rlpy's ``DiscreteCQL`` on a dataset; its policy (the argmax of
  the learned Q) reads only the current observation.

Every policy here is memoryless and deterministic, so it is scored exactly from the tables
(:func:`exact_score`), with no sampling error.

Why these libraries: ``imitation`` (the SB3 project's BC) pins gymnasium ~0.29 and SB3 2.2, so
it cannot be installed beside gymnasium 1.x; BC is a supervised loss, written here on SB3's own
policy in a few lines, as ``imitation.algorithms.bc`` does. d3rlpy 2.7.0 has discrete CQL, BCQ
and BC and installs with gymnasium 1.x (2.8 pins gymnasium 1.0.0); its IQL is for continuous
actions only, so CQL is the offline-RL method. All of this is the ``data`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.evaluation import normalized
from difficult_customer.agents.exact.memoryless_value import memoryless_value
from difficult_customer.experiments.library.datasets import Setting, setting_of


@dataclass(frozen=True)
class Demonstrations:
    """A dataset's (observation, move) pairs, split by episode into a training and a held-out part."""

    observations: np.ndarray
    """(N, 30) float32."""
    actions: np.ndarray
    """(N,) int64 move ids."""
    returns_to_go: np.ndarray
    """(N,) undiscounted return from this step to the end of its conversation."""
    rewards: np.ndarray
    """(N,) reward of each step."""
    terminals: np.ndarray
    """(N,) the conversation ended (not by the turn limit) after this step."""
    timeouts: np.ndarray
    """(N,) the conversation hit the turn limit after this step."""
    episode: np.ndarray
    """(N,) episode index."""
    held_out: np.ndarray
    """(N,) bool: the step is in a held-out episode (not trained on)."""
    setting: Setting
    episodes: int

    def part(self, held_out: bool) -> Demonstrations:
        """The training part (``False``) or the held-out part (``True``)."""
        keep = self.held_out == held_out
        fields = {k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in self.__dict__.items()}
        return Demonstrations(**fields)

    @property
    def size(self) -> int:
        return int(self.actions.shape[0])


def demonstrations(dataset: Any, held_out: float = 0.1, seed: int = 0) -> Demonstrations:
    """The steps of a Minari dataset, with a seeded held-out share of its episodes.

    Raises:
        ValueError: for a held-out share outside [0, 0.5] or a dataset without steps.
    """
    if not 0.0 <= held_out <= 0.5:
        raise ValueError(f"held_out={held_out}; allowed: a share from 0 to 0.5")
    obs, actions, rewards, terms, cuts, episode, rtg = [], [], [], [], [], [], []
    for k, e in enumerate(dataset.iterate_episodes()):
        r = np.asarray(e.rewards, dtype=np.float64)
        obs.append(np.asarray(e.observations, dtype=np.float32)[:-1])
        actions.append(np.asarray(e.actions, dtype=np.int64).reshape(-1))
        rewards.append(r)
        terms.append(np.asarray(e.terminations, dtype=bool))
        cuts.append(np.asarray(e.truncations, dtype=bool))
        episode.append(np.full(r.size, k))
        rtg.append(np.cumsum(r[::-1])[::-1])
    n = len(actions)
    if n == 0 or sum(a.size for a in actions) == 0:
        raise ValueError("the dataset has no steps to learn from")
    rng = np.random.default_rng(seed)
    out = rng.permutation(n)[: int(round(held_out * n))]
    episodes = np.concatenate(episode)
    return Demonstrations(np.concatenate(obs), np.concatenate(actions), np.concatenate(rtg), np.concatenate(rewards),
                          np.concatenate(terms), np.concatenate(cuts), episodes, np.isin(episodes, out),
                          setting_of(dataset), n)


@dataclass(frozen=True)
class BCConfig:
    """Settings of behaviour cloning."""

    epochs: int = 30
    """Passes over the training part."""
    batch_size: int = 512
    """Steps per gradient step."""
    learning_rate: float = 1e-3
    """Adam's step size."""
    ent_weight: float = 1e-3
    """Weight of the entropy bonus (``imitation``'s BC default)."""
    value_weight: float = 0.5
    """Weight of the critic's loss on the returns to go (0: the critic is left untrained)."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        for name in ("epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}; allowed is an integer >= 1")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate={self.learning_rate}; allowed: a number > 0")
        for name in ("ent_weight", "value_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}; allowed: a number >= 0")


def clone(model: Any, demos: Demonstrations, config: BCConfig = BCConfig(), seed: int = 0) -> dict[str, float]:
    """Behaviour-clone ``demos`` (training part) into ``model``'s policy, in place.

    Returns:
        ``{"loss": last epoch's mean loss, "train_accuracy", "held_out_accuracy"}``: the share of
        steps whose most likely move is the demonstrated one (held out: nan if there is none).
    """
    import torch  # the train extra

    config.validate()
    train = demos.part(False)
    if train.size == 0:
        raise ValueError("no training steps: the held-out share took every episode")
    policy = model.policy
    policy.set_training_mode(True)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(seed)
    obs = torch.as_tensor(train.observations)
    acts = torch.as_tensor(train.actions)
    rtg = torch.as_tensor(train.returns_to_go, dtype=torch.float32)
    loss_value = float("nan")
    for _ in range(config.epochs):
        order = torch.randperm(train.size, generator=generator)
        total, batches = 0.0, 0
        for start in range(0, train.size, config.batch_size):
            idx = order[start : start + config.batch_size]
            values, log_prob, entropy = policy.evaluate_actions(obs[idx], acts[idx])
            loss = -log_prob.mean() - config.ent_weight * entropy.mean()
            loss = loss + config.value_weight * torch.nn.functional.mse_loss(values.flatten(), rtg[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, batches = total + loss.item(), batches + 1
        loss_value = total / batches
    policy.set_training_mode(False)
    return {"loss": loss_value, "train_accuracy": accuracy(model, train),
            "held_out_accuracy": accuracy(model, demos.part(True))}


def accuracy(policy: Any, demos: Demonstrations) -> float:
    """The share of ``demos``' steps where ``policy``'s deterministic move is the demonstrated one (nan if none)."""
    if demos.size == 0:
        return float("nan")
    moves, _ = policy.predict(demos.observations, None, None, True)
    return float(np.mean(np.asarray(moves).reshape(-1) == demos.actions))


def ppo_config(setting: Setting, seed: int, **fields: Any) -> Any:
    """The ``TrainConfig`` of PPO in ``setting`` (``fields``: any other of its settings, e.g. steps, out)."""
    from difficult_customer.experiments.library.training import TrainConfig  # the train extra

    return TrainConfig(algo="ppo", persona=setting.persona, ablate=list(setting.ablate), max_turns=setting.max_turns,
                       seed=seed, **fields)


def ppo_model(setting: Setting, seed: int, n_envs: int = 8, hyperparameters: dict[str, Any] | None = None) -> Any:
    """A fresh SB3 PPO model as ``difficult-customer train`` builds it, in ``setting``."""
    from difficult_customer.experiments.library.training import make_model  # the train extra

    return make_model(ppo_config(setting, seed, n_envs=n_envs, hyperparameters=dict(hyperparameters or {})))[0]


def exact_score(policy: Any, setting: Setting) -> dict[str, float]:
    """A deterministic memoryless policy's exact value in ``setting`` and its normalized score."""
    context = PolicyContext.create(setting.persona, setting.ablate, setting.max_turns)
    value = float(memoryless_value(policy, context).value)
    return {"return": value, "normalized": normalized(value, context)}


class ArgmaxQ:
    """A d3rlpy Q-learner as a policy (SB3's ``predict``): the move of highest learned value."""

    def __init__(self, algo: Any) -> None:
        self.algo = algo

    def predict(self, observation: np.ndarray, state: Any = None, episode_start: Any = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        obs = np.asarray(observation, dtype=np.float32)
        single = obs.ndim == 1
        moves = self.algo.predict(obs[None] if single else obs).astype(np.int64).reshape(-1)
        return (moves[0] if single else moves), state


@dataclass(frozen=True)
class CQLConfig:
    """Settings of discrete CQL (d3rlpy)."""

    steps: int = 20_000
    """Gradient steps."""
    alpha: float = 1.0
    """Weight of CQL's conservative term."""
    learning_rate: float = 3e-4
    batch_size: int = 256
    target_update_interval: int = 1000
    hidden: tuple[int, ...] = (64, 64)
    """The Q-network's hidden layers (the PPO baselines' size)."""


def offline_cql(demos: Demonstrations, config: CQLConfig = CQLConfig(), seed: int = 0,
                progress: bool = False) -> ArgmaxQ:
    """Train d3rlpy's ``DiscreteCQL`` on all of ``demos`` (no discount: conversations are short)."""
    import torch  # the train extra

    quiet_d3rlpy()
    import d3rlpy  # the data extra

    torch.set_num_threads(1)
    d3rlpy.seed(seed)
    data = d3rlpy.dataset.MDPDataset(
        demos.observations, demos.actions[:, None], demos.rewards[:, None].astype(np.float32), demos.terminals,
        demos.timeouts, action_space=d3rlpy.constants.ActionSpace.DISCRETE, action_size=6,
    )
    algo = d3rlpy.algos.DiscreteCQLConfig(
        gamma=1.0, batch_size=config.batch_size, learning_rate=config.learning_rate, alpha=config.alpha,
        target_update_interval=config.target_update_interval,
        encoder_factory=d3rlpy.models.VectorEncoderFactory(hidden_units=list(config.hidden)),
    ).create(device="cpu:0")
    algo.fit(data, n_steps=config.steps, n_steps_per_epoch=config.steps, show_progress=progress,
             save_interval=config.steps + 1, logger_adapter=d3rlpy.logging.NoopAdapterFactory())
    return ArgmaxQ(algo)


def quiet_d3rlpy() -> None:
    """Keep d3rlpy's structured log (it reports every epoch at level info) to warnings and errors."""
    import logging

    import structlog  # comes with d3rlpy (the data extra)

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


__all__ = [
    "ArgmaxQ", "BCConfig", "CQLConfig", "Demonstrations", "accuracy", "clone", "demonstrations", "exact_score",
    "offline_cql", "ppo_config", "ppo_model", "quiet_d3rlpy",
]
