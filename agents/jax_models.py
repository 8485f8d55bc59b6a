"""The model files of the JAX trainer, readable without jax: parameters and what built them.

A model file (``model.npz``, written by :func:`save_model`) holds the network's parameters,
each under its path (``actor/0/w``), and ``__meta__``: a JSON string with the algorithm, the
observation size, the hidden sizes and the turn limit, so the file alone rebuilds the
network. Only numpy is needed to read one: the registry recognises a JAX model (and its
algorithm) without importing jax; playing it needs the ``jax`` extra
(:class:`~difficult_customer.agents.jax_policy.JaxPolicy`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

JAX_ALGORITHMS = ("ppo_jax", "gru_ppo_jax")
"""The algorithms of the JAX trainer: an MLP PPO and a GRU PPO."""

RECURRENT = ("gru_ppo_jax",)
"""The JAX algorithms whose policy has memory."""

MODEL_FILE = "model.npz"
"""The file name of a JAX model in its run folder."""

Params = dict[str, Any]
"""Network parameters: nested dicts of arrays (a JAX pytree)."""


def flatten_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """``{"actor/0/w": array, ...}``: the leaves of nested dicts under their paths, as numpy arrays."""
    out: dict[str, np.ndarray] = {}
    for name, value in params.items():
        path = f"{prefix}{name}"
        if isinstance(value, Mapping):
            out.update(flatten_params(value, path + "/"))
        else:
            out[path] = np.asarray(value)
    return out


def unflatten_params(flat: Mapping[str, Any]) -> Params:
    """The nested dicts :func:`flatten_params` flattened."""
    out: Params = {}
    for path, value in flat.items():
        node = out
        *parents, leaf = path.split("/")
        for name in parents:
            node = node.setdefault(name, {})
        node[leaf] = value
    return out


def save_model(path: str | Path, params: Params, meta: Mapping[str, Any]) -> Path:
    """Write parameters and their ``meta`` (algo, hidden, gru_size, max_turns, ...) to an ``.npz`` file.

    ``meta`` must say ``algo`` (one of :data:`JAX_ALGORITHMS`) and be JSON-serializable.
    The file is written to a temporary name and renamed, so a reader never sees half of it.

    Raises:
        ValueError: for an unknown algorithm in ``meta``.
    """
    if meta.get("algo") not in JAX_ALGORITHMS:
        raise ValueError(f"meta algo {meta.get('algo')!r}; allowed: {', '.join(JAX_ALGORITHMS)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, __meta__=np.array(json.dumps(dict(meta), sort_keys=True)), **flatten_params(params))
    tmp.replace(path)
    return path


def load_model(path: str | Path) -> tuple[Params, dict[str, Any]]:
    """``(params as numpy arrays, meta)`` of a file written by :func:`save_model`.

    Raises:
        ValueError: for a missing file or one that is not a JAX model.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"no JAX model at {str(path)!r}")
    with np.load(path, allow_pickle=False) as data:
        if "__meta__" not in data.files:
            raise ValueError(f"{str(path)!r} is not a JAX model file (no __meta__ entry)")
        meta = json.loads(str(data["__meta__"]))
        params = unflatten_params({k: data[k] for k in data.files if k != "__meta__"})
    if meta.get("algo") not in JAX_ALGORITHMS:
        raise ValueError(f"{str(path)!r}: unknown algo {meta.get('algo')!r}; allowed: {', '.join(JAX_ALGORITHMS)}")
    return params, meta


def is_jax_model_file(name: str | Path) -> bool:
    """Whether ``name`` is the path of an existing ``.npz`` file (a JAX model, checked on load)."""
    path = Path(name)
    return path.suffix == ".npz" and path.is_file()




def read_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` of a model file (algo, sizes, turn limit, ...), without its parameters.

    Raises:
        ValueError: as :func:`load_model`.
    """
    return load_model(path)[1]


__all__ = ["JAX_ALGORITHMS", "MODEL_FILE", "RECURRENT", "Params", "flatten_params", "is_jax_model_file", "load_model",
           "read_meta", "save_model", "unflatten_params"]
