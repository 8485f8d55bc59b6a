"""Choosing tuned hyperparameters from a tuning study's store, and writing them in rl-baselines3-zoo's format.

A tuning study (``experiments/studies/tuning/*.yaml``) is a ``sweep`` over Sobol points of
a learner's hyperparameters, each point trained on 3 or more seeds at a mid budget: SB3
learners as one ``train`` run per seed, the JAX learners as one ``train_jax`` run that
trains its seeds at once. :func:`tuning_table` scores each point by the IQM over its
seeds of the normalized final score (exact for memoryless learners, sampled for the GRU),
with a stratified bootstrap interval that includes each seed's evaluation noise, and
ranks the points. :func:`write_tuned` writes the best point as a zoo-format YAML file
(the env id holding the algorithm's keyword arguments) and the whole ranked table beside
it, so the choice can be checked::

    table = tuning_table("results/sweeps/tune-ppo_jax")
    write_tuned(table, "experiments/configs/tuned")     # ppo_jax.yaml + ppo_jax.tuning.json

Why Sobol points through ``sweep`` rather than rl-zoo3's Optuna: the JAX learners, whose
trainer is this project's own, are not zoo algorithms; one runner for all learners keeps
the studies resumable, on Ray when they grow, and in one store format the report reads;
and 16 space-filling points over 5 dimensions, each on 3 seeds, is a search whose every
point is kept and can be looked at, not only the winner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.experiments.library.io import atomic_write_json, atomic_write_text
from difficult_customer.experiments.library.scores import iqm_ci
from difficult_customer.experiments.library.sweep.results import run_references
from difficult_customer.experiments.library.sweep.store import Store

ENV_ID = "DifficultCustomer-v0"
"""The key under which a zoo hyperparameter file holds the algorithm's keyword arguments."""

JAX_TUNED_KEYS = ("lr", "ent_coef", "epochs", "clip", "gae_lambda", "n_envs", "n_steps", "minibatches", "vf_coef",
                  "max_grad_norm", "anneal_lr", "gamma", "hidden", "gru_size")
"""The ``JaxPPOConfig`` fields that are hyperparameters (written to the tuned file)."""


@dataclass
class TuningPoint:
    """One point of a tuning study: its hyperparameters and its seeds' normalized final scores."""

    hyperparameters: dict[str, Any]
    scores: list[float]
    stderr: list[float]
    iqm: float = 0.0
    low: float = 0.0
    high: float = 0.0


@dataclass
class TuningTable:
    """The points of one learner's tuning study, best first."""

    algo: str
    study: str
    persona: str
    steps: int
    source: str
    """``"exact"`` or ``"sampled"``: how the final scores were obtained."""
    points: list[TuningPoint] = field(default_factory=list)

    @property
    def best(self) -> TuningPoint:
        return self.points[0]


def _sb3_point_key(settings: dict[str, Any]) -> str:
    return repr(sorted(settings.get("hyperparameters", {}).items()))


def tuning_table(store: str | Path, reps: int = 2000, seed: int = 0) -> TuningTable:
    """Rank the points of the tuning study in ``store`` by the IQM of their seeds' normalized final scores.

    Raises:
        ValueError: for a store with no runs, runs of more than one learner, or fewer than 2 seeds per point.
    """
    rows = Store(store).rows()
    if not rows:
        raise ValueError(f"{str(store)!r}: the store holds no runs")
    algos = {r["settings"]["algo"] for r in rows}
    if len(algos) != 1:
        raise ValueError(f"{str(store)!r} holds runs of {sorted(algos)}; a tuning store holds one learner")
    algo = algos.pop()
    first = rows[0]["settings"]
    points: dict[str, TuningPoint] = {}
    source = "exact"
    for row in rows:
        settings, result = row["settings"], row["result"]
        if row["kind"] == "train_jax":
            hyper = {k: settings[k] for k in JAX_TUNED_KEYS if k in settings}
            point = points.setdefault(repr(sorted(hyper.items())), TuningPoint(hyper, [], []))
            point.scores += [float(x) for x in result["final"]]
            point.stderr += [float(x) for x in result["final_stderr"]]
            source = "exact" if result["curve_source"] == "exact" else "sampled"
        else:
            refs = run_references(settings["persona"], settings.get("ablate", []), settings["max_turns"])
            point = points.setdefault(_sb3_point_key(settings), TuningPoint(dict(settings["hyperparameters"]), [], []))
            point.scores.append(float(normalize(result["final_return"], refs["random"], refs["oracle"])))
            span = refs["oracle"] - refs["random"]
            point.stderr.append(float(result.get("final_stderr", 0.0)) / span)
            source = result.get("curve_source", "exact")
    for point in points.values():
        if len(point.scores) < 2:
            raise ValueError(f"a point of {str(store)!r} has {len(point.scores)} seed; a tuning point needs >= 2")
        point.iqm, point.low, point.high = iqm_ci(np.array(point.scores)[:, None], reps=reps, seed=seed,
                                                  stderr=np.array(point.stderr)[:, None])
    ranked = sorted(points.values(), key=lambda p: -p.iqm)
    study = rows[0]["study"]
    return TuningTable(algo, study, first["persona"], int(first["steps"]), source, ranked)


def write_tuned(table: TuningTable, out: str | Path) -> tuple[Path, Path]:
    """Write ``<out>/<algo>.yaml`` (the best point, zoo format) and ``<out>/<algo>.tuning.json`` (every point).

    Returns:
        The two paths.
    """
    out = Path(out)
    best = table.best
    header = (f"# {table.algo}: tuned by the study {table.study!r} ({len(table.points)} Sobol points, "
              f"{len(best.scores)} seeds each, {table.steps:,} steps, persona {table.persona}).\n"
              f"# Chosen by the IQM of the normalized final score ({table.source}): {best.iqm:.3f} "
              f"[{best.low:.3f}, {best.high:.3f}]; every point is in {table.algo}.tuning.json.\n"
              "# Regenerate: difficult-customer tuned --store results/sweeps/" + table.study + "\n")
    hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in best.hyperparameters.items()}
    yaml_path = atomic_write_text(out / f"{table.algo}.yaml",
                                  header + yaml.safe_dump({ENV_ID: hyper}, sort_keys=True))
    json_path = atomic_write_json(out / f"{table.algo}.tuning.json", {
        "algo": table.algo, "study": table.study, "persona": table.persona, "steps": table.steps,
        "source": table.source,
        "points": [{"hyperparameters": p.hyperparameters, "iqm": p.iqm, "low": p.low, "high": p.high,
                    "scores": p.scores, "stderr": p.stderr} for p in table.points]})
    return yaml_path, json_path


def read_tuned(path: str | Path) -> dict[str, Any]:
    """The hyperparameters of a tuned zoo-format file (:func:`write_tuned`).

    Raises:
        ValueError: for a file without the ``DifficultCustomer-v0`` entry.
    """
    data = yaml.safe_load(Path(path).read_text()) or {}
    if ENV_ID not in data:
        raise ValueError(f"{str(path)!r} has no {ENV_ID!r} entry; allowed: a zoo-format hyperparameter file")
    return dict(data[ENV_ID])


__all__ = ["ENV_ID", "TuningPoint", "TuningTable", "read_tuned", "tuning_table", "write_tuned"]
