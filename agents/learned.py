"""Trained stable-baselines3 models as registered policies: :func:`register_model`.

``register_model("runs/ppo/mixture/seed0/model.zip")`` registers a model under a name
(its path unless one is given) with kind ``"learned"``; the algorithm and the observation
it was trained on are read from the ``config.json`` that training writes beside the
model (or given). Algorithms: ``ppo``, ``a2c``, ``dqn`` (stable-baselines3) and
``recurrent_ppo`` (sb3-contrib). The model is loaded on the CPU when the policy is
built; its ``predict`` already follows the interface, including the recurrent state of
``recurrent_ppo``. Loading needs the ``train`` extra.

Pretrained agents (:func:`register_pretrained`): the models in ``agents/pretrained/``, listed
in its ``pretrained.json`` (written by ``difficult-customer pretrained``), register on import
of ``difficult_customer.agents`` under their names (``ppo_converged``, ...) and play in numpy
(:class:`~difficult_customer.agents.numpy_networks.NumpyNetworkPolicy`): no extra needed.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.agents.base import Policy
from difficult_customer.agents.exact.belief_input import BeliefInputPolicy
from difficult_customer.agents.jax_models import JAX_ALGORITHMS, RECURRENT, is_jax_model_file, read_meta
from difficult_customer.agents.numpy_networks import NumpyNetworkPolicy
from difficult_customer.agents.registry import PolicySpec, add, add_or_replace, names, spec
from difficult_customer.customer_models import compile_model

ALGORITHMS: dict[str, tuple[str, str]] = {
    "ppo": ("stable_baselines3", "PPO"),
    "a2c": ("stable_baselines3", "A2C"),
    "dqn": ("stable_baselines3", "DQN"),
    "recurrent_ppo": ("sb3_contrib", "RecurrentPPO"),
}


def algorithm_class(algo: str) -> Any:
    """The SB3 class of an algorithm name.

    Raises:
        ValueError: for an unknown algorithm name.
        ImportError: with an install hint if the train extra is missing.
    """
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; allowed: {', '.join(ALGORITHMS)}")
    module_name, class_name = ALGORITHMS[algo]
    try:  # stable_baselines3 / sb3_contrib: the train extra, imported only when a model is loaded
        module = __import__(module_name, fromlist=[class_name])
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            f"{algo} needs {module_name}; install the train extra: pip install 'difficult-customer[train]'"
        ) from err
    return getattr(module, class_name)


class LearnedPolicy:
    """A trained model behind the common interface.

    A model trained with ``observation="belief"`` (its ``config.json`` beside it says so)
    is wrapped so that it takes plain observations and tracks the belief itself.
    """

    def __init__(self, algo: str, path: str | Path) -> None:
        path = Path(path)
        if not path.exists() and not path.with_suffix(".zip").exists():
            raise ValueError(f"no trained model at {str(path)!r}")
        self.algo = algo
        self.path = path
        self.model = algorithm_class(algo).load(str(path), device="cpu")
        self.name = str(path)
        config = run_config(path)
        if config.get("observation") == "belief":
            self.model = BeliefInputPolicy(self.model, compile_model(config["persona"], config["ablate"]))

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        return self.model.predict(observation, state=state, episode_start=episode_start, deterministic=deterministic)


def run_config(path: str | Path) -> dict[str, Any]:
    """The training settings saved beside a model (``config.json``'s ``"config"``), or {} if there are none."""
    saved = Path(path).parent / "config.json"
    if not saved.exists():
        return {}
    try:
        return dict(json.loads(saved.read_text(encoding="utf-8")).get("config", {}))
    except (json.JSONDecodeError, AttributeError) as err:
        raise ValueError(f"{saved} is not a training config.json ({err})") from err


def is_model_file(name: str) -> bool:
    """Whether ``name`` is the path of a saved model: SB3's ``.zip`` (with or without the suffix) or a JAX ``.npz``."""
    path = Path(name)
    return (path.suffix == ".zip" and path.is_file() or path.suffix == "" and path.with_suffix(".zip").is_file()
            or is_jax_model_file(path))


def _jax_policy(algo: str, path: Path, seed: int | None) -> Policy:
    """A JAX-trained model as a policy."""
    try:
        from difficult_customer.agents.jax_policy import JaxPolicy  # needs the jax extra
    except ImportError as err:
        raise ImportError(f"{algo} models need jax: pip install 'difficult-customer[jax]'") from err
    return JaxPolicy(path, seed=seed)


def model_spec(path: str | Path, algo: str | None = None, name: str | None = None) -> PolicySpec:
    """The spec of a trained model, not registered (see :func:`register_model`).

    Args:
        path: the model file (``model.zip``).
        algo: its algorithm; read from ``config.json`` beside the model if omitted.
        name: the policy's name; the path as given if omitted.

    Raises:
        ValueError: for a missing file, an unknown algorithm, or no algorithm to be found.
    """
    path = Path(path)
    if not path.exists() and not path.with_suffix(".zip").exists():
        raise ValueError(f"no trained model at {str(path)!r}")
    saved = run_config(path)
    if is_jax_model_file(path):
        meta = read_meta(path)
        algo = algo or meta["algo"]
        saved = {**meta, **saved}
    algo = algo or saved.get("algo")
    allowed = (*ALGORITHMS, *JAX_ALGORITHMS)
    if algo is None:
        raise ValueError(f"no config.json beside {str(path)!r} says which algorithm trained it; "
                         f"give algo=, one of {', '.join(allowed)}")
    if algo not in allowed:
        raise ValueError(f"unknown algorithm {algo!r} for {str(path)!r}; allowed: {', '.join(allowed)}")
    belief = saved.get("observation") == "belief"
    trained_on = f" on {saved['persona']}" if "persona" in saved else ""
    if algo in JAX_ALGORITHMS:
        return PolicySpec(
            name=str(path) if name is None else name,
            factory=lambda context: _jax_policy(algo, path, context.seed),
            description=f"{algo} trained{trained_on} ({path})",
            kind="learned",
            decides_on="partial",
            memory=algo in RECURRENT,
            path=path,
            algo=algo,
        )
    return PolicySpec(
        name=str(path) if name is None else name,
        factory=lambda context: LearnedPolicy(algo, path),
        description=f"{algo} trained{trained_on}" + (" with belief features" if belief else "") + f" ({path})",
        kind="learned",
        decides_on="belief" if belief else "partial",
        memory=belief or algo == "recurrent_ppo",
        path=path,
        algo=algo,
    )


def register_model(path: str | Path, algo: str | None = None, name: str | None = None) -> PolicySpec:
    """Register a trained model as a policy (kind ``"learned"``) and return its spec.

    Registering the same model under the same name again returns the same spec.

    Raises:
        ValueError: as :func:`model_spec`, or if ``name`` is taken by another policy.
    """
    new = model_spec(path, algo, name)
    if new.name in names():
        old = spec(new.name)
        if old.kind == "learned" and old.path == new.path and old.algo == new.algo:
            return old
    return add(new)


def load_model_spec(name: str) -> PolicySpec | None:
    """The registry's model loader: registers and returns the model at path ``name``, None if it is not a model file."""
    return register_model(name) if is_model_file(name) else None


# ------------------------------------------------------------------ pretrained agents
PRETRAINED = Path(__file__).resolve().parent / "pretrained"
"""The folder of the pretrained agents shipped with the package (``<name>.npz`` files and ``pretrained.json``)."""

PRETRAINED_INDEX = "pretrained.json"
"""The file in :data:`PRETRAINED` that lists the pretrained agents: name -> entry (see :func:`pretrained_spec`)."""

READS: dict[str, str] = {"ppo_jax": "observation", "gru_ppo_jax": "observation history"}
"""What a JAX network's move is computed from: the current observation (MLP) or the whole history (GRU)."""

SCORE_SOURCES = ("exact", "sampled")
"""How a pretrained agent's score was obtained: exactly (a point) or on sampled conversations (an interval)."""


def read_pretrained(folder: str | Path = PRETRAINED) -> dict[str, dict[str, Any]]:
    """The entries of ``folder``'s ``pretrained.json``: {} if the folder or the file is missing or empty.

    Raises:
        ValueError: if the file is not JSON or not an object of objects.
    """
    index = Path(folder) / PRETRAINED_INDEX
    if not index.is_file():
        return {}
    text = index.read_text(encoding="utf-8")
    if not text.strip():
        return {}
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{index} is not valid JSON ({err})") from err
    if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
        raise ValueError(f"{index} must be an object of name -> entry objects")
    return entries


def describe_score(score: Mapping[str, Any]) -> str:
    """``"0.812 (exact)"`` or ``"0.640 [0.610, 0.670] (sampled)"``: a pretrained agent's normalized score."""
    text = f"{float(score['normalized']):.3f}"
    if score["source"] != "exact":
        text += f" [{float(score['low']):.3f}, {float(score['high']):.3f}]"
    return f"{text} ({score['source']})"


def pretrained_spec(name: str, entry: Mapping[str, Any], folder: str | Path = PRETRAINED) -> PolicySpec:
    """The spec of one pretrained agent (not registered), played by :class:`NumpyNetworkPolicy`.

    ``entry`` is its ``pretrained.json`` entry: ``file`` (a ``.npz`` in ``folder``), ``algo``
    (``ppo_jax`` or ``gru_ppo_jax``), ``learner``, ``reads`` (:data:`READS` of the algo),
    ``trained_on``, ``steps``, ``seed``, ``score`` (``normalized``, ``low``, ``high``,
    ``source``) and ``regenerate``. An MLP reads only the current observation: like a
    registered ``ppo_jax`` model it has no memory and decides on the partial observation,
    so the exact evaluators value it exactly; the GRU has memory.

    Raises:
        ValueError: for a missing key or model file, an unknown algo or a ``reads`` that does not fit it.
    """
    missing = [k for k in ("file", "algo", "reads", "trained_on", "score") if k not in entry]
    if missing:
        raise ValueError(f"pretrained {name!r} lacks {', '.join(missing)}")
    algo = entry["algo"]
    if algo not in JAX_ALGORITHMS:
        raise ValueError(f"pretrained {name!r}: unknown algo {algo!r}; allowed: {', '.join(JAX_ALGORITHMS)}")
    if entry["reads"] != READS[algo]:
        raise ValueError(f"pretrained {name!r}: an {algo} reads the {READS[algo]}, not {entry['reads']!r}")
    file = str(entry["file"])
    if Path(file).name != file or not file.endswith(".npz"):
        raise ValueError(f"pretrained {name!r}: file {file!r} must be the name of a .npz file in the folder")
    path = Path(folder) / file
    if not path.is_file():
        raise ValueError(f"pretrained {name!r}: no model file {str(path)!r}")
    score = entry["score"]
    if not isinstance(score, Mapping) or score.get("source") not in SCORE_SOURCES or any(
            not isinstance(score.get(k), int | float) for k in ("normalized", "low", "high")):
        raise ValueError(f"pretrained {name!r}: score must have numbers normalized, low, high and a source, "
                         f"one of {', '.join(SCORE_SOURCES)}")
    learner = f" ({entry['learner']})" if entry.get("learner") else ""
    return PolicySpec(
        name=name,
        factory=lambda context: NumpyNetworkPolicy(path, seed=context.seed),
        description=f"pretrained {algo}{learner} on {entry['trained_on']}, reads the {entry['reads']}; "
                    f"normalized score {describe_score(score)}",
        kind="learned",
        decides_on="partial",
        memory=algo in RECURRENT,
        path=path,
        algo=algo,
    )


def register_pretrained(folder: str | Path = PRETRAINED) -> list[PolicySpec]:
    """Register every agent of ``folder``'s ``pretrained.json`` as a policy and return their specs.

    ``difficult_customer.agents`` calls it on import. Nothing is registered (and nothing
    fails) when the folder or the file is missing or empty; a malformed file or entry is
    skipped with a warning, so a broken model never breaks the package. Registering the
    same folder again returns the same specs; another folder's agents replace learned agents
    of the same names (e.g. the package's own, after regenerating them elsewhere).
    """
    try:
        entries = read_pretrained(folder)
    except (OSError, ValueError) as err:
        warnings.warn(f"no pretrained agents registered: {err}", RuntimeWarning, stacklevel=2)
        return []
    registered = []
    for name, entry in entries.items():
        try:
            new = pretrained_spec(name, entry, folder)
            old = spec(name) if name in names() else None
            same = (old is not None and old.path is not None and new.path is not None
                    and Path(old.path).resolve() == Path(new.path).resolve() and old.algo == new.algo)
            if same:
                registered.append(old)
            elif old is not None and old.kind == "learned":  # another folder's agent of that name: this one wins
                registered.append(add_or_replace(new))
            else:
                registered.append(add(new))
        except ValueError as err:
            warnings.warn(f"pretrained agent {name!r} not registered: {err}", RuntimeWarning, stacklevel=2)
    return registered
