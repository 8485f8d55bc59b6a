"""Run kinds: what one run of a study does, by name.

A run kind turns a run's settings (a flat JSON-able dict) into a result (a JSON-able dict)
and may write files into a work folder, which become the run's artifacts in the store. The
engine does not care what a run does; it only needs, for each kind:

- ``defaults()``: every setting the kind takes, with its default value (the settings of a
  run are these defaults with the study's values applied, and the run id hashes them all);
- ``validate(settings)``: raise ``ValueError`` naming a bad key or value and what is allowed;
- ``run(settings, workdir)``: do the run, deterministically given the settings (seed
  included), and return its result;
- ``metric``: the result's main score, which ``summarize`` aggregates across seeds.

``train`` trains an SB3 algorithm and evaluates it. ``probe`` does no learning: it sleeps
and returns numbers derived from its settings, for testing the engine and measuring its
overhead per run. ``register`` adds a kind to :data:`RUN_KINDS`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from difficult_customer.experiments.library.training import TrainConfig, load_hyperparameters, run_dir, train


@dataclass(frozen=True)
class RunKind:
    """What one kind of run does (see the module docstring)."""

    name: str
    defaults: Callable[[], dict[str, Any]]
    validate: Callable[[dict[str, Any]], None]
    run: Callable[[dict[str, Any], Path], dict[str, Any]]
    metric: str
    description: str = ""


RUN_KINDS: dict[str, RunKind] = {}
"""Registered run kinds by name."""


def register(kind: RunKind) -> RunKind:
    """Add ``kind`` to :data:`RUN_KINDS` (replacing one of the same name) and return it."""
    RUN_KINDS[kind.name] = kind
    return kind


def get_kind(name: str) -> RunKind:
    """The run kind called ``name``.

    Raises:
        ValueError: for an unknown kind, listing the registered ones.
    """
    if name not in RUN_KINDS:
        raise ValueError(f"unknown run kind {name!r}; allowed: {', '.join(sorted(RUN_KINDS))}")
    return RUN_KINDS[name]


# ---------------------------------------------------------------------------------------------
# train: an SB3 training run and its evaluation


TRAIN_EXCLUDED = ("out", "tensorboard")
"""TrainConfig fields that are not settings of a run: where files go, optional logs."""


def _train_defaults() -> dict[str, Any]:
    return {k: v for k, v in asdict(TrainConfig()).items() if k not in TRAIN_EXCLUDED}


def _train_config(settings: dict[str, Any], out: str = "runs") -> TrainConfig:
    return TrainConfig(**settings, out=out)


def _train_validate(settings: dict[str, Any]) -> None:
    config = _train_config(settings)
    config.validate()
    load_hyperparameters(config.algo, config.hyperparameters)
    for key, value in config.hyperparameters.items():
        if isinstance(value, str):
            try:
                float(value)
            except ValueError:
                continue
            raise ValueError(f"hyperparameters.{key}={value!r} is text, not a number: YAML reads 1e-3 as text; "
                             "write 1.0e-3")


def _train_run(settings: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Train and evaluate one SB3 run; ``model.zip``, ``curve.json`` and ``config.json`` become artifacts."""
    config = _train_config(settings, out=str(workdir / "_train"))
    result = train(config, progress=False)
    folder = run_dir(config)
    for name in ("model.zip", "curve.json", "config.json"):
        if (folder / name).exists():
            shutil.move(str(folder / name), workdir / name)
    shutil.rmtree(workdir / "_train", ignore_errors=True)
    # Paths and wall time differ from one execution to the next: they are not part of the result. A sampled
    # final_return (a learner with memory, or on belief features) comes with its standard error and conversations.
    out = {"final_return": float(result["final_return"]), "curve": result["curve"],
           "curve_source": result["curve_source"], "key": result["key"]}
    if "final_stderr" in result:
        out["final_stderr"] = float(result["final_stderr"])
        out["final_episodes"] = int(result["final_episodes"])
    return out


TRAIN = register(RunKind(
    name="train",
    defaults=_train_defaults,
    validate=_train_validate,
    run=_train_run,
    metric="final_return",
    description="train an SB3 algorithm on a persona (experiments/library/training.py), then evaluate it",
))


# ---------------------------------------------------------------------------------------------
# train_jax: one compiled JAX training of several seeds at once, every checkpoint scored


JAX_RUN_KEYS = {"n_seeds": 1, "eval_episodes": 2000, "score_every": 1}
"""Settings of a ``train_jax`` run besides the ``JaxPPOConfig`` fields and ``seed``: how many seeds it
vmaps (``seed`` .. ``seed + n_seeds - 1``), the conversations a recurrent checkpoint is sampled on,
and which checkpoints are scored (every ``score_every``-th, counted back from the last)."""


def _jax_defaults() -> dict[str, Any]:
    from difficult_customer.experiments.library.jax_ppo import JaxPPOConfig  # jax extra

    defaults = asdict(JaxPPOConfig())
    defaults["ablate"], defaults["hidden"] = list(defaults["ablate"]), list(defaults["hidden"])
    return {**defaults, "seed": 0, **JAX_RUN_KEYS}


def _jax_config(settings: dict[str, Any]) -> Any:
    from difficult_customer.experiments.library.jax_ppo import JaxPPOConfig  # jax extra

    return JaxPPOConfig(**{k: v for k, v in settings.items() if k != "seed" and k not in JAX_RUN_KEYS})


def _jax_validate(settings: dict[str, Any]) -> None:
    _jax_config(settings).validate()
    for key in JAX_RUN_KEYS:
        if int(settings[key]) < 1:
            raise ValueError(f"{key}={settings[key]}; allowed is an integer >= 1")


def _jax_run(settings: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Train ``n_seeds`` seeds vmapped, score every checkpoint (exact for the MLP, sampled for the GRU).

    Artifacts: each seed's ``seed<k>/model.npz`` and ``scores.json`` (every checkpoint's value).
    The result holds per seed the normalized curve and final score (``final``, with
    ``final_stderr``, 0 where exact), and ``iqm`` over seeds with the plateau verdict
    (:meth:`~difficult_customer.experiments.library.jax_curves.CurveScores.summary`).
    """
    from difficult_customer.experiments.library.jax_curves import score_checkpoints  # jax extra
    from difficult_customer.experiments.library.jax_ppo import save_models, train_seeds  # jax extra

    config = _jax_config(settings)
    seeds = range(int(settings["seed"]), int(settings["seed"]) + int(settings["n_seeds"]))
    result = train_seeds(config, seeds)
    save_models(result, workdir)
    scores = score_checkpoints(result, episodes=int(settings["eval_episodes"]), every=int(settings["score_every"]))
    scores.save(workdir / "scores.json")
    summary = scores.summary() if len(scores.steps) >= 2 else {}
    normalized, errors = scores.normalized, scores.normalized_stderr
    return {"iqm": scores.final()[0], "seeds": list(seeds), "steps": scores.steps,
            "curves": normalized.tolist(), "final": normalized[:, -1].tolist(),
            "final_stderr": errors[:, -1].tolist(), "values": scores.values[:, -1].tolist(),
            "curve_source": "exact" if scores.source == "exact" else "sampled", "references": scores.references,
            "summary": {k: v for k, v in summary.items() if k not in ("scoring_seconds", "train_seconds",
                                                                      "compile_seconds", "steps_per_second")},
            "steps_per_second": result.steps_per_second, "train_seconds": result.train_seconds}


TRAIN_JAX = register(RunKind(
    name="train_jax",
    defaults=_jax_defaults,
    validate=_jax_validate,
    run=_jax_run,
    metric="iqm",
    description="train a JAX PPO (ppo_jax, gru_ppo_jax) over n_seeds seeds at once and score every checkpoint "
                "(needs the jax extra)",
))


# ---------------------------------------------------------------------------------------------
# probe: no learning, for testing the engine and measuring its overhead


def _probe_defaults() -> dict[str, Any]:
    return {"seed": 0, "seconds": 0.0, "label": "", "fail": False, "marker_dir": ""}


def _probe_validate(settings: dict[str, Any]) -> None:
    if settings["seconds"] < 0:
        raise ValueError(f"seconds={settings['seconds']}; allowed is a number >= 0")


def _probe_run(settings: dict[str, Any], workdir: Path) -> dict[str, Any]:
    """Sleep ``seconds`` and return a number derived from the settings.

    With ``marker_dir``, first writes a file ``<label>.s<seed>.<pid>.<ns>`` there (one per
    attempt) holding the seed, this process's pid and Ray node id: tests use it to find (and kill) the
    worker or node of a running run.
    With ``fail``, raises instead (an application error, recorded as a failed run).
    """
    if settings["marker_dir"]:
        node_id = ""
        try:
            import ray  # optional extra (sweep)

            if ray.is_initialized():
                node_id = ray.get_runtime_context().get_node_id()
        except ImportError:  # pragma: no cover - the probe also runs without Ray
            pass
        name = f"{settings['label']}.s{settings['seed']}.{os.getpid()}.{time.time_ns()}"
        marker = Path(settings["marker_dir"]) / name
        marker.write_text(json.dumps({"seed": settings["seed"], "pid": os.getpid(), "node_id": node_id,
                                      "host": socket.gethostname()}))
    if settings["fail"]:
        raise RuntimeError(f"probe {settings['label']!r} fails as asked (fail: true)")
    time.sleep(float(settings["seconds"]))
    measured = {k: v for k, v in settings.items() if k != "marker_dir"}  # where markers go is no input
    digest = hashlib.sha256(json.dumps(measured, sort_keys=True).encode()).hexdigest()
    value = int(digest[:8], 16) / 0xFFFFFFFF
    (workdir / "probe.txt").write_text(f"{value}\n")
    return {"value": value}


PROBE = register(RunKind(
    name="probe",
    defaults=_probe_defaults,
    validate=_probe_validate,
    run=_probe_run,
    metric="value",
    description="no learning: sleep, return a number derived from the settings (engine tests, overhead)",
))
