"""Trainings through the sweep engine: a list of runs (:func:`run_trainings`) or a budget's worth (:func:`train_all`).

This is how ``report``, ``ablations`` and ``sensitivity --learn`` train: the same store,
retries and resumption as ``difficult-customer sweep``. Each trained model comes back
registered as a policy named in words (``ppo seed 3``; ``training.policy_name``), so what
a reader sees (progress bars, tables) names the policy, not its model file.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.budgets import Budget, training_seeds
from difficult_customer.experiments.library.progress import progress_bar
from difficult_customer.experiments.library.sweep.engine import DEFAULT_MAX_RETRIES, run_study
from difficult_customer.experiments.library.sweep.runs import TRAIN_EXCLUDED
from difficult_customer.experiments.library.sweep.store import Store
from difficult_customer.experiments.library.sweep.study import Run, Study, run_id
from difficult_customer.experiments.library.training import TrainConfig, policy_name, register_policy, train


def train_run(config: TrainConfig) -> Run:
    """The study run of a ``TrainConfig`` (its id is the same as in a study file with those settings).

    Raises:
        ValueError: for bad settings (see ``TrainConfig.validate``).
    """
    config.validate()
    settings = {k: v for k, v in asdict(config).items() if k not in TRAIN_EXCLUDED}
    return Run(run_id("train", settings), "train", settings)


def run_trainings(configs: Sequence[TrainConfig], store: str | Path | Store, address: str | None = None,
                  num_cpus: int | None = None, max_retries: int = DEFAULT_MAX_RETRIES, progress: bool = True,
                  study: str = "trainings") -> list[dict[str, Any]]:
    """Train every ``TrainConfig`` (or reuse its stored result) on Ray; results in the order given.

    Ray is started only if a run is not in the store yet. ``config.out`` is ignored:
    artifacts live in the store.

    Args:
        configs: the runs (duplicates are trained once).
        store: the results store (or its folder), e.g. ``<report out>/runs``.
        address, num_cpus, max_retries, progress: as ``engine.run_study``.
        study: the study name recorded in the store's rows (and shown on the progress bar).

    Returns:
        One dict per config, shaped as ``train()``'s result: ``final_return``, ``curve``,
        ``key``, ``config`` (the ``TrainConfig`` as a dict), ``model`` (path of
        ``model.zip`` in the store), ``policy`` (the name the model is registered under in
        this process, in words: ``training.register_policy``), ``wall_seconds``, plus ``run_id``.

    Raises:
        ValueError: for bad settings, before anything is trained.
        RuntimeError: if some runs failed, with their errors (the others are stored; calling
            again retries only the failed ones).
    """
    store = store if isinstance(store, Store) else Store(store)
    runs = [train_run(c) for c in configs]
    unique = list({r.run_id: r for r in runs}.values())
    state = run_study(Study(name=study, kind="train", runs=unique), store, address=address, num_cpus=num_cpus,
                      max_retries=max_retries, progress=progress)
    if state.failed:
        details = "; ".join(f"{f['run_id']}: {f['error'].splitlines()[0]}" for f in state.failures)
        raise RuntimeError(f"{state.failed} of {len(unique)} training runs failed ({details})")
    rows = {row["run_id"]: row for row in store.rows()}
    out = []
    for config, run in zip(configs, runs, strict=True):
        row = rows[run.run_id]
        model = store.artifact_dir(run.run_id) / "model.zip"
        out.append({**row["result"], "run_id": run.run_id, "config": asdict(config), "model": str(model),
                    "policy": register_policy(config, model), "wall_seconds": row["wall_seconds"]})
    return out


def split_learner(learner: str) -> tuple[str, str]:
    """``"ppo_belief"`` -> ``("ppo", "belief")``; ``"ppo"`` -> ``("ppo", "partial")``."""
    if learner.endswith("_belief"):
        return learner[: -len("_belief")], "belief"
    return learner, "partial"


def budget_runs(budget: Budget, *, out: str | Path, seed: int = 0, persona: str = "mixture",
                ablate: Sequence[str] = (), max_turns: int = DEFAULT_MAX_TURNS,
                n_envs: int = 8) -> list[tuple[str, TrainConfig]]:
    """Every training run of ``budget``, as (learner, run settings) pairs, seeds from ``budgets.training_seeds``."""
    runs = []
    for learner, (steps, n_seeds) in budget.learners.items():
        algo, observation = split_learner(learner)
        for run_seed in training_seeds(seed, n_seeds):
            runs.append((learner, TrainConfig(
                algo=algo, observation=observation, persona=persona, ablate=list(ablate), max_turns=max_turns,
                steps=steps, seed=run_seed, n_envs=n_envs, eval_every=budget.curve_every,
                eval_episodes=budget.curve_episodes, out=str(Path(out) / "runs"),
            )))
    return runs


def train_all(budget: Budget, *, out: str | Path, seed: int = 0, persona: str = "mixture",
              ablate: Sequence[str] = (), max_turns: int = DEFAULT_MAX_TURNS, n_envs: int = 8,
              workers: int = 2, progress: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Train (or reuse) every run of ``budget``; returns learner -> run results.

    With Ray installed (the ``sweep`` extra) the runs go through :func:`run_trainings`:
    results and models are kept in the study store ``<out>/runs`` (SQLite rows plus
    artifacts), one Ray task per run over ``workers`` CPUs, and a run already in the store
    is not trained again, so an interrupted command resumes. Without Ray the runs are
    trained one after the other in this process, into ``training.train``'s run folders
    under ``<out>/runs``, which resume the same way.

    Args:
        workers: CPUs the runs are spread over (1: one run at a time).

    Returns:
        Per learner, one dict per seed with ``final_return``, ``curve``, ``config``,
        ``model`` (the model's path), ``policy`` (the name the model is registered under,
        in words: ``ppo seed 3``) and ``wall_seconds``.

    Raises:
        ValueError: for bad settings, before anything is trained.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r}; allowed is an integer >= 1")
    runs = budget_runs(budget, out=out, seed=seed, persona=persona, ablate=ablate, max_turns=max_turns, n_envs=n_envs)
    for _, config in runs:
        config.validate()
    results: dict[str, list[dict[str, Any]]] = {learner: [] for learner in budget.learners}
    if _ray_installed():
        done = run_trainings([config for _, config in runs], Path(out) / "runs", num_cpus=workers,
                             progress=progress, study="report")
        for (learner, _), result in zip(runs, done, strict=True):
            results[learner].append(result)
        return results
    bar = progress_bar(len(runs), "training", enabled=progress)
    try:
        for learner, config in runs:
            bar.set_description(f"training {policy_name(config)}")
            result = train(config, progress=False)
            results[learner].append({**result, "policy": register_policy(config, result["model"])})
            bar.update(1)
    finally:
        bar.close()
    return results



def _ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


__all__ = ["budget_runs", "run_trainings", "split_learner", "train_all", "train_run"]
