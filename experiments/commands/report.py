"""The research report: train, evaluate every policy, compare with the guides and the certified optimum, one command.

Trains the budget's learners (PPO, A2C, DQN and RecurrentPPO on the observation; PPO on
exact belief features, which uses the model's exact filter) on the mixture, through the
sweep engine's store (``<out>/runs``). Scores every policy on every persona over the same
seeds: exactly wherever the policy's move depends only on the current observation
(scripted policies and the MLP learners, each seed exactly, then an IQM across seeds with
a bootstrap interval), by Monte Carlo on at least 2,000 conversations otherwise (policies
with memory). Compares them with the certified bracket on the best observation-only policy
(``agents/exact/bracket.py``), shows what the guides say and what we assumed for the default
model and the guide-only variant, and how robust each headline conclusion is (a quick
sensitivity study, or an existing ``sensitivity.json``). Writes report.md, PNG figures and
results.json; every sentence with a number comes from ``library/findings.py``, a function
of results.json. Training runs, evaluation cells, brackets and sampled models are saved as
they finish: running the same command again skips what is done.

``--from STORE`` builds the report from a sweep study's results store instead of training.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np

from difficult_customer import agents
from difficult_customer.agents import PolicyContext
from difficult_customer.customer_models import PERSONA_NAMES, check_ablate, compile_model
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library import findings, plots
from difficult_customer.experiments.library.budgets import BudgetName, budget, eval_seeds
from difficult_customer.experiments.library.conformance import RULES, conformance
from difficult_customer.experiments.library.evaluation import (
    KS,
    evaluate_grid,
    is_memoryless,
    move_by_turn,
    reliability,
    score_seeds,
)
from difficult_customer.experiments.library.io import atomic_write_json, atomic_write_text, read_json
from difficult_customer.experiments.library.scores import normalize
from difficult_customer.experiments.library.stats import wilson_ci
from difficult_customer.experiments.library.training import train_all, versions

try:  # tyro is the cli extra; the report runs without it as a library
    import tyro

    _FROM = tyro.conf.arg(name="from")
except ImportError:  # pragma: no cover - depends on the install
    _FROM = None

PERSONAS = ("mixture", "genuine_grievance", "naturally_difficult", "belligerent")
VARIANT_NAMES = ("default", "guide_only")
QUICK_STUDY_SAMPLES = 16
"""Latin-hypercube models of the report's own quick sensitivity study (default budget)."""
STUDY_POINTS = 64
"""PBVI belief points of the quick study's brackets (the report's own bracket uses more; the depth is the same)."""


@dataclass
class Config:
    """Settings of the report."""

    budget: BudgetName = "default"
    """Named budget (experiments/library/budgets.py): default (5 seeds per learner, about ten minutes on two cores), quick (3 seeds, a few minutes), tiny (tests)."""
    quick: bool = False
    """Shorthand for --budget quick."""
    out: str = "results/report"
    """Folder for report.md, results.json, the figures, the training store, evaluation cells and cached solutions."""
    seed: int = 0
    """Training seeds are seed, seed + 1, ...; evaluation seeds are derived from it too."""
    variant: Literal["default", "guide_only"] = "default"
    """Customer model: default (every assumption on) or guide_only (every assumption off); the headline names it."""
    train_persona: str = "mixture"
    """Persona or mixture the learners train on; the report leads with it."""
    personas: list[str] = field(default_factory=lambda: list(PERSONAS))
    """Personas every policy is evaluated on."""
    ablate: list[str] = field(default_factory=list)
    """Claims (C1-C10) or other switches of the customer model turned off on top of the variant, e.g. C4 C6."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of each conversation."""
    workers: int = 2
    """CPUs the training runs (and the quick sensitivity study) are spread over."""
    n_envs: int = 8
    """Environments stepped together while training."""
    sensitivity: str | None = None
    """An existing sensitivity.json (difficult-customer sensitivity) to read the robustness of each conclusion from."""
    robustness_samples: int | None = None
    """Models of the report's own quick sensitivity study (0: none; default: 16 with the default budget, 0 otherwise). Ignored with --sensitivity."""
    from_store: Annotated[str | None, _FROM] = None
    """Build the report from a sweep study's results store (difficult-customer sweep) instead of training."""
    progress: bool = True
    """Show progress bars on stderr."""

    @property
    def budget_name(self) -> str:
        """The budget used: quick with --quick, else --budget."""
        return "quick" if self.quick else self.budget

    @property
    def switched_off(self) -> list[str]:
        """Every switch turned off: the variant's and ``ablate``."""
        from difficult_customer.customer_models.switches import check_variant

        return sorted(set(check_variant(self.variant)) | set(self.ablate))

    @property
    def study_samples(self) -> int:
        """Models of the quick sensitivity study this report runs (0: none)."""
        if self.sensitivity is not None:
            return 0
        if self.robustness_samples is not None:
            return self.robustness_samples
        return QUICK_STUDY_SAMPLES if self.budget_name == "default" else 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        budget(self.budget_name)
        if self.variant not in VARIANT_NAMES:
            raise ValueError(f"unknown variant {self.variant!r}; allowed: {', '.join(VARIANT_NAMES)}")
        check_ablate(self.ablate)
        for persona in [self.train_persona, *self.personas]:
            if persona not in PERSONA_NAMES:
                raise ValueError(f"unknown persona {persona!r}; allowed: {', '.join(PERSONA_NAMES)}")
        if not self.personas:
            raise ValueError("personas=[]; allowed is one or more personas")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers={self.workers}; allowed is an integer >= 1")
        if self.robustness_samples is not None and (self.robustness_samples < 0 or self.robustness_samples == 1):
            raise ValueError(f"robustness_samples={self.robustness_samples}; allowed is 0 or an integer >= 2")
        if self.sensitivity is not None and not Path(self.sensitivity).is_file():
            raise ValueError(f"sensitivity={self.sensitivity!r} is not a file; give a sensitivity.json written by "
                             "difficult-customer sensitivity")
        if self.from_store is not None and not (Path(self.from_store) / "runs.sqlite").is_file():
            raise ValueError(f"from={self.from_store!r} is not a results store (no runs.sqlite in it); give the "
                             "folder of a difficult-customer sweep")


ReportConfig = Config
"""The report's settings under a descriptive name, for library callers."""


# ============================================================================ small helpers
def _cached(path: Path, key: dict[str, Any], compute: Callable[[], Any]) -> Any:
    """``compute()``, stored atomically in ``path`` under ``key`` and read back while the key matches."""
    stored = read_json(path)
    digest = json.dumps(key, sort_keys=True, default=str)
    if stored is not None and stored.get("key") == digest:
        return stored["value"]
    value = compute()
    atomic_write_json(path, {"key": digest, "value": value})
    return value


def variant_of(switched_off: Sequence[str]) -> str:
    """``default`` (nothing off), ``guide_only`` (every assumption off), or ``custom``."""
    from difficult_customer.customer_models.switches import VARIANTS

    off = set(switched_off)
    for name, switches in VARIANTS.items():
        if off == set(switches):
            return name
    return "custom"


def _precision() -> dict[str, int]:
    """The bracket settings of the report (part of the key its cached brackets are stored under)."""
    from difficult_customer.agents.exact.bracket import PRECISE

    return dict(PRECISE)


def bracket_entry(context: PolicyContext) -> dict[str, Any]:
    """The certified bracket of ``context`` at the report's precision (:data:`~agents.exact.bracket.PRECISE`)."""
    from difficult_customer.agents.exact.bracket import PRECISE, certified_bracket

    b = certified_bracket(context, **PRECISE)
    low, high = b.normalized
    return {"lower": b.lower, "upper": b.upper, "oracle": b.oracle, "random": b.random, "lower_normalized": low,
            "upper_normalized": high, "pbvi_lower": b.pbvi_lower, "fib": b.fib, "points": b.points, "depth": b.depth,
            "lower_depth": b.lower_depth, "max_turns": b.max_turns, "seconds": b.seconds}


def fixed_sequence_entry(context: PolicyContext, bracket: dict[str, Any]) -> dict[str, Any]:
    """The best fixed sequence found and a proven upper bound on every fixed sequence (normalized too)."""
    from difficult_customer.agents.exact.open_loop import solve_open_loop

    plan = solve_open_loop(context.tables, context.max_turns)
    bound = min(float(plan.upper_bound), bracket["upper"])  # a fixed sequence reads only observations
    refs = (bracket["random"], bracket["oracle"])
    return {"value": float(plan.value), "upper_bound": bound, "optimal": bool(plan.optimal), "moves": plan.names(),
            "normalized": normalize(plan.value, *refs), "bound_normalized": normalize(bound, *refs)}


def locate_entry(score: dict[str, Any], bracket: dict[str, Any]) -> dict[str, Any]:
    """Where a score lies relative to the bracket, from its interval (normalized)."""
    lower, upper = bracket["lower_normalized"], bracket["upper_normalized"]
    point, low, high = score["normalized"], score["normalized_low"], score["normalized_high"]
    position = "above" if low > upper else "below" if high < lower else "within" if lower <= low and high <= upper \
        else "overlaps"
    return {"position": position, "gap_low": max(lower - high, 0.0), "gap_high": upper - low,
            "share_low": point / upper if upper > 0 else None, "share_high": point / lower if lower > 0 else None}


def conformance_with_intervals(episodes: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """:func:`conformance` with a Wilson interval on each rate (``low``, ``high``)."""
    out: dict[str, dict[str, Any]] = {}
    for rule, row in conformance(episodes).items():
        n = int(row["applicable"] or 0)
        if row["rate"] is None or n == 0:
            out[rule] = {"rate": None, "applicable": n, "low": None, "high": None}
            continue
        kept = int(round(float(row["rate"]) * n))
        rate, low, high = wilson_ci(kept, n)
        out[rule] = {"rate": rate, "applicable": n, "low": low, "high": high}
    return out


def policy_group(name: str, learner: str | None = None) -> str:
    """The table a policy goes in: what it reads and whether it uses the model."""
    if learner is not None:
        return findings.learner_group(learner)
    entry = agents.spec(name)
    if entry.kind == "oracle":
        return "reference: sees the hidden state"
    if entry.kind == "baseline":
        return "baselines"
    if entry.kind == "guide":
        return "guides"
    if entry.kind == "exact" and entry.memory:
        return "exact, belief-based: uses the model's exact filter"
    if entry.kind == "exact":
        return "exact, fixed sequence of moves"
    return "scripted"


GROUP_ORDER = ("reference: sees the hidden state", "baselines", "guides", "scripted", "exact, fixed sequence of moves",
               "exact, belief-based: uses the model's exact filter", findings.GROUP_OBSERVATION, findings.GROUP_FILTER)


def solved_for_persona(name: str, learner: str | None = None) -> bool:
    """Whether the policy is solved anew for the persona it is scored on (it knows the persona)."""
    return learner is None and agents.spec(name).kind in ("exact", "oracle")


# ============================================================================ robustness
def quick_sensitivity(variant: str, samples: int, out: Path, max_turns: int, seed: int = 0,
                      workers: int = 1) -> dict[str, Any]:
    """A quick sensitivity study of the headline conclusions: their share of ``samples`` plausible models.

    Draws ``samples`` models from the documented ranges of every assumption and reading
    (a Latin hypercube, as ``difficult-customer sensitivity``), solves each exactly at a
    coarser precision (``library/sensitivity.py``'s :func:`solve_sample`: bracket with
    :data:`STUDY_POINTS` belief points and the report's expectimax depth, no conformance) and reports, per conclusion, the share of models in which it
    holds with a Wilson interval. Each solved model is saved in ``out`` (resumable).

    Raises:
        ValueError: for an unknown variant or fewer than 2 samples.
    """
    from difficult_customer.experiments.library.sensitivity import (
        Design,
        SolveSettings,
        default_conclusions,
        design_fingerprint,
        draw,
        finite_record,
        solve_models,
        space_for,
    )

    if samples < 2:
        raise ValueError(f"samples={samples}; allowed is an integer >= 2")
    space = space_for(variant)
    design = Design(lhs_samples=samples, index_trajectories=2, seed=seed)
    settings = SolveSettings(max_turns=max_turns, bracket_points=STUDY_POINTS, bracket_depth=_precision()["depth"],
                             conformance_episodes=0, fixed_sequence_nodes=200, seed=seed)
    fingerprint = design_fingerprint(space.problem, design, asdict(settings))
    jobs = [("default", tuple(space.default_x()))] + [
        (s.key, s.x) for s in draw(space.problem, design) if s.design == "lhs"]
    records = solve_models(space, jobs, settings, out / variant, fingerprint, workers)
    models = [finite_record(records[key]) for key, _ in jobs[1:]]
    default = finite_record(records["default"])
    conclusions = {}
    for c in default_conclusions():
        held = sum(c.holds(r) for r in models)
        share, low, high = wilson_ci(held, len(models))
        conclusions[c.id] = {"text": c.text, "share": share, "share_ci": [low, high],
                             "holds_in_default": c.holds(default)}
    return {"source": f"the report's quick study ({samples} models)", "variant": variant, "samples": samples,
            "conclusions": conclusions}


def read_sensitivity(path: str | Path, variant: str) -> dict[str, Any] | None:
    """The robustness of each conclusion for ``variant`` from a ``sensitivity.json`` (None if it lacks the variant).

    Raises:
        ValueError: for a file that is not a sensitivity.json.
    """
    data = read_json(Path(path))
    if not isinstance(data, dict) or "variants" not in data:
        raise ValueError(f"{str(path)!r} is not a sensitivity.json (no 'variants' in it)")
    study = data["variants"].get(variant)
    if study is None:
        return None
    return {"source": str(path), "variant": variant, "samples": study.get("lhs_samples"),
            "conclusions": {c["id"]: {"text": c["text"], "share": c["share"], "share_ci": list(c["share_ci"]),
                                      "holds_in_default": c.get("holds_in_default")} for c in study["conclusions"]}}


# ============================================================================ faithfulness
def faithfulness_tables(out: Path, max_turns: int, episodes: int, seed: int) -> dict[str, Any]:
    """The main table (``library/faithfulness.py``) of the default model and the guide-only variant, as plain data."""
    from difficult_customer.experiments.library.faithfulness import main_table

    def compute() -> dict[str, Any]:
        return {v: asdict(main_table(v, max_turns=max_turns, episodes=episodes, seed=seed)) for v in VARIANT_NAMES}

    return _cached(out / "faithfulness.json", {"max_turns": max_turns, "episodes": episodes, "seed": seed}, compute)


def main_table_of(data: dict[str, Any]) -> Any:
    """A :class:`~experiments.library.faithfulness.MainTable` back from its plain data."""
    from difficult_customer.agents.exact.rule_cost import RuleCost
    from difficult_customer.experiments.library.faithfulness import MainTable

    fields = dict(data)
    fields["switched_off"] = tuple(fields["switched_off"])
    fields["best_fixed_moves"] = tuple(fields["best_fixed_moves"])
    fields["rule_costs"] = {r: RuleCost(**c) for r, c in fields["rule_costs"].items()}
    return MainTable(**fields)


# ============================================================================ building the results
def build_results(config: Config) -> dict[str, Any]:
    """Everything the report shows, as plain data (also written as results.json)."""
    config.validate()
    if config.from_store is not None:
        return build_store_results(config)
    plan = budget(config.budget_name)
    started = time.perf_counter()
    out = Path(config.out)
    importlib.import_module("difficult_customer.agents.exact")  # registers the exact policies
    ablate = config.switched_off

    trained = train_all(plan, out=config.out, seed=config.seed, persona=config.train_persona, ablate=ablate,
                        max_turns=config.max_turns, n_envs=config.n_envs, workers=config.workers,
                        progress=config.progress)
    main_persona = config.train_persona if config.train_persona in config.personas else config.personas[0]
    variant = variant_of(ablate)
    side = _start_study(config, variant, out)  # solves the study's models on the core evaluation leaves idle
    try:
        return _evaluate(config, plan, started, out, ablate, trained, main_persona, variant, side)
    finally:
        if side is not None and side.is_alive():
            side.terminate()


def _start_study(config: Config, variant: str, out: Path) -> Any:
    """Start the quick sensitivity study in a separate process (None when the report runs none).

    Evaluation and the brackets use one core, so the study's models are solved on the other
    meanwhile; :func:`robustness_of` later reads them back (and solves any that are missing).
    """
    if config.sensitivity is not None or not config.study_samples or variant not in VARIANT_NAMES:
        return None
    import multiprocessing

    process = multiprocessing.get_context("spawn").Process(
        target=quick_sensitivity, args=(variant, config.study_samples, out / "sensitivity", config.max_turns),
        kwargs={"seed": config.seed, "workers": 1}, daemon=True)
    process.start()
    return process


def _evaluate(config: Config, plan: Any, started: float, out: Path, ablate: list[str],
              trained: dict[str, list[dict[str, Any]]], main_persona: str, variant: str,
              side: Any = None) -> dict[str, Any]:
    """Score, bracket and compare everything after training (the body of :func:`build_results`).

    ``side``: the process solving the quick sensitivity study, joined before its models are read back.
    """
    fixed = [n for n in agents.names() if not agents.spec(n).learned]
    learned = {learner: [r["policy"] for r in runs] for learner, runs in trained.items()}
    seeds = eval_seeds(config.seed, plan.eval_episodes)
    all_names = fixed + [n for names in learned.values() for n in names]
    # conversations are played on the main persona only (reliability, conformance, strategies); every
    # persona gets its scores, exact or Monte Carlo
    grid = evaluate_grid(all_names, config.personas, seeds, out / "cells", ablate=ablate, max_turns=config.max_turns,
                         seed=config.seed, mc_episodes=plan.mc_episodes, learned_mc_episodes=plan.learned_mc_episodes,
                         progress=config.progress, play=[main_persona])
    references = grid.references
    brackets: dict[str, dict[str, Any]] = {}
    fixed_sequences: dict[str, dict[str, Any]] = {}
    for persona in config.personas:
        context = grid.contexts[persona]
        key = {"persona": persona, "ablate": ablate, "max_turns": config.max_turns, "precision": _precision()}
        brackets[persona] = _cached(out / "brackets" / f"{persona}.json", key, lambda c=context: bracket_entry(c))
        fixed_sequences[persona] = fixed_sequence_entry(context, brackets[persona])

    scores: dict[str, dict[str, Any]] = {persona: {} for persona in config.personas}
    groups = {name: [name] for name in fixed} | learned
    reliabilities = {main_persona: {g: reliability(grid.pooled(main_persona, names)) for g, names in groups.items()}}
    for rel in reliabilities[main_persona].values():
        rel["success_low"], rel["success_high"] = wilson_ci(int(round(rel["success_rate"] * rel["episodes"])),
                                                            rel["episodes"])[1:]
    for persona in config.personas:
        for name in fixed:
            scores[persona][name] = {**grid.scores[(persona, name)], "group": policy_group(name),
                                     "solved_for_persona": solved_for_persona(name),
                                     "memoryless": is_memoryless(name)}
        for learner, names in learned.items():
            per_seed = [grid.scores[(persona, n)] for n in names]
            scores[persona][learner] = {
                **score_seeds(per_seed, references[persona], seed=config.seed), "label": findings.learner_label(learner),
                "group": policy_group(names[0], learner), "solved_for_persona": False,
                "memoryless": is_memoryless(names[0]), "episodes_per_seed": max(v["episodes"] for v in per_seed)}
        for v in scores[persona].values():
            if v["kind"] != "oracle":
                v["bracket"] = locate_entry(v, brackets[persona])

    conf = {g: conformance_with_intervals(grid.pooled(main_persona, names)) for g, names in groups.items()}
    strategies = {g: move_by_turn(grid.pooled(main_persona, names), config.max_turns).tolist()
                  for g, names in groups.items()}
    from difficult_customer.experiments.library.scores import reference_values

    train_refs = (references[config.train_persona] if config.train_persona in references else reference_values(
        PolicyContext.create(persona=config.train_persona, ablate=ablate, max_turns=config.max_turns)))
    curves = {}
    for learner, runs in trained.items():
        refs = train_refs
        steps = [s for s, _ in runs[0]["curve"]]
        rows = [[normalize(v, refs["random"], refs["oracle"]) for _, v in r["curve"]] for r in runs]
        width = min(len(r) for r in rows)
        curves[learner] = {"steps": steps[:width], "scores": [r[:width] for r in rows],
                           "label": findings.learner_label(learner)}

    main_context = grid.contexts[main_persona]
    from difficult_customer.agents.exact.rule_cost import rule_costs

    span = references[main_persona]["oracle"] - references[main_persona]["random"]
    costs = {r: {"cost": c.cost if np.isfinite(c.cost) else None,
                 "normalized": c.cost / span if np.isfinite(c.cost) else None}
             for r, c in rule_costs(main_context.tables, config.max_turns).items()}
    results: dict[str, Any] = {
        "settings": {
            "budget": config.budget_name,
            "algorithms": {a: {"steps": s, "seeds": n} for a, (s, n) in plan.learners.items()},
            "training_seeds": {a: [r["config"]["seed"] for r in runs] for a, runs in trained.items()},
            "train_persona": config.train_persona,
            "main_persona": main_persona,
            "variant": variant,
            "ablate": list(ablate),
            "eval_episodes": plan.eval_episodes,
            "mc_episodes": plan.mc_episodes,
            "learned_mc_episodes": plan.learned_mc_episodes,
            "eval_seeds": [seeds[0], seeds[-1]],
            "max_turns": config.max_turns,
            "n_envs": config.n_envs,
            "versions": versions(),
            "state_space": compile_model(config.train_persona, ablate).n_states,
            "config": asdict(config),
        },
        "references": references,
        "brackets": brackets,
        "fixed_sequence": fixed_sequences,
        "scores": scores,
        "reliability": reliabilities,
        "conformance": conf,
        "rule_costs": costs,
        "strategies": strategies,
        "curves": curves,
        "training": {a: [{"seed": r["config"]["seed"], "final_return": r["final_return"], "wall_seconds":
                          r["wall_seconds"], "model": r["model"]} for r in runs] for a, runs in trained.items()},
    }
    results["faithfulness"] = faithfulness_tables(out, config.max_turns, plan.eval_episodes, config.seed)
    if side is not None:
        side.join()
    results["sensitivity"] = robustness_of(config, variant, out)
    results["headline"] = {"persona": main_persona, "variant": variant, "focus": findings.focus_learner(results),
                           "findings": findings.headline_findings(results)}
    focus = results["headline"]["focus"]
    if focus:
        results["transcripts"] = example_transcripts(learned[focus][0], main_context, seeds[:3])
    results["settings"]["wall_seconds"] = time.perf_counter() - started
    return results


def robustness_of(config: Config, variant: str, out: Path) -> dict[str, Any] | None:
    """The sensitivity entry of the results: read from --sensitivity, or the quick study, or None."""
    if config.sensitivity is not None:
        return read_sensitivity(config.sensitivity, variant)
    if config.study_samples and variant in VARIANT_NAMES:
        return quick_sensitivity(variant, config.study_samples, out / "sensitivity", config.max_turns,
                                 seed=config.seed, workers=config.workers)
    return None


def example_transcripts(policy: str, context: PolicyContext, seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Conversations of ``policy`` rendered as the env renders them (with hidden anger and trust)."""
    from difficult_customer.envs.customer_env import CustomerEnv

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
        out.append({"seed": int(seed), "outcome": info["outcome"], "text": env.render()})
    return out


# ============================================================================ from a sweep store
def build_store_results(config: Config) -> dict[str, Any]:
    """The report's results from a sweep study's results store: every trained model scored, IQMs per group.

    Each run's model (an artifact of the store) is scored like the report's own learners:
    exactly if it reads only the current observation, else by Monte Carlo on the budget's
    ``learned_mc_episodes`` conversations. Runs that differ only in their seed form a group
    (its IQM across seeds with a bootstrap interval that includes evaluation noise). Each
    (persona, ablation, turn limit) of the store gets its references, certified bracket and
    exact guide scores. Scores are cached in ``<out>/store_scores.json`` (resumable).
    """
    from difficult_customer.experiments.library.sweep import Store, read_rows
    from difficult_customer.experiments.library.sweep.results import SEED_KEY, setting_columns

    started = time.perf_counter()
    importlib.import_module("difficult_customer.agents.exact")
    plan = budget(config.budget_name)
    out = Path(config.out)
    store = Store(config.from_store)
    rows = [r for r in read_rows(store) if r["kind"] == "train"]
    if not rows:
        raise ValueError(f"from={config.from_store!r}: the store holds no training runs")
    raw = {r["run_id"]: r for r in store.rows()}
    cache_path = out / "store_scores.json"
    cache = read_json(cache_path) or {}
    contexts: dict[tuple[str, str, int], dict[str, Any]] = {}
    run_scores = {}
    for row in rows:
        settings = raw[row["run_id"]]["settings"]
        ctx_key = (settings["persona"], "-".join(settings["ablate"]) or "none", int(settings["max_turns"]))
        if ctx_key not in contexts:
            context = PolicyContext.create(persona=settings["persona"], ablate=settings["ablate"],
                                           max_turns=int(settings["max_turns"]), seed=config.seed)
            from difficult_customer.experiments.library.scores import reference_values

            refs = reference_values(context)
            key = {"persona": ctx_key[0], "ablate": settings["ablate"], "max_turns": ctx_key[2],
                   "precision": _precision()}
            name = f"{ctx_key[0]}__{ctx_key[1]}__{ctx_key[2]}"
            bracket = _cached(out / "brackets" / f"{name}.json", key, lambda c=context: bracket_entry(c))
            guides = {}
            from difficult_customer.experiments.library.evaluation import policy_value

            for g in agents.names("guide"):
                guides[g] = normalize(policy_value(g, context)["return"], refs["random"], refs["oracle"])
            contexts[ctx_key] = {"context": context, "references": refs, "bracket": bracket, "guides": guides}
        entry = contexts[ctx_key]
        model = str(store.artifact_dir(row["run_id"]) / "model.zip")
        score_key = f"{row['run_id']}:{plan.learned_mc_episodes}:{config.seed}"
        if score_key not in cache:
            from difficult_customer.experiments.library.evaluation import policy_value

            cache[score_key] = policy_value(model, entry["context"], mc_episodes=plan.learned_mc_episodes)
            atomic_write_json(cache_path, cache)
        run_scores[row["run_id"]] = (ctx_key, cache[score_key])
    keys = [k for k in setting_columns(rows) if k != SEED_KEY]
    varying = [k for k in keys if len({r.get(k) for r in rows}) > 1]
    grouped: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        grouped.setdefault(tuple(row.get(k) for k in keys), []).append(row)
    group_rows = []
    for members in grouped.values():
        members = sorted(members, key=lambda m: m.get(SEED_KEY) or 0)  # seed order, as the report's own learners
        ctx_key = run_scores[members[0]["run_id"]][0]
        entry = contexts[ctx_key]
        per_seed = [run_scores[m["run_id"]][1] for m in members]
        score = score_seeds(per_seed, entry["references"], seed=config.seed)
        label = {k: members[0].get(k) for k in varying} or {"algo": members[0].get("algo")}
        learner = members[0]["algo"] + ("_belief" if members[0].get("observation") == "belief" else "")
        group_rows.append({"label": ", ".join(f"{k}={v}" for k, v in label.items()), "settings": label,
                           "learner": learner, "group": findings.learner_group(learner),
                           "context": list(ctx_key), "training_seeds": sorted(m.get(SEED_KEY) for m in members),
                           **score, "bracket": locate_entry(score, entry["bracket"]),
                           "curve": _store_curve(raw, members, entry["references"])})
    group_rows.sort(key=lambda g: (g["group"], -g["normalized"]))
    results = {
        "settings": {"from": str(config.from_store), "runs": len(rows), "groups": len(group_rows), "varying": varying,
                     "budget": config.budget_name, "learned_mc_episodes": plan.learned_mc_episodes,
                     "config": asdict(config), "versions": versions()},
        "contexts": {"/".join(map(str, k)): {"references": v["references"], "bracket": v["bracket"],
                                             "guides": v["guides"]} for k, v in contexts.items()},
        "groups": group_rows,
    }
    variant = variant_of(raw[rows[0]["run_id"]]["settings"]["ablate"])
    if config.sensitivity is not None:
        results["sensitivity"] = read_sensitivity(config.sensitivity, variant if variant != "custom" else "default")
    results["settings"]["wall_seconds"] = time.perf_counter() - started
    return results


def _store_curve(raw: dict[str, dict[str, Any]], members: Sequence[dict[str, Any]],
                 refs: dict[str, float]) -> dict[str, Any] | None:
    """The learning curves of a group's runs (normalized), from their stored results (``raw``: run id -> store row)."""
    curves = []
    for m in members:
        curve = raw[m["run_id"]]["result"].get("curve")
        if curve:
            curves.append(curve)
    if not curves:
        return None
    width = min(len(c) for c in curves)
    return {"steps": [int(s) for s, _ in curves[0][:width]],
            "scores": [[normalize(v, refs["random"], refs["oracle"]) for _, v in c[:width]] for c in curves]}


# ============================================================================ formatting
def fmt(x: float | None, digits: int = 3) -> str:
    """The one number format of the report (tests parse it back); no ``-0.000``."""
    if x is None:
        return "n/a"
    return f"{0.0 if abs(x) < 0.5 * 10**-digits else x:.{digits}f}"


def interval(low: float, high: float) -> str:
    """``[low, high]`` with as many decimals (3 to 6) as it takes for the two ends to differ.

    Raises:
        ValueError: for an interval of zero width (print the value as exact instead).
    """
    if not high > low:
        raise ValueError(f"interval [{low!r}, {high!r}] has zero width; print the value as exact, not as an interval")
    for digits in range(3, 7):
        if fmt(low, digits) != fmt(high, digits):
            return f"[{fmt(low, digits)}, {fmt(high, digits)}]"
    return f"[{low:.3e}, {high:.3e}]"


def score_cell(v: dict[str, Any]) -> str:
    """A normalized score as the report prints it: exact, one seed, or with its interval (never of zero width)."""
    point, low, high = v["normalized"], v["normalized_low"], v["normalized_high"]
    if v.get("source") == "exact":
        return f"{fmt(point)} (exact)"
    if v.get("source") == "iqm":
        n = int(v.get("seeds", len(v.get("per_seed", [])) or 1))
        if n == 1:
            if not high > low:
                return f"{fmt(point)} (1 seed, exact)"
            return f"{fmt(point)} {interval(low, high)} (1 seed, {v.get('episodes_per_seed', 0)} conversations)"
        if not high > low:
            return f"{fmt(point)} (all {n} seeds equal, exact)"
        return f"{fmt(point)} {interval(low, high)} (IQM of {n} seeds)"
    if not high > low:
        return f"{fmt(point)} (no spread in {v.get('episodes', 0)} conversations)"
    return f"{fmt(point)} {interval(low, high)} ({v.get('episodes', 0)} conversations)"


def rate_cell(entry: dict[str, Any] | None) -> str:
    """A conformance rate with its Wilson interval (``n/a`` where the rule never applied)."""
    if entry is None or entry.get("rate") is None:
        return "n/a"
    low, high = entry["low"], entry["high"]
    return f"{fmt(entry['rate'])} {interval(low, high)}" if high > low else fmt(entry["rate"])


def _how(v: dict[str, Any]) -> str:
    if v.get("source") == "exact":
        return "exact"
    if v.get("source") == "iqm":
        per = "exact per seed" if v.get("exact_per_seed") else f"{v.get('episodes_per_seed', 0)} conversations per seed"
        return f"{v.get('seeds', 1)} seed{'s' if v.get('seeds', 1) > 1 else ''}, {per}"
    return f"Monte Carlo, {v.get('episodes', 0)} conversations"


def ordered(results: dict[str, Any]) -> list[str]:
    """The policies of the main persona in table order: by group (:data:`GROUP_ORDER`), then as scored."""
    sc = results["scores"][results["headline"]["persona"]]
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}
    return sorted(sc, key=lambda n: rank.get(sc[n]["group"], len(rank)))


def row_name(results: dict[str, Any], name: str) -> str:
    """A policy's name in a table row, marked when it uses the model's exact filter."""
    v = results["scores"][results["headline"]["persona"]].get(name, {})
    return f"{name} (model's filter)" if v.get("group") == findings.GROUP_FILTER else name


def _position(v: dict[str, Any]) -> str:
    b = v.get("bracket")
    if not b:
        return "—"
    return f"{b['position']} (gap {fmt(b['gap_low'])} to {fmt(b['gap_high'])})"


# ============================================================================ sections
Section = Callable[[dict[str, Any]], list[str]]
"""A report section: the results in, markdown lines out (empty to leave the section out)."""


def _robust(finding: dict[str, Any]) -> str:
    shares = finding.get("robustness") or {}
    if not shares:
        return ""
    return " *Robustness: " + "; ".join(f"{c} {s}" for c, s in shares.items()) + ".*"


def section_headline(results: dict[str, Any]) -> list[str]:
    """The findings the report leads with (``library/findings.py``), each with its robustness where known."""
    h = results["headline"]
    refs = results["references"][h["persona"]]
    out = ["## Headline", ""]
    out += [f"- {f['sentence']}{_robust(f)}" for f in h["findings"]]
    sens = results.get("sensitivity")
    note = (f" Robustness: the share of plausible models (sampled over every assumption's range, solved exactly) in "
            f"which the conclusion holds, with a 95% Wilson interval; from {sens['source']}." if sens else
            " No sensitivity study was run for this report (pass --sensitivity PATH or --robustness-samples N).")
    out += ["", f"Scores are normalized: 0 is the random policy ({fmt(refs['random'])} mean return, exact), 1 the "
            f"oracle that sees the hidden state ({fmt(refs['oracle'])}, exact).{note}", ""]
    return out


def section_bracket(results: dict[str, Any]) -> list[str]:
    """The certified bracket on the best observation-only policy, per persona."""
    if not results.get("brackets"):
        return []
    some = next(iter(results["brackets"].values()))
    out = ["## The certified optimum", "",
           "The best policy that reads only the observations (any function of the whole conversation so far) cannot "
           "be computed exactly for this turn limit; it is bracketed by two exact numbers. Lower end: the exact value "
           f"of an actual policy (PBVI plans, {some['points']} belief points per turn). Upper end: the fast informed "
           f"bound with {some['depth']} turns of exact expectimax in front, a proven upper bound on every "
           "observation-only policy. Neither is sampled.", "",
           "| persona | lower (normalized) | upper (normalized) | width | lower (raw) | upper (raw) | oracle (raw) |",
           "|---|---|---|---|---|---|---|"]
    for persona, b in results["brackets"].items():
        out.append(f"| {persona} | {fmt(b['lower_normalized'])} | {fmt(b['upper_normalized'])} | "
                   f"{fmt(b['upper_normalized'] - b['lower_normalized'])} | {fmt(b['lower'])} | {fmt(b['upper'])} | "
                   f"{fmt(b['oracle'])} |")
    return [*out, ""]


def section_scores(results: dict[str, Any]) -> list[str]:
    """Every policy's score on the main persona, in groups by what it reads, against the bracket."""
    persona = results["headline"]["persona"]
    sc = results["scores"][persona]
    b = results["brackets"][persona]
    out = ["## Scores", "", f"Normalized scores on {persona}; the last column says where each lies against the "
           f"certified bracket [{fmt(b['lower_normalized'])}, {fmt(b['upper_normalized'])}] (gap: how far below the "
           "best observation-only policy it is, at least and at most, from its interval).", ""]
    for group in [g for g in GROUP_ORDER if any(v["group"] == g for v in sc.values())]:
        out += [f"### {group[0].upper()}{group[1:]}", "", "| policy | score | how scored | against the bracket |",
                "|---|---|---|---|"]
        for name, v in sc.items():
            if v["group"] == group:
                label = v.get("label", name)
                shown = name if label == name else f"{name}: {label}"
                out.append(f"| {shown} | {score_cell(v)} | {_how(v)} | {_position(v)} |")
        out.append("")
    algos = results["settings"]["algorithms"]
    out += ["Exact: the expected return computed from the model's tables, no sampling (every policy whose move "
            "depends only on the current observation, the learned MLPs included, each seed). Sampled: policies with "
            f"memory, on {results['settings']['mc_episodes']} conversations (exact policies) or "
            f"{results['settings']['learned_mc_episodes']} per seed (learners), 95% interval. Learners: interquartile "
            "mean over seeds (" + ", ".join(f"{a} {v['seeds']}" for a, v in algos.items()) + ") with a 95% stratified "
            "bootstrap interval that includes each seed's evaluation noise. The learners that use the model's exact "
            "filter (belief features) are kept apart from those that read only the observations.", "",
            "![scores](scores.png)", ""]
    return out


def section_personas(results: dict[str, Any]) -> list[str]:
    """Every policy on every persona, labelled by whether it was solved for that persona."""
    personas = list(results["scores"])
    if len(personas) < 2:
        return []
    names = ordered(results)
    train = results["settings"]["train_persona"]
    out = ["## Scores by persona", "",
           f"Read this table like with like. Rows marked *solved for the persona* (the oracle and the exact policies) "
           f"are computed anew for each persona: they know which persona they face. The learned policies were "
           f"trained on {train} and do not; the scripted policies are the same script everywhere. Compare within "
           "each kind, not across.", "",
           "| policy | solved for the persona | " + " | ".join(personas) + " |",
           "|---|---|" + "---|" * len(personas)]
    for n in names:
        v0 = results["scores"][personas[0]][n]
        cells = [score_cell(results["scores"][p][n]) for p in personas]
        out.append(f"| {row_name(results, n)} | {'yes' if v0.get('solved_for_persona') else 'no'} | "
                   + " | ".join(cells) + " |")
    return [*out, ""]


def section_reliability(results: dict[str, Any]) -> list[str]:
    """Success (Wilson interval) and pass^k on the main persona."""
    persona = results["headline"]["persona"]
    episodes = results["settings"]["eval_episodes"]
    out = ["## Reliability", "", f"Success (solved and followed up) with a 95% Wilson interval, and pass^k on "
           f"{persona}: the chance that k conversations in a row all succeed ({episodes} conversations per policy, "
           "pooled over a learner's seeds).", ""]
    out.append("| policy | success | " + " | ".join(f"pass^{k}" for k in KS) + " |")
    out.append("|---|---|" + "---|" * len(KS))
    for n in ordered(results):
        v = results["reliability"][persona][n]
        success = (f"{fmt(v['success_rate'])} {interval(v['success_low'], v['success_high'])}"
                   if v["success_high"] > v["success_low"] else fmt(v["success_rate"]))
        out.append(f"| {row_name(results, n)} | {success} | " + " | ".join(fmt(v[f'pass^{k}']) for k in KS) + " |")
    return [*out, ""]


def section_curves(results: dict[str, Any]) -> list[str]:
    """The learning curves figure (none without learners)."""
    if not results["curves"]:
        return []
    return ["## Learning curves", "", "Normalized score against environment steps (each point sampled on the budget's "
            "curve conversations during training; band: the certified bracket). Dashed: learners that use the "
            "model's exact filter.", "", "![learning curves](learning_curves.png)", ""]


def section_conformance(results: dict[str, Any]) -> list[str]:
    """The share of conversations following each guide rule, per policy, with Wilson intervals, and each rule's cost."""
    persona = results["headline"]["persona"]
    out = ["## Conformance to the guides", "", f"Share of conversations on {persona} (where the rule applies) in "
           "which each rule holds, with a 95% Wilson interval (a learner's seeds pooled). "
           + "; ".join(f"{r}: {t}" for r, t in RULES.items()) + ".", ""]
    out.append("| policy | " + " | ".join(RULES) + " |")
    out.append("|---|" + "---|" * len(RULES))
    for n in ordered(results):
        rules = results["conformance"][n]
        out.append(f"| {row_name(results, n)} | " + " | ".join(rate_cell(rules[r]) for r in RULES) + " |")
    costs = results.get("rule_costs") or {}
    if costs:
        out.append("| *cost of keeping it (oracle, exact, normalized)* | " + " | ".join(
            "cannot be kept" if costs[r]["normalized"] is None else fmt(costs[r]["normalized"]) for r in RULES) + " |")
    return [*out, "", "![conformance](conformance.png)", ""]


def section_faithfulness(results: dict[str, Any]) -> list[str]:
    """What the guides say and what we assumed (``library/faithfulness.py``), for the default model and guide-only."""
    tables = results.get("faithfulness")
    if not tables:
        return []
    from difficult_customer.experiments.library.faithfulness import render_section

    text = render_section(main_table_of(tables["default"]), main_table_of(tables["guide_only"]))
    return [*text.splitlines(), ""]


def section_sensitivity(results: dict[str, Any]) -> list[str]:
    """How robust each conclusion is: its share of plausible models (from the sensitivity study)."""
    sens = results.get("sensitivity")
    if not sens:
        return []
    from difficult_customer.experiments.library.sensitivity import robustness_word

    out = ["## How robust the conclusions are", "", f"From {sens['source']}, variant {sens['variant']}: the share of "
           f"{sens['samples']} models drawn over every assumption's and reading's range in which each conclusion "
           "holds (95% Wilson interval)." + (
               f" The quick study solves each model's bracket with {STUDY_POINTS} belief points (the report's own "
               "uses more; the upper end's depth is the same): its lower end is lower, so a conclusion that needs it "
               "(adapting) holds in at most as many models as it would at full precision."
               if sens["source"].startswith("the report's quick study") else ""),
           "", "| conclusion | in the default model | share of plausible models | "
           "verdict |", "|---|---|---|---|"]
    for c in sens["conclusions"].values():
        low, high = c["share_ci"]
        default = {True: "holds", False: "fails", None: "n/a"}[c.get("holds_in_default")]
        out.append(f"| {c['text']} | {default} | {c['share']:.0%} [{low:.0%}, {high:.0%}] | "
                   f"{robustness_word(c['share'], low, high)} |")
    return [*out, ""]


def section_strategies(results: dict[str, Any]) -> list[str]:
    """Moves by turn, and example conversations of the focus learner."""
    out = ["## Strategies", "", "Share of each move at each turn.", "", "![strategies](strategies.png)", ""]
    if results.get("transcripts"):
        out += [f"### Example conversations of {results['headline']['focus']}", ""]
        for t in results["transcripts"]:
            out += [f"Seed {t['seed']}, outcome {t['outcome']}:", "", "```text", t["text"].rstrip(), "```", ""]
    return out


def section_settings(results: dict[str, Any]) -> list[str]:
    """Budget, seeds, versions, wall time and the command that reproduces the report."""
    st = results["settings"]
    out = ["## Settings", ""]
    out.append(f"- Budget {st['budget']}: " + ", ".join(f"{a} {v['steps']} steps x {v['seeds']} seeds"
                                                        for a, v in st["algorithms"].items()))
    out.append(f"- Model variant {st['variant']}; trained on {st['train_persona']}; evaluation seeds "
               f"{st['eval_seeds'][0]}-{st['eval_seeds'][1]}; switched off: {', '.join(st['ablate']) or 'nothing'}; "
               f"max turns {st['max_turns']}; {st['state_space']} hidden states.")
    out.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in st["versions"].items()))
    out.append(f"- Wall time: {st['wall_seconds']:.0f} s")
    cfg = st["config"]
    extra = f" --variant {cfg['variant']}" if cfg.get("variant", "default") != "default" else ""
    out.append(f"- Reproduce: `difficult-customer report --budget {st['budget']} --seed {cfg['seed']}{extra}`")
    return out


SECTIONS: list[Section] = [
    section_headline,
    section_bracket,
    section_scores,
    section_personas,
    section_reliability,
    section_curves,
    section_conformance,
    section_faithfulness,
    section_sensitivity,
    section_strategies,
    section_settings,
]
"""The sections of report.md, in order; a new section is a function added here."""


def section_store(results: dict[str, Any]) -> list[str]:
    """A report built from a sweep store: every group's IQM across seeds against its context's bracket and guides."""
    st = results["settings"]
    out = ["## Groups of the study", "", f"{st['runs']} training runs from `{st['from']}` in {st['groups']} groups "
           f"(runs differing only in their seed). Each model is scored exactly if it reads only the current "
           f"observation, else on {st['learned_mc_episodes']} conversations; per group the IQM across seeds with a 95% "
           "stratified bootstrap interval (evaluation noise included).", ""]
    for ctx, entry in results["contexts"].items():
        b = entry["bracket"]
        guides = ", ".join(f"{g} {fmt(v)}" for g, v in entry["guides"].items())
        out.append(f"- Context {ctx}: certified bracket [{fmt(b['lower_normalized'])}, {fmt(b['upper_normalized'])}]; "
                   f"guides (exact) {guides}.")
    out.append("")
    for group in (findings.GROUP_OBSERVATION, findings.GROUP_FILTER):
        rows = [g for g in results["groups"] if g["group"] == group]
        if not rows:
            continue
        out += [f"### {group[0].upper()}{group[1:]}", "", "| group | context | seeds | score | against the bracket |",
                "|---|---|---|---|---|"]
        for g in rows:
            out.append(f"| {g['label']} | {'/'.join(map(str, g['context']))} | {len(g['training_seeds'])} | {score_cell(g)} | "
                       f"{_position(g)} |")
        out.append("")
    ablations = [g for g in results["groups"] if "ablate" in g["settings"]]
    if ablations:
        out += ["### Ablations", "", "| switched off | group | score |", "|---|---|---|"]
        for g in sorted(ablations, key=lambda g: str(g["settings"]["ablate"])):
            out.append(f"| {g['settings']['ablate']} | {g['label']} | {score_cell(g)} |")
        out.append("")
    out += ["![groups](scores.png)", ""]
    if any(g.get("curve") for g in results["groups"]):
        out += ["Learning curves (each point sampled during training on the run's curve conversations):", "",
                "![learning curves](learning_curves.png)", ""]
    return out


def section_store_settings(results: dict[str, Any]) -> list[str]:
    """Where the store's report came from."""
    st = results["settings"]
    return ["## Settings", "", f"- Store: `{st['from']}`; settings that vary: {', '.join(st['varying']) or 'none'}",
            "- Versions: " + ", ".join(f"{k} {v}" for k, v in st["versions"].items()),
            f"- Wall time: {st['wall_seconds']:.0f} s",
            f"- Reproduce: `difficult-customer report --from {st['from']}`"]


STORE_SECTIONS: list[Section] = [section_store, section_sensitivity, section_store_settings]
"""The sections of a report built ``--from`` a sweep store."""


def render_markdown(results: dict[str, Any], sections: Sequence[Section] | None = None) -> str:
    """report.md: the title, then every section's lines."""
    if sections is None:
        sections = STORE_SECTIONS if "groups" in results else SECTIONS
    out = ["# What reinforcement learning learns about a difficult customer", ""]
    for section in sections:
        out += section(results)
    return "\n".join(out).rstrip("\n") + "\n"


# ============================================================================ writing
def write_report(results: dict[str, Any], out: Path) -> Path:
    """Write results.json, the figures and report.md (numbers formatted from results)."""
    atomic_write_json(out / "results.json", results)
    if "groups" in results:
        groups = results["groups"]
        plots.score_bars([g["label"] for g in groups], [g["normalized"] for g in groups],
                         [g["normalized_low"] for g in groups], [g["normalized_high"] for g in groups],
                         out / "scores.png", "IQM across seeds per group (normalized)",
                         groups=[g["group"] for g in groups])
        curves = {(f"{g['label']} (model's filter)" if g["group"] == findings.GROUP_FILTER else g["label"]): g["curve"]
                  for g in groups if g.get("curve")}
        if curves:
            plots.learning_curves(curves, {}, out / "learning_curves.png", "Learning curves per group (normalized)")
        atomic_write_text(out / "report.md", render_markdown(results))
        return out / "report.md"
    persona = results["headline"]["persona"]
    sc = results["scores"][persona]
    b = results["brackets"][persona]
    lines_ = {n: v["normalized"] for n, v in sc.items() if v["kind"] == "guide"}
    if results["curves"]:
        curves = {(f"{k} (model's filter)" if findings.learner_group(k) == findings.GROUP_FILTER else k): v
                  for k, v in results["curves"].items()}
        plots.learning_curves(curves, lines_, out / "learning_curves.png",
                              f"Learning curves on {results['settings']['train_persona']} (normalized)",
                              band=(b["lower_normalized"], b["upper_normalized"]))
    names = [n for g in GROUP_ORDER for n in sorted((n for n, v in sc.items() if v["group"] == g),
                                                      key=lambda n: -sc[n]["normalized"])]
    plots.score_bars(names, [sc[n]["normalized"] for n in names], [sc[n]["normalized_low"] for n in names],
                     [sc[n]["normalized_high"] for n in names], out / "scores.png", f"Normalized scores on {persona}",
                     groups=[sc[n]["group"] for n in names], band=(b["lower_normalized"], b["upper_normalized"]))
    conf_names = list(results["conformance"])
    matrix = np.array([[np.nan if results["conformance"][n][r]["rate"] is None else results["conformance"][n][r]["rate"]
                        for r in RULES] for n in conf_names])
    plots.heatmap(matrix, conf_names, list(RULES), out / "conformance.png",
                  f"Share of conversations following each rule ({persona})")
    plots.strategy_grid({n: np.array(v) for n, v in results["strategies"].items()}, out / "strategies.png",
                        f"Moves by turn on {persona}")
    atomic_write_text(out / "report.md", render_markdown(results))
    return out / "report.md"


def main(config: Config) -> int:
    """Build the results, write the report; 2 on bad settings, 1 when training runs failed (run again to retry them)."""
    try:
        results = build_results(config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:  # failed training runs (the others are stored; running again retries these)
        print(f"error: {err}", file=sys.stderr)
        return 1
    path = write_report(results, Path(config.out))
    print(f"report: {path} ({results['settings']['wall_seconds']:.0f} s)")
    return 0
