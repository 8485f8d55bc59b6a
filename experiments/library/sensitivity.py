"""Global sensitivity of the report's conclusions to every assumption and reading.

The model solves exactly in about a second, so each conclusion the report draws can be
checked over the whole plausible range of the numbers no guide gives. This module

1. draws models from the documented ranges of every assumption and reading parameter
   (:func:`~difficult_customer.customer_models.sampled_parameters`, the mixture weights
   included) with SALib's designs: a Latin hypercube for the *shares* (in how many
   plausible models a conclusion holds) and a grouped Morris design for the *indices*
   (which assumption drives each conclusion);
2. solves every sampled model exactly (:func:`solve_sample`): the oracle, random, every
   guide's exact score, the best fixed sequence, the certified bracket on the best
   observation-only policy, each rule's cost, and the optimum's conformance;
3. turns the records into the share of models in which each conclusion holds (with a
   Wilson interval over samples), each guide's rank distribution, and Morris indices per
   conclusion (:func:`analyze`).

Why Morris for the indices by default: Sobol indices need ``N (2G + 2)`` models and are
noisy at the ``N`` that fits ten minutes; Morris's elementary effects screen the same
groups with ``r (G + 1)`` models and come with a bootstrap interval. ``indices="sobol"``
runs SALib's Sobol design and analysis instead, for a bigger budget.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.experiments.library.stats import wilson_ci

GUIDES: tuple[str, ...] = ("guide_000", "guide_001", "guide_002", "guide_003", "guide_004")
"""The five guide scripts whose exact scores every sample records."""


@dataclass(frozen=True)
class Conclusion:
    """A sentence the report states, as a function of one sample's record.

    ``metric`` maps a record (normalized numbers) to a real number; the conclusion holds
    where ``metric > threshold``. The metric is continuous so that Morris or Sobol
    indices can say which assumptions move it.
    """

    id: str
    text: str
    """The sentence, as the report writes it when the conclusion holds."""
    metric: Callable[[dict[str, float]], float]
    threshold: float = 0.0

    def holds(self, record: dict[str, float]) -> bool:
        """Whether the conclusion holds in one sampled model."""
        return bool(self.metric(record) > self.threshold)


def normalized(record: dict[str, float], key: str) -> float:
    """``record[key]`` on the scale from random (0) to the oracle (1) of the same model."""
    span = record["oracle"] - record["random"]
    return (record[key] - record["random"]) / span if span > 0 else 0.0


def guide_margin(record: dict[str, float], guide: str) -> float:
    """How far ``guide`` is ahead of the best other guide (normalized; > 0 means it ranks first)."""
    others = max(normalized(record, g) for g in GUIDES if g != guide)
    return normalized(record, guide) - others


def default_conclusions(
    adapt_threshold: float = 0.2,
    hidden_threshold: float = 0.05,
    rule_cost_threshold: float = 0.02,
    rules: Sequence[str] = ("R1", "R2", "R3", "R4", "R5", "R6"),
) -> list[Conclusion]:
    """The conclusions the report states, each checked in every sampled model.

    Thresholds are the report's own wording ("adapting is worth more than 0.2").
    Hidden information and adapting use the certified bracket: "hidden information costs
    more than t" holds only where even the bracket's upper end leaves a gap of t to the
    oracle; "adapting is worth more than t" only where the bracket's lower end (a policy
    that is actually achieved) beats a proven upper bound on every fixed sequence by t.
    """
    out = [
        Conclusion(
            f"{g}_first",
            f"{g} ranks first among the five guides",
            lambda r, g=g: guide_margin(r, g),
        )
        for g in GUIDES
    ]
    out.append(
        Conclusion(
            "guides_beat_random",
            "every guide scores above random moves",
            lambda r: min(normalized(r, g) for g in GUIDES),
        )
    )
    out.append(
        Conclusion(
            "adapting_worth",
            f"adapting is worth more than {adapt_threshold:g} (bracket's lower end minus the best fixed sequence's bound)",
            lambda r: normalized(r, "bracket_lower") - normalized(r, "fixed_sequence_bound"),
            adapt_threshold,
        )
    )
    out.append(
        Conclusion(
            "hidden_information_costs",
            f"hidden information costs more than {hidden_threshold:g} (oracle minus bracket's upper end)",
            lambda r: 1.0 - normalized(r, "bracket_upper"),
            hidden_threshold,
        )
    )
    for rule in rules:
        out.append(
            Conclusion(
                f"{rule}_cheap",
                f"keeping {rule} costs under {rule_cost_threshold:g}",
                lambda r, rule=rule: rule_cost_threshold - r[f"cost_{rule}"] / max(r["oracle"] - r["random"], 1e-12),
                0.0,
            )
        )
    return out


@dataclass(frozen=True)
class Design:
    """How many models to sample, and how."""

    lhs_samples: int = 128
    """Latin-hypercube models for the shares."""
    index_method: str = "morris"
    """``"morris"`` (grouped elementary effects) or ``"sobol"`` (grouped Sobol indices)."""
    index_trajectories: int = 8
    """Morris trajectories ``r`` (``r (G + 1)`` models), or Sobol's base ``N`` (``N (2G + 2)`` models)."""
    morris_levels: int = 4
    """Grid levels of the Morris design."""
    group_by: str = "switch"
    """Index groups: ``"switch"`` (each assumption, contested reading or claim id; the starting
    state's fields) or ``"claim"`` (assumptions folded into their claim: fewer groups, fewer models)."""
    seed: int = 0

    def __post_init__(self) -> None:
        if self.group_by not in ("switch", "claim"):
            raise ValueError(f"group_by={self.group_by!r}; allowed: 'switch', 'claim'")
        if self.index_method not in ("morris", "sobol"):
            raise ValueError(f"index_method={self.index_method!r}; allowed: 'morris', 'sobol'")
        if self.lhs_samples < 2:
            raise ValueError(f"lhs_samples={self.lhs_samples}; allowed is at least 2")
        if self.index_trajectories < 2:
            raise ValueError(f"index_trajectories={self.index_trajectories}; allowed is at least 2")
        if self.index_method == "sobol" and self.index_trajectories & (self.index_trajectories - 1):
            raise ValueError(f"index_trajectories={self.index_trajectories}; Sobol's N must be a power of 2")


@dataclass(frozen=True)
class Problem:
    """The SALib problem: one variable per sampled parameter, grouped by its support id."""

    names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    groups: tuple[str, ...]

    def salib(self) -> dict[str, Any]:
        return {
            "num_vars": len(self.names),
            "names": list(self.names),
            "bounds": [list(b) for b in self.bounds],
            "groups": list(self.groups),
        }


@dataclass(frozen=True)
class Sample:
    """One point of a design: which design, its row, and the parameter values."""

    design: str
    """``"lhs"`` or the index method."""
    index: int
    x: tuple[float, ...]

    @property
    def key(self) -> str:
        return f"{self.design}-{self.index:05d}"


def draw(problem: Problem, design: Design) -> list[Sample]:
    """The samples of both designs, deterministic in ``design.seed``."""
    from SALib.sample import latin, morris, sobol

    spec = problem.salib()
    lhs = latin.sample(spec, design.lhs_samples, seed=design.seed)
    if design.index_method == "morris":
        idx = morris.sample(spec, N=design.index_trajectories, num_levels=design.morris_levels, seed=design.seed)
    else:
        idx = sobol.sample(spec, design.index_trajectories, calc_second_order=False, seed=design.seed)
    return [Sample("lhs", i, tuple(map(float, row))) for i, row in enumerate(lhs)] + [
        Sample(design.index_method, i, tuple(map(float, row))) for i, row in enumerate(idx)
    ]


def design_fingerprint(problem: Problem, design: Design, settings: dict[str, Any]) -> str:
    """A short hash of everything that decides the samples' results (for resuming safely)."""
    blob = json.dumps({"problem": asdict(problem), "design": asdict(design), "settings": settings}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class Analysis:
    """What :func:`analyze` returns, ready for ``sensitivity.json``."""

    conclusions: list[dict[str, Any]] = field(default_factory=list)
    ranks: dict[str, list[float]] = field(default_factory=dict)
    """Per guide: share of LHS models in which it ranks 1st, 2nd, ... 5th."""
    samples: int = 0


def ranks_of(record: dict[str, float]) -> dict[str, int]:
    """Rank (1 = best) of each guide in one model; ties share the better rank."""
    scores = {g: record[g] for g in GUIDES}
    return {g: 1 + sum(scores[o] > scores[g] + 1e-12 for o in GUIDES) for g in GUIDES}


def analyze(
    problem: Problem,
    design: Design,
    lhs_records: Sequence[dict[str, float]],
    index_samples: Sequence[Sample],
    index_records: Sequence[dict[str, float]],
    conclusions: Iterable[Conclusion],
    default_record: dict[str, float] | None = None,
) -> Analysis:
    """Shares over the LHS models, guide ranks, and indices per conclusion.

    Args:
        problem: the sampled parameters and their groups.
        design: the design the samples came from (for the index analysis).
        lhs_records: one record per LHS model.
        index_samples: the index design's samples, in design order.
        index_records: one record per index sample, in the same order.
        conclusions: what to check.
        default_record: the record of the default model, to say whether each
            conclusion holds there.
    """
    from SALib.analyze import morris, sobol

    spec = problem.salib()
    group_names = list(dict.fromkeys(problem.groups))
    out = Analysis(samples=len(lhs_records))
    for c in conclusions:
        holds = [c.holds(r) for r in lhs_records]
        share, low, high = wilson_ci(sum(holds), len(holds))
        values = np.array([c.metric(r) for r in index_records], dtype=float)
        x = np.array([s.x for s in index_samples], dtype=float)
        if design.index_method == "morris":
            res = morris.analyze(spec, x, values, num_levels=design.morris_levels, seed=design.seed)
            names = [str(n) for n in res["names"]]
            index = {n: float(v) for n, v in zip(names, np.asarray(res["mu_star"]), strict=True)}
            conf = {n: float(v) for n, v in zip(names, np.asarray(res["mu_star_conf"]), strict=True)}
            kind = "morris_mu_star"
        else:
            res = sobol.analyze(spec, values, calc_second_order=False, seed=design.seed)
            index = {n: float(v) for n, v in zip(group_names, np.asarray(res["ST"]), strict=True)}
            conf = {n: float(v) for n, v in zip(group_names, np.asarray(res["ST_conf"]), strict=True)}
            kind = "sobol_total"
        entry = {
            "id": c.id,
            "text": c.text,
            "share": share,
            "share_ci": [low, high],
            "holds_in": int(sum(holds)),
            "samples": len(holds),
            "metric_quartiles": [float(q) for q in np.quantile([c.metric(r) for r in lhs_records], [0.25, 0.5, 0.75])],
            "index_kind": kind,
            "index": index,
            "index_conf": conf,
        }
        if default_record is not None:
            entry["default_value"] = float(c.metric(default_record))
            entry["holds_in_default"] = c.holds(default_record)
        out.conclusions.append(entry)
    counts = {g: np.zeros(len(GUIDES)) for g in GUIDES}
    for r in lhs_records:
        for g, rank in ranks_of(r).items():
            counts[g][rank - 1] += 1
    out.ranks = {g: (c / max(len(lhs_records), 1)).tolist() for g, c in counts.items()}
    return out


def read_records(folder: Path, fingerprint: str) -> dict[str, dict[str, float]]:
    """Records already solved for this fingerprint (resuming), by sample key."""
    out = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a file from an interrupted write is never renamed into place; be safe anyway
        if data.get("fingerprint") == fingerprint:
            out[data["key"]] = data["record"]
    return out


def plot_ranks(ranks: dict[str, list[float]], path: Path, title: str) -> Path:
    """Stacked bars: for each guide, the share of sampled models in which it ranks 1st ... 5th."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    guides = list(ranks)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bottom = np.zeros(len(guides))
    colors = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, len(GUIDES)))
    for place in range(len(GUIDES)):
        share = np.array([ranks[g][place] for g in guides])
        ax.bar(guides, share, bottom=bottom, color=colors[place], label=f"rank {place + 1}")
        bottom += share
    ax.set_ylabel("share of sampled models")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_indices(conclusions: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    """One panel per conclusion: each assumption group's index (Morris mu* or Sobol total) with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(conclusions)
    cols = 3
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    for ax, c in zip(axes.ravel(), conclusions, strict=False):
        names = list(c["index"])
        values = np.array([c["index"][k] for k in names])
        conf = np.array([c["index_conf"].get(k, 0.0) for k in names])
        order = np.argsort(values)
        ax.barh([names[i] for i in order], values[order], xerr=np.nan_to_num(conf[order]), color="tab:blue")
        ax.set_title(f"{c['id']} ({c['share']:.0%} hold)", fontsize=9)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ----------------------------------------------------------------- the model space


@dataclass(frozen=True)
class Space:
    """What is sampled for one model variant, and how a sample becomes a model."""

    variant: str
    """``"default"`` (assumptions and readings sampled) or ``"guide_only"`` (every assumption
    off; only the readings of guide sentences are sampled)."""
    specs: tuple[Any, ...]
    """The :class:`~difficult_customer.customer_models.parameters.ParameterSpec` of each variable."""

    @property
    def problem(self) -> Problem:
        """The SALib problem, one group per switch id."""
        return self.problem_for("switch")

    def problem_for(self, group_by: str) -> Problem:
        """The SALib problem, one group per switch id (``group_by="switch"``) or per claim (``"claim"``)."""
        return Problem(
            names=tuple(f"{s.persona}.{s.name}" for s in self.specs),
            bounds=tuple((float(s.low), float(s.high)) for s in self.specs),
            groups=tuple(group_of(s, group_by) for s in self.specs),
        )

    def model(self, x: Sequence[float], name: str = "sampled") -> Any:
        """The :class:`~difficult_customer.customer_models.Mixture` of one sample."""
        from difficult_customer.customer_models.parameters import build_mixture
        from difficult_customer.customer_models.personas import DEFAULT_MIXTURE

        values = [round(v) if s.integer else v for s, v in zip(self.specs, x, strict=True)]
        if self.variant == "default":
            return build_mixture(dict(zip(self.specs, values, strict=True)), name=name, base=DEFAULT_MIXTURE)
        return _shared_model(self.specs, values, name)

    def default_x(self) -> tuple[float, ...]:
        """The built-in model's values, as a sample."""
        return tuple(float(s.default) for s in self.specs)


VARIANTS: tuple[str, ...] = ("default", "guide_only")


def group_of(spec: Any, group_by: str) -> str:
    """The index group of a sampled parameter: its switch id, or (``"claim"``) the claim that switch belongs to.

    Parameters of the starting state that no switch turns off group by field
    (``"switch"``) or all together as ``"start"`` (``"claim"``).
    """
    from difficult_customer.customer_models.switches import SWITCHES

    if not spec.id:
        return spec.field if group_by == "switch" else "start"
    if group_by == "claim":
        return SWITCHES[spec.id].claim or spec.id
    return spec.id


def space_for(variant: str) -> Space:
    """The sampled parameters of a variant.

    In the default model every persona's readings and assumptions are sampled, the
    mixture weights included. In the guide-only model every persona reacts with the
    shared parameters (the persona differences are assumptions, A12/A13), so each reading
    is sampled once, as a shared value that every persona takes (except where the field
    defines a persona), with the union of the personas' ranges.

    Raises:
        ValueError: for an unknown variant.
    """
    from difficult_customer.customer_models.parameters import ParameterSpec, sampled_parameters
    from difficult_customer.customer_models.personas import SHARED

    if variant == "default":
        return Space(variant, tuple(sampled_parameters(kinds=("reading", "assumption"), weights=True)))
    if variant != "guide_only":
        raise ValueError(f"unknown variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    merged: dict[str, ParameterSpec] = {}
    for spec in sampled_parameters(kinds=("reading",), weights=False):
        shared = SHARED[spec.field]
        default = float(shared[spec.index] if spec.index is not None else shared)
        old = merged.get(spec.name)
        low = min(spec.low, default, old.low if old else spec.low)
        high = max(spec.high, default, old.high if old else spec.high)
        merged[spec.name] = ParameterSpec(spec.name, "shared", low, high, spec.support, spec.id, default,
                                          spec.integer, spec.what)
    return Space(variant, tuple(merged.values()))


_DIFFERENCE_SWITCHES = frozenset({"A12", "A13"})
"""Assumptions that act only by letting personas differ (``differs_by``); the guide-only
model has them off, which :func:`_shared_model` does by giving every persona the same value."""


def _shared_model(specs: Sequence[Any], values: Sequence[float], name: str) -> Any:
    """The guide-only mixture with each shared reading set to its sampled value in every persona."""
    from dataclasses import replace

    from difficult_customer.customer_models.compile import effective_persona
    from difficult_customer.customer_models.personas import GUIDE_ONLY_MIXTURE, Mixture

    off = GUIDE_ONLY_MIXTURE.switched_off
    personas = []
    for p in GUIDE_ONLY_MIXTURE.personas:
        base = effective_persona(p, off)  # every difference and assumption at its off value
        changes: dict[str, Any] = {}
        for spec, value in zip(specs, values, strict=True):
            if spec.field in p.defining:
                continue
            if spec.index is None:
                changes[spec.field] = value
            else:
                current = list(changes.get(spec.field, getattr(base, spec.field)))
                current[spec.index] = float(value)
                changes[spec.field] = tuple(current)
        if "initial_anger" in changes:
            anger = np.asarray(changes["initial_anger"], dtype=float)
            changes["initial_anger"] = tuple((anger / anger.sum()).tolist())
        personas.append(replace(base, **changes))
    weights = GUIDE_ONLY_MIXTURE.effective_weights(off)
    return Mixture(name, tuple(personas), weights, off - _DIFFERENCE_SWITCHES)


@dataclass(frozen=True)
class SolveSettings:
    """How precisely each sampled model is solved."""

    max_turns: int = 16
    bracket_points: int = 64
    """PBVI belief points for the bracket's lower end."""
    bracket_depth: int = 2
    """Expectimax depth in front of the bracket's upper end."""
    conformance_episodes: int = 200
    """Conversations of the oracle per model for its conformance rates (0 skips them)."""
    fixed_sequence_nodes: int = 2000
    """Branch-and-bound node budget for the best fixed sequence (past it, a proven upper bound is kept)."""
    seed: int = 0


def solve_sample(space: Space, x: Sequence[float], settings: SolveSettings) -> dict[str, float | None]:
    """Solve one sampled model exactly and return its record (raw values).

    Keys: ``oracle``, ``random``, each guide, ``fixed_sequence`` (the best found) and
    ``fixed_sequence_bound`` (a proven upper bound on every fixed sequence), ``bracket_lower``,
    ``bracket_upper``, ``cost_R1`` ... (``None`` where a rule cannot be kept for sure),
    and ``conf_R1`` ... (the oracle's conformance rate over sampled conversations; ``None``
    where the rule never applied).
    """
    from difficult_customer import agents
    from difficult_customer.agents.base import PolicyContext
    from difficult_customer.agents.exact.bracket import certified_bracket
    from difficult_customer.agents.exact.evaluation import propagate
    from difficult_customer.agents.exact.open_loop import solve_open_loop
    from difficult_customer.agents.exact.rule_cost import rule_costs
    from difficult_customer.customer_models.compile import clear_compiled
    from difficult_customer.experiments.library.conformance import conformance
    from difficult_customer.experiments.library.rollouts import run_episodes

    mixture = space.model(x)
    context = PolicyContext.create(persona=mixture, max_turns=settings.max_turns)
    tables = context.tables
    bracket = certified_bracket(tables, points=settings.bracket_points, depth=settings.bracket_depth,
                                seed=settings.seed, max_turns=settings.max_turns)
    record: dict[str, float | None] = {
        "oracle": bracket.oracle,
        "random": bracket.random,
        "bracket_lower": bracket.lower,
        "bracket_upper": bracket.upper,
    }
    plan = solve_open_loop(tables, settings.max_turns, max_nodes=settings.fixed_sequence_nodes)
    record["fixed_sequence"] = float(plan.value)
    # Every fixed sequence is an observation-only policy, so the bracket's upper end bounds it too.
    record["fixed_sequence_bound"] = float(min(plan.upper_bound, bracket.upper))
    for g in GUIDES:
        record[g] = float(propagate(agents.make(g, context), context).value)
    for rule, cost in rule_costs(tables, settings.max_turns).items():
        record[f"cost_{rule}"] = float(cost.cost) if np.isfinite(cost.cost) else None
    if settings.conformance_episodes > 0:
        seeds = range(settings.seed, settings.seed + settings.conformance_episodes)
        table = conformance(run_episodes("oracle", context, seeds))
        for rule, row in table.items():
            record[f"conf_{rule}"] = row["rate"]
    clear_compiled()  # each sampled model is solved once: keep memory flat over hundreds of them
    return record


# ----------------------------------------------------------------- a whole study


def _solve_one(args: tuple[Space, tuple[float, ...], SolveSettings]) -> dict[str, float | None]:
    space, x, settings = args
    return solve_sample(space, x, settings)


def solve_models(
    space: Space,
    jobs: Sequence[tuple[str, Sequence[float]]],
    settings: SolveSettings,
    folder: Path,
    fingerprint: str,
    workers: int = 1,
    progress: str | None = None,
) -> dict[str, dict[str, float | None]]:
    """Solve every ``(key, x)`` job not yet stored in ``folder`` under ``fingerprint``, in ``workers`` processes.

    Each record is written atomically to ``folder/<key>.json`` with the fingerprint, so an
    interrupted study resumes and a changed design never mixes with old results.

    Args:
        progress: the progress bar's label, or None for none.

    Returns:
        The record of every job, by key.
    """
    from concurrent.futures import ProcessPoolExecutor

    from difficult_customer.experiments.library.io import atomic_write_json

    folder.mkdir(parents=True, exist_ok=True)
    done = read_records(folder, fingerprint)
    todo = [(key, tuple(x)) for key, x in jobs if key not in done]
    bar = None
    if progress is not None:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=progress, unit="model")

    def store(key: str, record: dict[str, float | None]) -> None:
        atomic_write_json(folder / f"{key}.json", {"key": key, "fingerprint": fingerprint, "record": record})
        done[key] = record
        if bar is not None:
            bar.update(1)

    if workers <= 1 or len(todo) < 2:
        for key, x in todo:
            store(key, solve_sample(space, x, settings))
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = pool.map(_solve_one, [(space, x, settings) for _, x in todo])
            for (key, _), record in zip(todo, results, strict=True):
                store(key, record)
    if bar is not None:
        bar.close()
    return {key: done[key] for key, _ in jobs}


def run_study(
    variant: str,
    design: Design,
    settings: SolveSettings,
    out: Path,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Sample, solve (resumably, in ``workers`` processes) and analyze one variant.

    Every solved sample is written atomically to ``out/samples/<variant>/<key>.json``
    with a fingerprint of the design and settings, so an interrupted study resumes where
    it stopped, and a changed design never mixes with old results.

    Returns:
        The variant's part of ``sensitivity.json``.
    """
    import time

    start = time.perf_counter()
    space = space_for(variant)
    problem = space.problem_for(design.group_by)
    fingerprint = design_fingerprint(problem, design, asdict(settings))
    folder = out / "samples" / variant
    folder.mkdir(parents=True, exist_ok=True)
    samples = draw(problem, design)
    jobs = [("default", space.default_x()), *((s.key, s.x) for s in samples)]
    done = solve_models(space, jobs, settings, folder, fingerprint, workers,
                        f"sensitivity {variant}" if progress else None)
    default = done.pop("default")
    lhs = [done[s.key] for s in samples if s.design == "lhs"]
    index_samples = [s for s in samples if s.design != "lhs"]
    index_records = [done[s.key] for s in index_samples]
    numeric = [finite_record(r) for r in lhs]
    analysis = analyze(problem, design, numeric, index_samples, [finite_record(r) for r in index_records],
                       default_conclusions(), finite_record(default))
    return {
        "variant": variant,
        "fingerprint": fingerprint,
        "parameters": [
            {"name": n, "low": b[0], "high": b[1], "group": g, "support": s.support}
            for n, b, g, s in zip(problem.names, problem.bounds, problem.groups, space.specs, strict=True)
        ],
        "groups": sorted(set(problem.groups)),
        "models_solved": len(samples) + 1,
        "default": default,
        "records": {"default": default, **{s.key: done[s.key] for s in samples if s.design == "lhs"}},
        "conclusions": analysis.conclusions,
        "ranks": analysis.ranks,
        "lhs_samples": analysis.samples,
        "seconds": time.perf_counter() - start,
    }


RULE_COST_CAP = 10.0
"""A rule that no policy can keep for sure costs ``inf``; the analysis uses this raw cap instead."""


def finite_record(record: dict[str, float | None]) -> dict[str, float]:
    """A record with ``None`` rule costs (cannot be kept) as :data:`RULE_COST_CAP`, other ``None`` as NaN."""
    out: dict[str, float] = {}
    for key, value in record.items():
        if value is None:
            out[key] = RULE_COST_CAP if key.startswith("cost_") else float("nan")
        else:
            out[key] = float(value)
    return out


# ----------------------------------------------------------------- words from numbers


def robustness_word(share: float, low: float, high: float) -> str:
    """How robust a conclusion is, in a word computed from its share and interval.

    "robust" when even the interval's low end is at least 0.9; "fragile" when the share
    is between 0.1 and 0.9 or the interval straddles one of those marks without
    settling; "rarely holds" when even the high end is below 0.1.

    Raises:
        ValueError: for a share or bounds outside [0, 1] or out of order.
    """
    if not (0.0 <= low <= share <= high <= 1.0):
        raise ValueError(f"share={share!r} with interval [{low!r}, {high!r}]; allowed is 0 <= low <= share <= high <= 1")
    if low >= 0.9:
        return "robust"
    if high < 0.1:
        return "rarely holds"
    if share >= 0.9:
        return "mostly holds"
    if share < 0.1:
        return "mostly fails"
    return "fragile"


def top_drivers(entry: dict[str, Any], k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` groups with the largest index for one conclusion, largest first (NaN last)."""
    items = [(g, float(v)) for g, v in entry["index"].items()]
    items.sort(key=lambda gv: (not np.isfinite(gv[1]), -gv[1] if np.isfinite(gv[1]) else 0.0))
    return items[:k]


def render_markdown(document: dict[str, Any]) -> str:
    """The robustness tables of every variant, as markdown (what the report and the command print)."""
    lines: list[str] = ["# Sensitivity of the conclusions", ""]
    design = document["design"]
    lines.append(
        f"Design: {design['lhs_samples']} Latin-hypercube models for the shares, "
        f"{design['index_method']} indices with r = {design['index_trajectories']}; seed {design['seed']}. "
        "Every model is solved exactly; the bracket and the rule costs are exact; the oracle's conformance "
        f"comes from {document['settings']['conformance_episodes']} conversations per model."
    )
    for variant, study in document["variants"].items():
        lines += ["", f"## Variant `{variant}` ({study['lhs_samples']} sampled models, "
                      f"{len(study['parameters'])} parameters in {len(study['groups'])} groups, "
                      f"{study['seconds']:.0f} s)", ""]
        lines.append("| conclusion | in the default model | share of plausible models (95% CI) | verdict | "
                     "what drives it most |")
        lines.append("|---|---|---|---|---|")
        for c in study["conclusions"]:
            low, high = c["share_ci"]
            drivers = ", ".join(f"{g} {v:.2f}" for g, v in top_drivers(c))
            default = "holds" if c.get("holds_in_default") else "fails"
            lines.append(
                f"| {c['text']} | {default} ({c.get('default_value', float('nan')):+.3f}) | "
                f"{c['share']:.0%} [{low:.0%}, {high:.0%}] | {robustness_word(c['share'], low, high)} | {drivers} |"
            )
        lines += ["", "| guide | " + " | ".join(f"rank {i + 1}" for i in range(len(GUIDES))) + " |",
                  "|---|" + "---|" * len(GUIDES)]
        for g, shares in study["ranks"].items():
            lines.append(f"| {g} | " + " | ".join(f"{s:.0%}" for s in shares) + " |")
        if "learned" in study:
            learned = study["learned"]
            lines += ["", f"Learned strategy ({learned['algo']}, {learned['steps']:,} steps, retrained on each of "
                          f"{study['learned_summary'][0]['models']} models: the built-in one and LHS samples): "
                          "median [interquartile range] across models, beside the exact optimum's.", "",
                      "| | learned | exact optimum (oracle) | keeping it costs (raw) |", "|---|---|---|---|"]
            for row in study["learned_summary"]:
                lines.append(f"| {row['what']} | {_iqr(row['learned'])} | {_iqr(row['optimum'])} | "
                             f"{_iqr(row.get('cost'))} |")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- the learned strategy


@dataclass(frozen=True)
class LearnSettings:
    """How ``sensitivity --learn`` retrains a policy on sampled models."""

    algo: str = "ppo"
    """An SB3 algorithm whose plain-observation policy is memoryless (ppo, a2c, dqn): scored exactly."""
    samples: int = 8
    """Sampled models to retrain on (the first LHS samples), besides the built-in model."""
    steps: int = 30_000
    """Environment steps per training."""
    seeds: int = 1
    """Training seeds per model."""
    conformance_episodes: int = 500
    """Conversations of each learned policy for its conformance rates."""


def learn_configs(space: Space, xs: Sequence[tuple[float, ...]], learn: LearnSettings, seed: int,
                  max_turns: int) -> list[Any]:
    """The trainings of ``sensitivity --learn``: one per sampled model and training seed."""
    from difficult_customer.experiments.library.training import TrainConfig

    return [
        TrainConfig(algo=learn.algo, steps=learn.steps, seed=seed + s, max_turns=max_turns, eval_every=0,
                    eval_episodes=50, sample={"variant": space.variant, "x": list(map(float, x))})
        for x in xs
        for s in range(learn.seeds)
    ]


def score_learned(result: dict[str, Any], config: Any, episodes: int, seed: int) -> dict[str, Any]:
    """A trained model on its own sampled model: exact value, normalized, and conformance with Wilson intervals."""
    from difficult_customer import agents
    from difficult_customer.agents.exact.evaluation import oracle_value, random_value
    from difficult_customer.agents.exact.memoryless import memoryless_value
    from difficult_customer.experiments.library.conformance import conformance
    from difficult_customer.experiments.library.rollouts import run_episodes

    context = config.context()
    policy = agents.make(result["policy"], context)
    value = memoryless_value(policy, context).value
    oracle, rand = oracle_value(context), random_value(context)
    table = conformance(run_episodes(result["policy"], context, range(seed, seed + episodes)))
    rates = {}
    for rule, row in table.items():
        if row["rate"] is None:
            rates[rule] = None
            continue
        kept = round(row["rate"] * row["applicable"])
        rates[rule] = list(wilson_ci(kept, row["applicable"]))
    return {"value": value, "normalized": (value - rand) / (oracle - rand), "conformance": rates}


def run_learning(
    variant: str,
    design: Design,
    learn: LearnSettings,
    out: Path,
    max_turns: int = 16,
    address: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Retrain a learned policy on sampled models (through the sweep engine, on Ray) and score it exactly.

    Uses the same models as :func:`run_study` (the built-in one, then the first LHS
    samples), so each learned policy sits beside its model's exact optimum.

    Returns:
        Per model: its key, the learned policy's exact score (raw and normalized) and its
        conformance rates with Wilson intervals, per training seed.
    """
    from difficult_customer.experiments.library.sweep import run_trainings

    space = space_for(variant)
    samples = [s for s in draw(space.problem_for(design.group_by), design) if s.design == "lhs"][: learn.samples]
    keys = ["default", *(s.key for s in samples)]
    xs = [space.default_x(), *(s.x for s in samples)]
    configs = learn_configs(space, xs, learn, design.seed, max_turns)
    results = run_trainings(configs, out / "runs", address=address, progress=progress, study=f"sensitivity-{variant}")
    rows = []
    for i, (config, result) in enumerate(zip(configs, results, strict=True)):
        rows.append({"model": keys[i // learn.seeds], "seed": config.seed, "run_id": result["run_id"],
                     **score_learned(result, config, learn.conformance_episodes, design.seed)})
    return {"variant": variant, "algo": learn.algo, "steps": learn.steps, "rows": rows}


def learned_summary(study: dict[str, Any], learned: dict[str, Any], rules: Sequence[str]) -> list[dict[str, Any]]:
    """Per rule (and the score): the learned strategy across sampled models, beside the exact optimum's.

    The optimum's conformance comes from the same models' records in ``study`` (the
    built-in model's record and the LHS records are read from the samples folder by the
    caller and passed as ``study["records"]``).
    """
    records = study["records"]
    out = []
    scores = [r["normalized"] for r in learned["rows"]]
    out.append({"what": "normalized score", "learned": _quartiles(scores), "optimum": [1.0, 1.0, 1.0],
                "models": len({r["model"] for r in learned["rows"]})})
    for rule in rules:
        learned_rates = [r["conformance"][rule][0] for r in learned["rows"] if r["conformance"].get(rule)]
        optimum = [records[r["model"]].get(f"conf_{rule}") for r in learned["rows"]]
        optimum = [v for v in optimum if v is not None]
        costs = [records[r["model"]].get(f"cost_{rule}") for r in learned["rows"]]
        out.append({"what": rule, "learned": _quartiles(learned_rates), "optimum": _quartiles(optimum),
                    "cost": _quartiles([c for c in costs if c is not None]),
                    "models": len(learned_rates)})
    return out


def _iqr(q: Sequence[float] | None) -> str:
    if q is None:
        return "—"
    median, low, high = (f"{round(v, 3) + 0.0:.3f}" for v in (q[1], q[0], q[2]))  # + 0.0: no "-0.000"
    return f"{median} [{low}, {high}]"


def _quartiles(values: Sequence[float]) -> list[float] | None:
    """Median and interquartile range ``[q25, median, q75]``, or None without values."""
    if not values:
        return None
    q = np.quantile(np.asarray(values, dtype=float), [0.25, 0.5, 0.75])
    return [float(v) for v in q]
