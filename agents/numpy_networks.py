"""The JAX trainer's networks in plain numpy: play a ``model.npz`` without jax.

The forward passes here are those of :mod:`~difficult_customer.agents.jax_policy`, on the
same parameter pytree (nested dicts of arrays, as :func:`~difficult_customer.agents.jax_models.load_model`
reads them) and with the same math in float32:

- :func:`mlp_apply`: the ``ppo_jax`` actor and critic MLPs (tanh between layers, linear output);
- :func:`gru_step`: one step of the ``gru_ppo_jax`` network (tanh embedding, GRU, actor and
  critic heads), the hidden state zeroed first where ``start`` is true.

:class:`NumpyNetworkPolicy` plays such a model through SB3's ``predict``, so a trained
agent runs from the core install (numpy only): the pretrained agents
(``agents/pretrained/``) are built with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np

from difficult_customer.agents.base import check_observation
from difficult_customer.agents.jax_models import JAX_ALGORITHMS, RECURRENT, Params, load_model
from difficult_customer.customer_models.vocabulary import N_MOVES
from difficult_customer.envs.observation import PARTIAL_SIZE


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function, without overflow for large ``|x|`` (``1 / (1 + exp(-x))``)."""
    return 0.5 * (np.tanh(0.5 * x) + 1.0)


def _layers_apply(layers: Params, x: np.ndarray) -> np.ndarray:
    """Dense layers ``"0"``, ``"1"``, ...: tanh between them, linear output (jax_policy's ``_mlp_apply``)."""
    n = len(layers)
    for i in range(n):
        x = x @ layers[str(i)]["w"] + layers[str(i)]["b"]
        if i < n - 1:
            x = np.tanh(x)
    return x


def mlp_apply(params: Params, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(logits (..., 6), value (...))`` of observations ``(..., obs_size)``: the ``ppo_jax`` network."""
    obs = np.asarray(obs, dtype=np.float32)
    return _layers_apply(params["actor"], obs), _layers_apply(params["critic"], obs)[..., 0]


def gru_size_of(params: Params) -> int:
    """The hidden state size of ``gru_ppo_jax`` parameters."""
    return int(params["gru"]["wh"].shape[0])


def gru_step(
    params: Params, hidden: np.ndarray, obs: np.ndarray, start: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One step of the ``gru_ppo_jax`` network on a batch: ``(new hidden (n, H), logits (n, 6), value (n,))``.

    ``hidden`` is zeroed first in the rows where ``start`` (n,) is true: a conversation's
    first observation starts from a blank memory. The gates are ordered reset, update,
    candidate, and the reset gate multiplies the recurrent part of the candidate (as in
    jax_policy's ``gru_step``).
    """
    hidden = np.where(np.asarray(start, dtype=bool)[:, None], np.float32(0.0), np.asarray(hidden, dtype=np.float32))
    x = np.tanh(np.asarray(obs, dtype=np.float32) @ params["embed"]["w"] + params["embed"]["b"])
    g = params["gru"]
    gi = x @ g["wi"] + g["bi"]
    gh = hidden @ g["wh"] + g["bh"]
    size = hidden.shape[-1]
    r = _sigmoid(gi[..., :size] + gh[..., :size])
    z = _sigmoid(gi[..., size : 2 * size] + gh[..., size : 2 * size])
    n = np.tanh(gi[..., 2 * size :] + r * gh[..., 2 * size :])
    hidden = (1.0 - z) * n + z * hidden
    return hidden, _layers_apply(params["actor"], hidden), _layers_apply(params["critic"], hidden)[..., 0]


def _as_float32(params: Mapping[str, Any]) -> Params:
    """A copy of the pytree's structure with every leaf a float32 numpy array."""
    return {k: _as_float32(v) if isinstance(v, Mapping) else np.asarray(v, dtype=np.float32) for k, v in params.items()}


def _head_shapes(layers: Params) -> list[tuple[int, ...]]:
    """The weight shapes of dense layers ``"0"``, ``"1"``, ..."""
    return [tuple(layers[str(i)]["w"].shape) for i in range(len(layers))]


def check_params(algo: str, params: Params) -> None:
    """Raise ``ValueError`` if ``params`` are not the layout of ``algo``'s network (missing or mis-shaped layers)."""
    try:
        heads = {"actor": _head_shapes(params["actor"]), "critic": _head_shapes(params["critic"])}
        if algo in RECURRENT:
            size = gru_size_of(params)
            n_in, embed = params["embed"]["w"].shape
            chain = [(params["gru"]["wi"].shape, (embed, 3 * size)), (params["gru"]["wh"].shape, (size, 3 * size))]
            head_in = size
        else:
            n_in, chain = params["actor"]["0"]["w"].shape[0], []
            head_in = n_in
    except (KeyError, IndexError, AttributeError, TypeError, ValueError) as err:
        raise ValueError(f"{algo} parameters lack a layer or have a malformed one ({err!r})") from err
    for head, out in (("actor", N_MOVES), ("critic", 1)):
        sizes = [head_in] + [shape[1] for shape in heads[head]]
        chain += [(shape, (sizes[i], sizes[i + 1])) for i, shape in enumerate(heads[head])]
        if sizes[-1] != out:
            raise ValueError(f"{algo} {head} has {sizes[-1]} outputs; expected {out}")
    bad = [(got, want) for got, want in chain if tuple(got) != tuple(want)]
    if bad:
        raise ValueError(f"{algo} parameters have mismatched layer shapes: {bad[0][0]} where {bad[0][1]} fits")
    if n_in != PARTIAL_SIZE:
        raise ValueError(f"{algo} network reads {n_in} observation features; expected {PARTIAL_SIZE}")


class LogitsPolicy:
    """SB3's ``predict`` for a policy network that gives move logits: argmax, or a seeded draw.

    A subclass has ``logits(batch, state, episode_start) -> (logits, state)`` and ``_rng``
    (a numpy generator); :class:`NumpyNetworkPolicy` and ``agents.jax_policy.JaxPolicy`` are two.
    """

    _rng: np.random.Generator

    path: Path | None
    """The model file, or None for parameters given in memory."""

    def __init__(self, path: str | Path, seed: int | None = None) -> None:
        params, meta = load_model(path)
        self._setup(params, meta, str(path), seed)
        self.path = Path(path)

    @classmethod
    def from_params(
        cls, algo: str, params: Params, meta: Mapping[str, Any] | None = None, seed: int | None = None,
        name: str | None = None,
    ) -> Self:
        """The policy of parameters in memory (the pytree of ``ppo_jax`` or ``gru_ppo_jax``, e.g. a checkpoint).

        Args:
            algo: ``ppo_jax`` or ``gru_ppo_jax``: which network ``params`` are.
            params: the network's parameters (not copied).
            meta: what a model file records besides them (its ``algo``, if given, must be ``algo``).
            seed: seeds the draws of ``deterministic=False``.
            name: how the policy prints (default ``"<algo> (in memory)"``).

        Raises:
            ValueError: for an unknown ``algo``, a ``meta`` naming another one, or malformed parameters.
        """
        if algo not in JAX_ALGORITHMS:
            raise ValueError(f"algo {algo!r}; allowed: {', '.join(JAX_ALGORITHMS)}")
        meta = dict(meta or {})
        if meta.setdefault("algo", algo) != algo:
            raise ValueError(f"meta algo {meta['algo']!r} differs from algo {algo!r}")
        policy = cls.__new__(cls)
        policy._setup(params, meta, name or f"{algo} (in memory)", seed)
        policy.path = None
        return policy

    def _setup(self, params: Params, meta: dict[str, Any], name: str, seed: int | None) -> None:
        raise NotImplementedError

    def logits(self, batch: np.ndarray, state: Any, episode_start: np.ndarray | None) -> tuple[np.ndarray, Any]:
        raise NotImplementedError

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """Moves for one observation ``(D,)`` or a batch ``(n, D)``, and the new state (None for the MLP)."""
        obs = check_observation(observation)
        batch = obs.reshape(-1, obs.shape[-1])[:, :PARTIAL_SIZE]
        logits, state = self.logits(batch, state, episode_start)
        if deterministic:
            moves = logits.argmax(-1)
        else:
            prob = np.exp(logits - logits.max(-1, keepdims=True))
            prob /= prob.sum(-1, keepdims=True)
            moves = (self._rng.random((len(prob), 1)) > prob.cumsum(-1)).sum(-1).clip(0, N_MOVES - 1)
        return moves.astype(np.int64).reshape(obs.shape[:-1]), state


class NumpyNetworkPolicy(LogitsPolicy):
    """A model of the JAX PPO trainer played in numpy, behind SB3's ``predict``.

    The same policy as :class:`~difficult_customer.agents.jax_policy.JaxPolicy` on the same
    file, without jax. ``ppo_jax`` is memoryless: its move depends on the observation only
    (``state`` passes through). ``gru_ppo_jax`` keeps its hidden state in ``state`` (an
    ``(n, H)`` float32 array; None starts blank) and zeroes the rows where
    ``episode_start`` is true before reading the observation.

    Args:
        path: a ``model.npz`` written by :func:`~difficult_customer.agents.jax_models.save_model`.
        seed: seeds the draws of ``deterministic=False`` (sampling from the policy's softmax).

    Raises:
        ValueError: for a missing or malformed file.
    """

    def _setup(self, params: Params, meta: dict[str, Any], name: str, seed: int | None) -> None:
        self.name = name
        self.meta = meta
        self.algo: str = meta["algo"]
        self.params = _as_float32(params)
        check_params(self.algo, self.params)
        self.recurrent = self.algo in RECURRENT
        self.hidden_size = gru_size_of(self.params) if self.recurrent else 0
        self._rng = np.random.default_rng(seed)

    def logits(self, observation: np.ndarray, state: Any = None, episode_start: Any = None) -> tuple[np.ndarray, Any]:
        """``(logits (n, 6) float32, new state)`` of a batch of observations ``(n, D)``."""
        obs = np.asarray(observation, dtype=np.float32)
        if not self.recurrent:
            return mlp_apply(self.params, obs)[0], state
        n = obs.shape[0]
        hidden = np.zeros((n, self.hidden_size), dtype=np.float32)
        if state is not None:
            hidden[:] = np.asarray(state, dtype=np.float32).reshape(n, self.hidden_size)
        start = np.zeros(n, dtype=bool)
        if episode_start is not None:
            start[:] = np.asarray(episode_start, dtype=bool).reshape(n)
        hidden, logits, _ = gru_step(self.params, hidden, obs, start)
        return logits, hidden

    def __repr__(self) -> str:
        return f"NumpyNetworkPolicy({self.algo}, {self.name!r})"


__all__ = ["LogitsPolicy", "NumpyNetworkPolicy", "check_params", "gru_size_of", "gru_step", "mlp_apply"]
