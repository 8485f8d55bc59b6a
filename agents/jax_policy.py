"""Policies trained by the JAX PPO trainer: their networks, their model files and :class:`JaxPolicy`.

Needs the ``jax`` extra (``pip install 'difficult-customer[jax]'``): this module imports
jax at its top, and is imported only where a JAX model is trained or loaded.

Two networks, both pure functions of a parameter pytree (nested dicts of arrays):

- ``ppo_jax``: an actor and a critic MLP on the partial observation (tanh, SB3's
  ``MlpPolicy`` layout): :func:`init_mlp`, :func:`mlp_apply`;
- ``gru_ppo_jax``: an embedding, a GRU over the observation history and actor and critic
  heads on its hidden state: :func:`init_gru`, :func:`gru_step`, :func:`gru_sequence`.
  The hidden state is zeroed where ``start`` is true (a conversation's first observation).

:class:`JaxPolicy` loads a model file (:mod:`~difficult_customer.agents.jax_models`), or takes
parameters in memory (:meth:`JaxPolicy.from_params`), and plays it through SB3's ``predict``.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from difficult_customer.agents.jax_models import RECURRENT, Params
from difficult_customer.agents.numpy_networks import LogitsPolicy
from difficult_customer.customer_models.vocabulary import N_MOVES
from difficult_customer.envs.observation import PARTIAL_SIZE


# ------------------------------------------------------------------ layers
def _dense(key: jax.Array, n_in: int, n_out: int, scale: float) -> Params:
    """A dense layer with orthogonal weights of gain ``scale`` and zero bias (SB3's and CleanRL's init)."""
    return {"w": jax.nn.initializers.orthogonal(scale)(key, (n_in, n_out), jnp.float32),
            "b": jnp.zeros((n_out,), jnp.float32)}


def _mlp(key: jax.Array, sizes: list[int], out_scale: float) -> Params:
    """Dense layers ``sizes[0] -> sizes[1] -> ...``, gain sqrt(2) inside and ``out_scale`` at the output."""
    keys = jax.random.split(key, len(sizes) - 1)
    last = len(sizes) - 2
    return {str(i): _dense(keys[i], sizes[i], sizes[i + 1], out_scale if i == last else np.sqrt(2.0))
            for i in range(len(sizes) - 1)}


def _mlp_apply(layers: Params, x: jax.Array) -> jax.Array:
    """Apply :func:`_mlp` layers: tanh between layers, linear output."""
    n = len(layers)
    for i in range(n):
        x = x @ layers[str(i)]["w"] + layers[str(i)]["b"]
        if i < n - 1:
            x = jnp.tanh(x)
    return x


# ------------------------------------------------------------------ MLP actor-critic
def init_mlp(key: jax.Array, hidden: tuple[int, ...] = (64, 64), obs_size: int = PARTIAL_SIZE) -> Params:
    """Parameters of separate actor and critic MLPs with layers ``hidden`` (policy head gain 0.01)."""
    k_actor, k_critic = jax.random.split(key)
    sizes = [obs_size, *hidden]
    return {"actor": _mlp(k_actor, [*sizes, N_MOVES], 0.01), "critic": _mlp(k_critic, [*sizes, 1], 1.0)}


def mlp_apply(params: Params, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(logits (..., 6), value (...))`` of observations ``(..., obs_size)``."""
    return _mlp_apply(params["actor"], obs), _mlp_apply(params["critic"], obs)[..., 0]


# ------------------------------------------------------------------ GRU actor-critic
def init_gru(
    key: jax.Array, hidden: tuple[int, ...] = (64, 64), gru_size: int = 64, obs_size: int = PARTIAL_SIZE
) -> Params:
    """Parameters of the GRU network.

    An embedding of ``hidden[0]`` units, a GRU of ``gru_size``, actor and critic heads with layers ``hidden[1:]``.
    """
    k_embed, k_in, k_rec, k_actor, k_critic = jax.random.split(key, 5)
    orthogonal = jax.nn.initializers.orthogonal
    heads = [gru_size, *hidden[1:]]
    return {
        "embed": _dense(k_embed, obs_size, hidden[0], np.sqrt(2.0)),
        "gru": {"wi": orthogonal(1.0)(k_in, (hidden[0], 3 * gru_size), jnp.float32),
                "wh": orthogonal(1.0)(k_rec, (gru_size, 3 * gru_size), jnp.float32),
                "bi": jnp.zeros((3 * gru_size,), jnp.float32),
                "bh": jnp.zeros((3 * gru_size,), jnp.float32)},
        "actor": _mlp(k_actor, [*heads, N_MOVES], 0.01),
        "critic": _mlp(k_critic, [*heads, 1], 1.0),
    }


def gru_size_of(params: Params) -> int:
    """The hidden state size of GRU parameters."""
    return int(params["gru"]["wh"].shape[0])


def gru_step(
    params: Params, hidden: jax.Array, obs: jax.Array, start: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One step of the GRU network on a batch: ``(new hidden (n, H), logits (n, 6), value (n,))``.

    ``hidden`` is zeroed first in the rows where ``start`` (n,) is true: a conversation's
    first observation starts from a blank memory.
    """
    hidden = jnp.where(start[:, None], 0.0, hidden)
    x = jnp.tanh(obs @ params["embed"]["w"] + params["embed"]["b"])
    g = params["gru"]
    gi = x @ g["wi"] + g["bi"]
    gh = hidden @ g["wh"] + g["bh"]
    size = hidden.shape[-1]
    r = jax.nn.sigmoid(gi[..., :size] + gh[..., :size])
    z = jax.nn.sigmoid(gi[..., size : 2 * size] + gh[..., size : 2 * size])
    n = jnp.tanh(gi[..., 2 * size :] + r * gh[..., 2 * size :])
    hidden = (1.0 - z) * n + z * hidden
    return hidden, _mlp_apply(params["actor"], hidden), _mlp_apply(params["critic"], hidden)[..., 0]


def gru_sequence(
    params: Params, hidden: jax.Array, obs: jax.Array, start: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """:func:`gru_step` over time.

    ``obs (T, n, D)`` and ``start (T, n)`` from ``hidden (n, H)`` ->
    ``(last hidden, logits (T, n, 6), values (T, n))``.
    """

    def body(h: jax.Array, x: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, tuple[jax.Array, jax.Array]]:
        h, logits, value = gru_step(params, h, *x)
        return h, (logits, value)

    hidden, (logits, values) = jax.lax.scan(body, hidden, (obs, start))
    return hidden, logits, values


# ------------------------------------------------------------------ the policy
@jax.jit
def _mlp_logits(params: Params, obs: jax.Array) -> jax.Array:
    return mlp_apply(params, obs)[0]


@jax.jit
def _gru_logits(params: Params, hidden: jax.Array, obs: jax.Array, start: jax.Array) -> tuple[jax.Array, jax.Array]:
    hidden, logits, _ = gru_step(params, hidden, obs, start)
    return hidden, logits


def _bucket(n: int) -> int:
    """The padded batch size of ``n`` rows (a power of two, at least 8): few shapes, few compilations."""
    return max(8, 1 << (n - 1).bit_length())


class JaxPolicy(LogitsPolicy):
    """A policy trained by the JAX PPO trainer, behind SB3's ``predict``.

    The network runs as jitted JAX on the CPU (the functions the trainer used). ``ppo_jax``
    is memoryless: its move depends on the observation only. ``gru_ppo_jax`` keeps its
    hidden state in ``state`` (an ``(n, H)`` float32 array; None starts blank) and zeroes
    the rows where ``episode_start`` is true before reading the observation.

    Args:
        path: a ``model.npz`` written by :func:`save_model`.
        seed: seeds the draws of ``deterministic=False`` (sampling from the policy's softmax).

    Raises:
        ValueError: for a missing or malformed file.

    :meth:`from_params` builds one from parameters in memory (e.g. a training checkpoint);
    a policy loaded from a file is that of its parameters and meta.
    """

    def _setup(self, params: Params, meta: dict[str, Any], name: str, seed: int | None) -> None:
        self.name = name
        self.meta = meta
        self.algo: str = meta["algo"]
        self.params = jax.tree_util.tree_map(jnp.asarray, params)
        self.recurrent = self.algo in RECURRENT
        self.hidden_size = gru_size_of(params) if self.recurrent else 0
        self._rng = np.random.default_rng(seed)

    def logits(self, observation: np.ndarray, state: Any = None, episode_start: Any = None) -> tuple[np.ndarray, Any]:
        """``(logits (n, 6) float32, new state)`` of a batch of observations ``(n, D)``."""
        obs = np.asarray(observation, dtype=np.float32)
        n = obs.shape[0]
        size = _bucket(n)
        padded = np.zeros((size, obs.shape[1]), dtype=np.float32)
        padded[:n] = obs
        if not self.recurrent:
            return np.asarray(_mlp_logits(self.params, padded))[:n], state
        hidden = np.zeros((size, self.hidden_size), dtype=np.float32)
        if state is not None:
            hidden[:n] = np.asarray(state, dtype=np.float32).reshape(n, self.hidden_size)
        start = np.zeros(size, dtype=bool)
        if episode_start is not None:
            start[:n] = np.asarray(episode_start, dtype=bool).reshape(n)
        new_hidden, logits = _gru_logits(self.params, hidden, padded, start)
        return np.asarray(logits)[:n], np.asarray(new_hidden)[:n]

    def __repr__(self) -> str:
        return f"JaxPolicy({self.algo}, {self.name!r})"


__all__ = ["JaxPolicy", "gru_sequence", "gru_size_of", "gru_step", "init_gru", "init_mlp", "mlp_apply"]
