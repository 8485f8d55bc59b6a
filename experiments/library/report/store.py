"""A report's results from a sweep study's results store: every trained seed scored, an IQM per group.

Two run kinds train learners: ``train`` (SB3, one seed per run) and ``train_jax`` (JAX PPO,
every seed of the run at once). Runs that differ only in their seed form a group; a
``train_jax`` run is a group of its own, its seeds the members. Each seed is scored from its
model when the store holds it (an artifact), else from the score its run stored: a store
committed without its artifacts (``experiments/baselines``) still makes the same report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.bracket import PRECISE
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.experiments.library import findings
from difficult_customer.experiments.library.budgets import budget
from difficult_customer.experiments.library.evaluation import policy_value, score_seeds
from difficult_customer.experiments.library.io import atomic_write_json, read_json
from difficult_customer.experiments.library.report.build import cached_bracket, learning_curve, locate, variant_of
from difficult_customer.experiments.library.report.results import (
    BracketEntry,
    Curve,
    Reference,
    Score,
    StoreContext,
    StoreGroup,
    StoreResults,
    StoreSettings,
    context_name,
)
from difficult_customer.experiments.library.report.robustness import read_sensitivity
from difficult_customer.experiments.library.scores import reference_values
from difficult_customer.experiments.library.sweep.results import SEED_KEY, read_rows, setting_columns
from difficult_customer.experiments.library.sweep.store import Store
from difficult_customer.experiments.library.training import versions

TRAINED_KINDS = ("train", "train_jax")
"""Run kinds whose runs train a learner."""
MEMORYLESS_SB3 = ("ppo", "a2c", "dqn")
"""SB3 algorithms whose policy on the plain observation is memoryless: their stored final return is exact."""


@dataclass
class Member:
    """One trained seed of a group: where it came from, its score and its learning curve."""

    run_id: str
    seed: int
    score: dict[str, Any]
    """A ``policy_value`` entry: ``return``, ``stderr``, ``source`` (``exact`` or ``monte carlo``), ``episodes``."""
    curve: list[list[float]] = field(default_factory=list)
    """(steps, value) pairs; normalized already for a ``train_jax`` run."""
    from_model: bool = True


def learner_of(kind: str, settings: dict[str, Any]) -> str:
    """The learner a run trains: its algorithm, with ``_belief`` when it reads exact belief features."""
    return settings["algo"] + ("_belief" if kind == "train" and settings.get("observation") == "belief" else "")


def stored_score(row: dict[str, Any]) -> dict[str, Any]:
    """The score a ``train`` run stored, as a ``policy_value`` entry: exact for a memoryless learner (``ppo``,
    ``a2c``, ``dqn`` on the observation), else the mean over ``final_episodes`` conversations.

    Raises:
        ValueError: for a sampled score stored without its standard error, naming the run.
    """
    settings, result = row["settings"], row["result"]
    value = float(result["final_return"])
    if settings["algo"] in MEMORYLESS_SB3 and settings.get("observation", "partial") == "partial":
        return {"return": value, "stderr": 0.0, "source": "exact", "episodes": 0}
    if "final_stderr" not in result or "final_episodes" not in result:
        raise ValueError(f"run {row['run_id']} ({learner_of('train', settings)} seed {settings.get('seed')}): its "
                         "model is not in the store and its sampled final_return has no final_stderr and "
                         "final_episodes; allowed: a store holding artifacts/<run_id>/model.zip, or a result with "
                         "final_stderr and final_episodes (train runs record them since they were added)")
    return {"return": value, "stderr": float(result["final_stderr"]), "source": "monte carlo",
            "episodes": int(result["final_episodes"])}


def store_results(source: str | Path, out: str | Path, budget_name: str = "default", seed: int = 0,
                  sensitivity: str | None = None, *, name: str | None = None,
                  brackets: dict[str, BracketEntry] | None = None,
                  precision: dict[str, int] | None = None) -> StoreResults:
    """Score every trained seed of the store at ``source``; runs that differ only in their seed form a group.

    A seed whose model is in the store (an artifact) is scored like the report's own learners:
    exactly if it reads only the current observation, else by Monte Carlo on the budget's
    ``learned_mc_episodes`` conversations (cached in ``<out>/store_scores.json``, resumable).
    A seed without its model takes the score its run stored (:func:`stored_score`; a
    ``train_jax`` run's ``final`` and ``final_stderr``). Per group, the IQM across seeds with a
    bootstrap interval that includes evaluation noise, the learning curves with the plateau
    verdict and the steps to reach 0.80 and 0.85, and the training's speed and wall time.
    Each (persona, ablation, turn limit) of the store gets its references, certified bracket
    and exact guide scores.

    Args:
        name: the store as the report names it (default: ``source`` as given).
        brackets: certified brackets already solved, by context name (e.g. an earlier build's); where one
            is missing or solved at another precision, it is solved (``<out>/brackets``).
        precision: the brackets' precision (default: the report's, ``bracket.PRECISE``).

    Raises:
        ValueError: for a store that holds no training runs, or a sampled score it cannot find.
    """
    started = time.perf_counter()
    plan = budget(budget_name)
    out = Path(out)
    store = Store(source)
    rows = [r for r in read_rows(store) if r["kind"] in TRAINED_KINDS]
    if not rows:
        raise ValueError(f"from={str(source)!r}: the store holds no training runs")
    raw = {r["run_id"]: r for r in store.rows()}
    cache_path = out / "store_scores.json"
    cache = read_json(cache_path) or {}
    contexts: dict[str, StoreContext] = {}
    policy_contexts: dict[str, PolicyContext] = {}
    members: dict[str, list[Member]] = {}
    for row in rows:
        settings = raw[row["run_id"]]["settings"]
        context = context_name(settings)
        if context not in contexts:
            policy_contexts[context] = PolicyContext.create(persona=settings["persona"], ablate=settings["ablate"],
                                                            max_turns=int(settings["max_turns"]), seed=seed)
            contexts[context] = _context(out, context, policy_contexts[context], (brackets or {}).get(context),
                                         precision)
        scorer = _Scorer(store, cache, cache_path, policy_contexts[context], plan.learned_mc_episodes, seed)
        members[row["run_id"]] = scorer.members(raw[row["run_id"]], contexts[context].references)
    keys = [k for k in setting_columns(rows) if k != SEED_KEY]
    kinds = {r["kind"] for r in rows}  # a setting varies when it does among the runs of one kind
    varying = [k for k in keys if any(len({r.get(k) for r in rows if r["kind"] == kind}) > 1 for kind in kinds)]
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        own = (row["run_id"],) if row["kind"] == "train_jax" else ()  # every seed of it trained at once
        grouped.setdefault((*(row.get(k) for k in keys), *own), []).append(row)
    groups = [_group(raw, sorted(g, key=lambda m: m.get(SEED_KEY) or 0), members, contexts, varying, seed)
              for g in grouped.values()]
    _label(groups, rows, keys)
    groups.sort(key=lambda g: (g.group, -g.score.normalized, g.label))
    results = StoreResults(
        settings=StoreSettings(source=str(source) if name is None else name, runs=len(rows), varying=varying,
                               budget=budget_name, learned_mc_episodes=plan.learned_mc_episodes,
                               versions=versions(), seed=seed),
        contexts=contexts, groups=groups)
    if sensitivity is not None:
        variant = variant_of(raw[rows[0]["run_id"]]["settings"]["ablate"])
        results.sensitivity = read_sensitivity(sensitivity, variant if variant != "custom" else "default")
    results.settings.wall_seconds = time.perf_counter() - started
    return results


def _context(out: Path, name: str, context: PolicyContext, known: BracketEntry | None,
             precision: dict[str, int] | None) -> StoreContext:
    """A context's exact references and guide scores, and its certified bracket (``known`` if at ``precision``)."""
    refs = reference_values(context)
    guides = {g: normalize(policy_value(g, context)["return"], refs["random"], refs["oracle"])
              for g in agents.names("guide")}
    wanted = dict(PRECISE if precision is None else precision)
    same = known is not None and known.max_turns == context.max_turns and all(
        getattr(known, k) == v for k, v in wanted.items() if k in ("points", "depth", "lower_depth"))
    bracket = known if same else cached_bracket(out, name.replace("/", "__"), context, wanted)
    return StoreContext(references=Reference(**refs), bracket=bracket, guides=guides)


@dataclass
class _Scorer:
    """Scores the seeds of a run: its models where the store has them, else the scores it stored."""

    store: Store
    cache: dict[str, Any]
    cache_path: Path
    context: PolicyContext
    mc_episodes: int
    seed: int

    def model_score(self, key: str, model: Path) -> dict[str, Any]:
        key = f"{key}:{self.mc_episodes}:{self.seed}"
        if key not in self.cache:
            self.cache[key] = policy_value(str(model), self.context, mc_episodes=self.mc_episodes)
            atomic_write_json(self.cache_path, self.cache)
        return self.cache[key]

    def members(self, row: dict[str, Any], refs: Reference) -> list[Member]:
        run_id, settings, result = row["run_id"], row["settings"], row["result"]
        folder = self.store.artifact_dir(run_id)
        if row["kind"] == "train":
            model = folder / "model.zip"
            if model.is_file():
                score, from_model = self.model_score(run_id, model), True
            else:
                score, from_model = stored_score(row), False
            return [Member(run_id, int(settings["seed"]), score, result.get("curve") or [], from_model)]
        out = []
        span = refs.oracle - refs.random
        source = "exact" if result.get("curve_source") == "exact" else "monte carlo"
        values = result.get("values") or [refs.random + f * span for f in result["final"]]
        errors = result.get("final_stderr") or [0.0] * len(result["final"])
        for i, seed in enumerate(result["seeds"]):
            model = folder / f"seed{seed}" / "model.npz"
            if model.is_file():
                score, from_model = self.model_score(f"{run_id}/seed{seed}", model), True
            else:
                score = {"return": float(values[i]), "stderr": float(errors[i]) * span, "source": source,
                         "episodes": int(settings.get("eval_episodes", 0)) if source != "exact" else 0}
                from_model = False
            curve = [[s, c] for s, c in zip(result.get("steps") or [], result["curves"][i], strict=True)]
            out.append(Member(run_id, int(seed), score, curve, from_model))
        return out


def _group(raw: dict[str, dict[str, Any]], rows: Sequence[dict[str, Any]], members: dict[str, list[Member]],
           contexts: dict[str, StoreContext], varying: Sequence[str], seed: int) -> StoreGroup:
    """One group of runs (differing only in their seed, or one ``train_jax`` run): its IQM, curve and speed."""
    first = raw[rows[0]["run_id"]]
    kind, settings = first["kind"], first["settings"]
    name = context_name(settings)
    entry = contexts[name]
    refs = {"random": entry.references.random, "oracle": entry.references.oracle}
    seeds = sorted((m for r in rows for m in members[r["run_id"]]), key=lambda m: m.seed)
    learner = learner_of(kind, settings)
    score = Score.of(score_seeds([m.score for m in seeds], refs, seed=seed), label=findings.learner_label(learner),
                     group=findings.learner_group(learner),
                     episodes_per_seed=max(int(m.score.get("episodes", 0)) for m in seeds))
    score.bracket = locate(score, entry.bracket)
    shown = {k: rows[0].get(k) for k in varying if rows[0].get(k) is not None} or {"algo": settings["algo"]}
    steps, sps, wall = _speed(raw, rows)
    best = max(range(len(seeds)), key=lambda i: score.per_seed[i])
    return StoreGroup(label=learner, settings=shown, learner=learner, group=findings.learner_group(learner),
                      context=name, training_seeds=[m.seed for m in seeds], score=score,
                      curve=_curve(raw, rows, seeds, entry.references, seed), kind=kind,
                      reads=findings.learner_reads(learner), runs=[r["run_id"] for r in rows],
                      scored_from="model" if all(m.from_model for m in seeds) else "store", steps=steps,
                      steps_per_second=sps, train_seconds=wall, best_seed=seeds[best].seed)


def _curve(raw: dict[str, dict[str, Any]], rows: Sequence[dict[str, Any]], seeds: Sequence[Member], refs: Reference,
           seed: int) -> Curve | None:
    """The group's learning curves (normalized), from the curves its runs stored."""
    curves = [m.curve for m in seeds if m.curve]
    if not curves:
        return None
    first = raw[rows[0]["run_id"]]
    source = first["result"].get("curve_source", "sampled")
    if first["kind"] == "train_jax":
        episodes = first["settings"].get("eval_episodes")
        source = "exact" if source == "exact" else f"sampled on {episodes} conversations"
        return learning_curve(curves, None, source=source, seed=seed)
    return learning_curve(curves, refs, source=source, seed=seed)


def _speed(raw: dict[str, dict[str, Any]], rows: Sequence[dict[str, Any]]) -> tuple[int, float | None, float | None]:
    """Steps per seed, environment steps per second (all seeds) and the wall time of the training of all seeds."""
    total_steps, total_seconds = 0.0, 0.0
    per_seed = 0
    for row in rows:
        run = raw[row["run_id"]]
        result, settings = run["result"], run["settings"]
        if run["kind"] == "train_jax":
            per_seed = int((result.get("steps") or [settings["steps"]])[-1])
            seconds, rate = result.get("train_seconds"), result.get("steps_per_second")
            if seconds is None or rate is None:
                return per_seed, None, None
            total_steps += float(rate) * float(seconds)
            total_seconds += float(seconds)
        else:
            curve = result.get("curve") or []
            per_seed = int(curve[-1][0]) if curve else int(settings["steps"])
            if run.get("wall_seconds") is None:
                return per_seed, None, None
            total_steps += per_seed
            total_seconds += float(run["wall_seconds"])
    if total_seconds <= 0:
        return per_seed, None, None
    return per_seed, total_steps / total_seconds, total_seconds


def _label(groups: Sequence[StoreGroup], rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """Name each group by its learner, plus the settings that tell it from other groups of the same learner."""
    by_run = {r["run_id"]: r for r in rows}
    for group in groups:
        same = [g for g in groups if g.learner == group.learner]
        if len(same) < 2:
            continue
        mine = by_run[group.runs[0]]
        differ = [k for k in keys if k not in ("algo", "observation", "n_seeds")
                  and len({by_run[g.runs[0]].get(k) for g in same}) > 1 and mine.get(k) is not None]
        if differ:
            group.label = f"{group.learner}, " + ", ".join(f"{k}={mine.get(k)}" for k in differ)
        elif group.kind == "train_jax":
            group.label = f"{group.learner}, seeds {group.training_seeds[0]}-{group.training_seeds[-1]}"


def display_path(path: str | Path) -> str:
    """A path as a report names it: relative to the working folder when inside it, else as given."""
    relative = os.path.relpath(Path(path).resolve(), Path.cwd())
    return str(path) if relative.startswith("..") else Path(relative).as_posix()


__all__ = ["MEMORYLESS_SB3", "TRAINED_KINDS", "context_name", "display_path", "learner_of", "store_results",
           "stored_score"]
