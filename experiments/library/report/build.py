"""Compute what the research report shows: train, score every policy, bracket the optimum; a typed :class:`Results`.

Trains the budget's learners through the sweep engine's store (``<out>/runs``), scores every
policy on every persona over the same seeds (exactly wherever the move depends only on the
current observation, else by Monte Carlo), brackets the best observation-only policy,
compares with the guides (``library/faithfulness.py``) and reads or runs a sensitivity study
(:mod:`~difficult_customer.experiments.library.report.robustness`). Brackets, evaluation
cells, training runs and sampled models are saved as they finish: a second run skips what
is done.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import asdict
from importlib.abc import Traversable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.bracket import PRECISE, certified_bracket
from difficult_customer.agents.exact.fixed_sequence import solve_fixed_sequence
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.agents.exact.rule_cost import rule_costs
from difficult_customer.customer_models import compile_model
from difficult_customer.customer_models.switches import VARIANTS
from difficult_customer.envs.customer_env import CustomerEnv
from difficult_customer.experiments.library import findings
from difficult_customer.experiments.library.budgets import Budget, budget, eval_seeds
from difficult_customer.experiments.library.conformance import conformance
from difficult_customer.experiments.library.evaluation import (
    KS,
    evaluate_grid,
    is_memoryless,
    move_by_turn,
    reliability,
    score_seeds,
)
from difficult_customer.experiments.library.faithfulness import MainTable, main_table
from difficult_customer.experiments.library.io import cached
from difficult_customer.experiments.library.plateau import plateau, steps_to_reach
from difficult_customer.experiments.library.report.baselines import STORE_NAME, load_baselines
from difficult_customer.experiments.library.report.imitation import committed_imitation
from difficult_customer.experiments.library.report.results import (
    BracketEntry,
    Convergence,
    Curve,
    FixedSequenceEntry,
    Headline,
    Location,
    Reach,
    Reference,
    Reliability,
    Results,
    RuleCostEntry,
    RuleRate,
    Score,
    Settings,
    TrainingRun,
    Transcript,
    structure,
)
from difficult_customer.experiments.library.report.robustness import quick_sensitivity, robustness_of
from difficult_customer.experiments.library.scores import reference_values
from difficult_customer.experiments.library.stats import wilson_ci
from difficult_customer.experiments.library.sweep.trainings import train_all
from difficult_customer.experiments.library.training import versions

GROUP_ORACLE = "reference: sees the hidden state"
GROUP_BASELINES = "baselines"
GROUP_GUIDES = "guides"
GROUP_SCRIPTED = "scripted"
GROUP_FIXED = "exact, fixed sequence of moves"
GROUP_BELIEF = "exact, belief-based: uses the model's exact filter"
GROUP_ORDER = (GROUP_ORACLE, GROUP_BASELINES, GROUP_GUIDES, GROUP_SCRIPTED, GROUP_FIXED, GROUP_BELIEF,
               findings.GROUP_OBSERVATION, findings.GROUP_FILTER)
"""The tables of the report, in order: what a policy reads and whether it uses the model."""


class ReportOptions(Protocol):
    """What :func:`build_results` needs to know (the report command's ``Config`` has these)."""

    budget_name: str
    out: str
    seed: int
    variant: str
    train_persona: str
    personas: list[str]
    ablate: list[str]
    max_turns: int
    workers: int
    n_envs: int
    sensitivity: str | None
    study_samples: int
    progress: bool


def variant_of(ablate: Sequence[str]) -> str:
    """The variant whose switches are exactly ``ablate`` (``default``, ``guide_only``), else ``custom``."""
    off = set(ablate)
    for name, switches in VARIANTS.items():
        if off == set(switches):
            return name
    return "custom"


def all_ablated(options: ReportOptions) -> list[str]:
    """Every switch turned off: the variant's and ``ablate``."""
    return sorted(set(VARIANTS[options.variant]) | set(options.ablate))


# ----------------------------------------------------------------------------- pieces
def bracket_entry(context: PolicyContext, precision: dict[str, int] | None = None) -> BracketEntry:
    """The certified bracket of ``context`` at ``precision`` (default: the report's, ``bracket.PRECISE``).

    ``precision``: ``certified_bracket``'s ``points``, ``depth`` and ``lower_depth``; ``{}`` its defaults.
    """
    b = certified_bracket(context, **(PRECISE if precision is None else precision))
    low, high = b.normalized
    return BracketEntry(lower=b.lower, upper=b.upper, oracle=b.oracle, random=b.random, lower_normalized=low,
                        upper_normalized=high, pbvi_lower=b.pbvi_lower, fib=b.fib, points=b.points, depth=b.depth,
                        lower_depth=b.lower_depth, max_turns=b.max_turns, seconds=b.seconds)


def cached_bracket(out: Path, name: str, context: PolicyContext,
                   precision: dict[str, int] | None = None) -> BracketEntry:
    """:func:`bracket_entry`, stored in ``out/brackets/<name>.json`` and read back while its settings match."""
    precision = dict(PRECISE) if precision is None else dict(precision)
    key = {"persona": str(context.persona), "ablate": list(context.ablate), "max_turns": context.max_turns,
           "precision": precision}
    data = cached(out / "brackets" / f"{name}.json", key, lambda: asdict(bracket_entry(context, precision)))
    return BracketEntry(**data)


def fixed_sequence_entry(context: PolicyContext, bracket: BracketEntry) -> FixedSequenceEntry:
    """The best fixed sequence found and a proven upper bound on every fixed sequence (normalized too)."""
    plan = solve_fixed_sequence(context.tables, context.max_turns)
    bound = min(float(plan.upper_bound), bracket.upper)  # a fixed sequence reads only observations
    refs = (bracket.random, bracket.oracle)
    return FixedSequenceEntry(value=float(plan.value), upper_bound=bound, optimal=bool(plan.optimal),
                              moves=list(plan.names()), normalized=normalize(plan.value, *refs),
                              bound_normalized=normalize(bound, *refs))


def locate(score: Score, bracket: BracketEntry) -> Location:
    """Where a score lies relative to the bracket, from its interval (normalized)."""
    lower, upper = bracket.lower_normalized, bracket.upper_normalized
    point, low, high = score.normalized, score.normalized_low, score.normalized_high
    if low > upper:
        position = "above"
    elif high < lower:
        position = "below"
    elif lower <= low and high <= upper:
        position = "within"
    else:
        position = "overlaps"
    return Location(position=position, gap_low=max(lower - high, 0.0), gap_high=upper - low,
                    share_low=point / upper if upper > 0 else None, share_high=point / lower if lower > 0 else None)


def rule_rates(episodes: Sequence[Any]) -> dict[str, RuleRate]:
    """:func:`~experiments.library.conformance.conformance` with a Wilson interval on each rate."""
    out: dict[str, RuleRate] = {}
    for rule, row in conformance(episodes).items():
        n = int(row["applicable"] or 0)
        if row["rate"] is None or n == 0:
            out[rule] = RuleRate(rate=None, applicable=n, low=None, high=None)
            continue
        rate, low, high = wilson_ci(int(round(float(row["rate"]) * n)), n)
        out[rule] = RuleRate(rate=rate, applicable=n, low=low, high=high)
    return out


def reliability_entry(episodes: Sequence[Any]) -> Reliability:
    """Success with its Wilson interval and pass^k (:data:`~experiments.library.evaluation.KS`)."""
    rel = reliability(episodes)
    n = int(rel["episodes"])
    _, low, high = wilson_ci(int(round(rel["success_rate"] * n)), n)
    return Reliability(success_rate=rel["success_rate"], success_low=low, success_high=high, episodes=n,
                       walk_away_rate=rel["walk_away_rate"], pass_k={k: rel[f"pass^{k}"] for k in KS})


def policy_group(name: str, learner: str | None = None) -> str:
    """The table a policy goes in (:data:`GROUP_ORDER`): what it reads and whether it uses the model."""
    if learner is not None:
        return findings.learner_group(learner)
    entry = agents.spec(name)
    if entry.kind == "oracle":
        return GROUP_ORACLE
    if entry.kind == "baseline":
        return GROUP_BASELINES
    if entry.kind == "guide":
        return GROUP_GUIDES
    if entry.kind == "exact":
        return GROUP_BELIEF if entry.memory else GROUP_FIXED
    return GROUP_SCRIPTED


REACH_TARGETS = (0.80, 0.85)
"""The normalized scores whose steps-to-reach the report gives per learner."""


def learning_curve(points: Sequence[Sequence[Sequence[float]]], refs: Reference | None, label: str = "",
                   source: str = "exact", seed: int = 0) -> Curve:
    """Normalized learning curves of several seeds (``points``: per seed, (step, value) pairs), with the plateau
    rule's verdict and the steps to reach :data:`REACH_TARGETS` (none with fewer than two checkpoints).

    ``refs`` normalizes the values (expected returns); None when they are normalized already.
    """
    width = min(len(p) for p in points)
    steps = [int(s) for s, _ in points[0][:width]]
    scores = [[float(v) if refs is None else normalize(v, refs.random, refs.oracle) for _, v in p[:width]]
              for p in points]
    curve = Curve(steps=steps, scores=scores, label=label, source=source)
    if width >= 2:
        verdict = plateau(steps, np.array(scores), seed=seed)
        reach = [Reach(**asdict(steps_to_reach(steps, np.array(scores), t, seed=seed))) for t in REACH_TARGETS]
        curve.convergence = Convergence(converged=verdict.converged, label=verdict.label, gain=verdict.gain,
                                        gain_low=verdict.gain_low, gain_high=verdict.gain_high,
                                        window_start=verdict.window_start, steps=verdict.steps,
                                        plateau_step=verdict.plateau_step, reach=reach)
    return curve


def example_transcripts(policy: str, context: PolicyContext, seeds: Sequence[int]) -> list[Transcript]:
    """Conversations of ``policy`` rendered as the env renders them (with hidden anger and trust)."""
    model = agents.make(policy, context)
    env = CustomerEnv(**{**context.env_kwargs(), "render_mode": "ansi"}, render_hidden=True)
    out = []
    for seed in seeds:
        obs, info = env.reset(seed=int(seed))
        state, start, done = None, np.ones(1, dtype=bool), False
        while not done:
            action, state = model.predict(obs[None], state=state, episode_start=start, deterministic=True)
            start = np.zeros(1, dtype=bool)
            obs, _, terminated, truncated, info = env.step(int(np.asarray(action).reshape(-1)[0]))
            done = terminated or truncated
        out.append(Transcript(seed=int(seed), outcome=info["outcome"], text=env.render()))
    return out


def faithfulness_tables(out: Path, max_turns: int, episodes: int, seed: int) -> dict[str, Any]:
    """The faithfulness main table of every variant, stored in ``out/faithfulness.json`` (resumable)."""
    def compute() -> dict[str, Any]:
        return {v: asdict(main_table(v, max_turns=max_turns, episodes=episodes, seed=seed)) for v in VARIANTS}

    data = cached(out / "faithfulness.json", {"max_turns": max_turns, "episodes": episodes, "seed": seed}, compute)
    return {v: structure(t, MainTable) for v, t in data.items()}


# ----------------------------------------------------------------------------- the report
def build_results(options: ReportOptions) -> Results:
    """Train, evaluate and compare: everything the report shows (also written as results.json).

    Raises:
        RuntimeError: when training runs failed (the others are stored; running again retries these).
    """
    plan = budget(options.budget_name)
    started = time.perf_counter()
    out = Path(options.out)
    ablate = all_ablated(options)
    trained = train_all(plan, out=options.out, seed=options.seed, persona=options.train_persona, ablate=ablate,
                        max_turns=options.max_turns, n_envs=options.n_envs, workers=options.workers,
                        progress=options.progress)
    main_persona = options.train_persona if options.train_persona in options.personas else options.personas[0]
    variant = variant_of(ablate)
    side = _start_study(options, variant, out)  # solves the study's models on the core evaluation leaves idle
    try:
        results = _evaluate(options, plan, out, ablate, trained, main_persona, variant)
        results.faithfulness = faithfulness_tables(out, options.max_turns, plan.eval_episodes, options.seed)
        if side is not None:
            side.join()
        results.sensitivity = robustness_of(options.sensitivity, options.study_samples, variant, out,
                                            options.max_turns, options.seed, options.workers)
    finally:
        if side is not None and side.is_alive():
            side.terminate()
    add_baselines(results)
    results.headline = Headline(persona=main_persona, variant=variant, focus=findings.focus_learner(results))
    results.headline.findings = findings.headline_findings(results)
    focus = results.headline.focus
    if focus:
        first_seed = [r["policy"] for r in trained[focus]][0]
        seeds = eval_seeds(options.seed, plan.eval_episodes)
        context = PolicyContext.create(persona=main_persona, ablate=ablate, max_turns=options.max_turns,
                                       seed=options.seed)
        results.transcripts = example_transcripts(first_seed, context, seeds[:3])
    results.settings.wall_seconds = time.perf_counter() - started
    return results


def add_baselines(results: Results, folder: Traversable | Path | None = None) -> Results:
    """Put the committed converged baselines beside the report's own learners (read from their ``baselines.json``,
    :func:`~.baselines.load_baselines`; ``folder``: the store, default the package's), or one line saying why not.

    The headline speaks of them only where they were trained on the report's own model
    (:func:`~experiments.library.findings.converged_groups`); otherwise the line says so.
    """
    results.baselines, results.baselines_note = load_baselines(folder)
    results.imitation, results.imitation_note = committed_imitation(findings.baseline_context(results), folder)
    if results.baselines is not None and not findings.converged_groups(results):
        trained = ", ".join(sorted(results.baselines.contexts)) or "no model"
        results.baselines_note = (f"The converged baselines ({STORE_NAME}) were trained on {trained}, not on this "
                                  f"report's model ({findings.baseline_context(results)}): the headline leaves them "
                                  "out.")
    return results


def _start_study(options: ReportOptions, variant: str, out: Path) -> Any:
    """Start the quick sensitivity study in a separate process (None when the report runs none).

    Evaluation and the brackets use one core, so the study's models are solved on the other
    meanwhile; :func:`~.robustness.robustness_of` later reads them back (and solves any that are missing).
    """
    if options.sensitivity is not None or not options.study_samples or variant not in VARIANTS:
        return None
    process = multiprocessing.get_context("spawn").Process(
        target=quick_sensitivity, args=(variant, options.study_samples, out / "sensitivity", options.max_turns),
        kwargs={"seed": options.seed, "workers": 1}, daemon=True)
    process.start()
    return process


def _evaluate(options: ReportOptions, plan: Budget, out: Path, ablate: list[str],
              trained: dict[str, list[dict[str, Any]]], main_persona: str, variant: str) -> Results:
    """Score, bracket and compare everything after training."""
    fixed = [n for n in agents.names() if not agents.spec(n).learned]
    learned = {learner: [r["policy"] for r in runs] for learner, runs in trained.items()}
    seeds = eval_seeds(options.seed, plan.eval_episodes)
    # the converged baselines' best seeds, where registered: their conversations are played for conformance only
    converged = [n for n in findings.CONVERGED_POLICIES.values() if n in agents.names() and n not in fixed]
    scored = fixed + [n for names in learned.values() for n in names]
    # conversations are played on the main persona only (reliability, conformance, strategies); every
    # persona gets its scores, exact or Monte Carlo
    grid = evaluate_grid(scored + converged, options.personas, seeds, out / "cells", ablate=ablate,
                         max_turns=options.max_turns, seed=options.seed, mc_episodes=plan.mc_episodes,
                         learned_mc_episodes=plan.learned_mc_episodes, progress=options.progress, play=[main_persona],
                         score=scored)
    references = {p: Reference(**grid.references[p]) for p in options.personas}
    results = Results(settings=Settings(
        budget=options.budget_name, main_persona=main_persona, train_persona=options.train_persona, variant=variant,
        ablate=list(ablate), algorithms={a: (s, n) for a, (s, n) in plan.learners.items()},
        training_seeds={a: [r["config"]["seed"] for r in runs] for a, runs in trained.items()},
        eval_episodes=plan.eval_episodes, mc_episodes=plan.mc_episodes, learned_mc_episodes=plan.learned_mc_episodes,
        eval_seeds=(seeds[0], seeds[-1]), max_turns=options.max_turns, n_envs=options.n_envs, versions=versions(),
        state_space=compile_model(options.train_persona, ablate).n_states, seed=options.seed),
        references=references)
    for persona in options.personas:
        context = grid.contexts[persona]
        results.brackets[persona] = cached_bracket(out, persona, context)
        results.fixed_sequence[persona] = fixed_sequence_entry(context, results.brackets[persona])

    groups = {name: [name] for name in fixed} | learned
    for persona in options.personas:
        row: dict[str, Score] = {}
        for name in fixed:
            row[name] = Score.of(grid.scores[(persona, name)], group=policy_group(name),
                                 solved_for_persona=agents.spec(name).kind in ("exact", "oracle"),
                                 memoryless=is_memoryless(name))
        for learner, names in learned.items():
            per_seed = [grid.scores[(persona, n)] for n in names]
            row[learner] = Score.of(score_seeds(per_seed, grid.references[persona], seed=options.seed),
                                    label=findings.learner_label(learner), group=policy_group(names[0], learner),
                                    memoryless=is_memoryless(names[0]),
                                    episodes_per_seed=max(v["episodes"] for v in per_seed))
        for score in row.values():
            if score.kind != "oracle":
                score.bracket = locate(score, results.brackets[persona])
        results.scores[persona] = row

    results.reliability = {g: reliability_entry(grid.pooled(main_persona, names)) for g, names in groups.items()}
    results.conformance = {g: rule_rates(grid.pooled(main_persona, names)) for g, names in groups.items()}
    results.conformance.update({n: rule_rates(grid.pooled(main_persona, [n])) for n in converged})
    if not any(n in results.conformance for n in findings.CONVERGED_POLICIES.values()):
        results.converged_note = ("The converged learners' conformance is left out: their best seeds are not "
                                  f"registered policies ({', '.join(findings.CONVERGED_POLICIES.values())}).")
    results.strategies = {g: move_by_turn(grid.pooled(main_persona, names), options.max_turns).tolist()
                          for g, names in groups.items()}
    train_refs = references.get(options.train_persona) or Reference(**reference_values(
        PolicyContext.create(persona=options.train_persona, ablate=ablate, max_turns=options.max_turns)))
    results.curves = {learner: learning_curve([r["curve"] for r in runs], train_refs, findings.learner_label(learner),
                                              source=runs[0].get("curve_source", "sampled"), seed=options.seed)
                      for learner, runs in trained.items()}
    refs = references[main_persona]
    span = refs.oracle - refs.random
    results.rule_costs = {r: RuleCostEntry(cost=c.cost if np.isfinite(c.cost) else None,
                                           normalized=c.cost / span if np.isfinite(c.cost) else None)
                          for r, c in rule_costs(grid.contexts[main_persona].tables, options.max_turns).items()}
    results.training = {a: [TrainingRun(seed=r["config"]["seed"], final_return=r["final_return"],
                                        wall_seconds=r["wall_seconds"], model=r["model"]) for r in runs]
                        for a, runs in trained.items()}
    return results


__all__ = [
    "GROUP_ORDER",
    "ReportOptions",
    "add_baselines",
    "all_ablated",
    "bracket_entry",
    "build_results",
    "cached_bracket",
    "example_transcripts",
    "fixed_sequence_entry",
    "learning_curve",
    "locate",
    "policy_group",
    "reliability_entry",
    "rule_rates",
    "variant_of",
]
