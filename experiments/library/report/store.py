"""A report's results from a sweep study's results store: every trained model scored, an IQM per group."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.experiments.library import findings
from difficult_customer.experiments.library.budgets import budget
from difficult_customer.experiments.library.evaluation import policy_value, score_seeds
from difficult_customer.experiments.library.io import atomic_write_json, read_json
from difficult_customer.experiments.library.report.build import cached_bracket, learning_curve, locate, variant_of
from difficult_customer.experiments.library.report.results import (
    Curve,
    Reference,
    Score,
    StoreContext,
    StoreGroup,
    StoreResults,
    StoreSettings,
)
from difficult_customer.experiments.library.report.robustness import read_sensitivity
from difficult_customer.experiments.library.scores import reference_values
from difficult_customer.experiments.library.sweep.results import SEED_KEY, read_rows, setting_columns
from difficult_customer.experiments.library.sweep.store import Store
from difficult_customer.experiments.library.training import versions


def store_results(source: str | Path, out: str | Path, budget_name: str = "default", seed: int = 0,
                  sensitivity: str | None = None) -> StoreResults:
    """Score every training run of the store at ``source``; runs that differ only in their seed form a group.

    Each run's model (an artifact of the store) is scored like the report's own learners:
    exactly if it reads only the current observation, else by Monte Carlo on the budget's
    ``learned_mc_episodes`` conversations; per group, the IQM across seeds with a bootstrap
    interval that includes evaluation noise. Each (persona, ablation, turn limit) of the store
    gets its references, certified bracket and exact guide scores. Scores are cached in
    ``<out>/store_scores.json`` (resumable).

    Raises:
        ValueError: for a store that holds no training runs.
    """
    started = time.perf_counter()
    plan = budget(budget_name)
    out = Path(out)
    store = Store(source)
    rows = [r for r in read_rows(store) if r["kind"] == "train"]
    if not rows:
        raise ValueError(f"from={str(source)!r}: the store holds no training runs")
    raw = {r["run_id"]: r for r in store.rows()}
    cache_path = out / "store_scores.json"
    cache = read_json(cache_path) or {}
    contexts: dict[str, StoreContext] = {}
    policy_contexts: dict[str, PolicyContext] = {}
    run_scores: dict[str, tuple[str, dict[str, Any]]] = {}
    for row in rows:
        settings = raw[row["run_id"]]["settings"]
        name = "/".join([settings["persona"], "-".join(settings["ablate"]) or "none", str(int(settings["max_turns"]))])
        if name not in contexts:
            context = PolicyContext.create(persona=settings["persona"], ablate=settings["ablate"],
                                           max_turns=int(settings["max_turns"]), seed=seed)
            refs = reference_values(context)
            guides = {g: normalize(policy_value(g, context)["return"], refs["random"], refs["oracle"])
                      for g in agents.names("guide")}
            contexts[name] = StoreContext(references=Reference(**refs),
                                          bracket=cached_bracket(out, name.replace("/", "__"), context), guides=guides)
            policy_contexts[name] = context
        score_key = f"{row['run_id']}:{plan.learned_mc_episodes}:{seed}"
        if score_key not in cache:
            model = str(store.artifact_dir(row["run_id"]) / "model.zip")
            cache[score_key] = policy_value(model, policy_contexts[name], mc_episodes=plan.learned_mc_episodes)
            atomic_write_json(cache_path, cache)
        run_scores[row["run_id"]] = (name, cache[score_key])
    keys = [k for k in setting_columns(rows) if k != SEED_KEY]
    varying = [k for k in keys if len({r.get(k) for r in rows}) > 1]
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    groups = []
    for members in grouped.values():
        members = sorted(members, key=lambda m: m.get(SEED_KEY) or 0)  # seed order, as the report's own learners
        name = run_scores[members[0]["run_id"]][0]
        entry = contexts[name]
        refs = {"random": entry.references.random, "oracle": entry.references.oracle}
        score = Score.of(score_seeds([run_scores[m["run_id"]][1] for m in members], refs, seed=seed))
        score.bracket = locate(score, entry.bracket)
        label = {k: members[0].get(k) for k in varying} or {"algo": members[0].get("algo")}
        learner = members[0]["algo"] + ("_belief" if members[0].get("observation") == "belief" else "")
        groups.append(StoreGroup(label=", ".join(f"{k}={v}" for k, v in label.items()), settings=label,
                                 learner=learner, group=findings.learner_group(learner), context=name,
                                 training_seeds=sorted(m.get(SEED_KEY) for m in members), score=score,
                                 curve=_curve(raw, members, entry.references)))
    groups.sort(key=lambda g: (g.group, -g.score.normalized))
    results = StoreResults(
        settings=StoreSettings(source=str(source), runs=len(rows), varying=varying, budget=budget_name,
                               learned_mc_episodes=plan.learned_mc_episodes, versions=versions(), seed=seed),
        contexts=contexts, groups=groups)
    if sensitivity is not None:
        variant = variant_of(raw[rows[0]["run_id"]]["settings"]["ablate"])
        results.sensitivity = read_sensitivity(sensitivity, variant if variant != "custom" else "default")
    results.settings.wall_seconds = time.perf_counter() - started
    return results


def _curve(raw: dict[str, dict[str, Any]], members: Sequence[dict[str, Any]], refs: Reference) -> Curve | None:
    """The learning curves of a group's runs (normalized), from their stored results (``raw``: run id -> store row)."""
    results = [raw[m["run_id"]]["result"] for m in members]
    curves = [r["curve"] for r in results if r.get("curve")]
    return learning_curve(curves, refs, source=results[0].get("curve_source", "sampled")) if curves else None


__all__ = ["store_results"]
