"""The report's results as typed data: the schema of ``results.json`` is these dataclasses.

:func:`build <difficult_customer.experiments.library.report.build.build_results>` returns a
:class:`Results`; :func:`~difficult_customer.experiments.library.report.store.store_results`
returns a :class:`StoreResults`; the ablation study returns an :class:`AblationResults`.
:func:`save` writes any of them as JSON (with a ``"kind"`` field naming the type) and
:func:`load` reads one back into the same dataclasses (round-trip tested).

Values are expected returns; fields named ``normalized*`` are on the scale from random (0)
to the oracle (1) of the same model.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import cattrs

from difficult_customer.agents.exact.rule_cost import RuleCost
from difficult_customer.experiments.library.faithfulness import MainTable
from difficult_customer.experiments.library.io import atomic_write_json, read_json

Position = Literal["above", "below", "within", "overlaps"]
Source = Literal["exact", "monte carlo", "iqm"]


# ----------------------------------------------------------------------------- the optimum
@dataclass
class Reference:
    """The 0 and 1 of normalized scores: exact expected returns of the random policy and the oracle."""

    random: float
    oracle: float


@dataclass
class BracketEntry:
    """The certified bracket on the best observation-only policy (``agents.exact.bracket``), raw and normalized."""

    lower: float
    upper: float
    oracle: float
    random: float
    lower_normalized: float
    upper_normalized: float
    pbvi_lower: float
    fib: float
    points: int
    depth: int
    lower_depth: int
    max_turns: int
    seconds: float


@dataclass
class FixedSequenceEntry:
    """The best fixed sequence found and a proven upper bound on every fixed sequence."""

    value: float
    upper_bound: float
    optimal: bool
    moves: list[str]
    normalized: float
    bound_normalized: float


@dataclass
class Location:
    """Where a score lies against the certified bracket, decided by its interval (normalized)."""

    position: Position
    gap_low: float
    """The least the score can be below the best observation-only policy (0 when it may reach it)."""
    gap_high: float
    """The most it can be below it."""
    share_low: float | None = None
    share_high: float | None = None


# ----------------------------------------------------------------------------- scores
@dataclass
class Score:
    """A policy's score on one persona: its value, normalized, and how it was obtained.

    ``source``: ``exact`` (computed from the tables), ``monte carlo`` (sampled on ``episodes``
    conversations) or ``iqm`` (a learner: the interquartile mean over ``seeds`` seeds, with a
    stratified bootstrap interval that includes each seed's evaluation noise).
    """

    kind: str
    value: float
    normalized: float
    normalized_low: float
    normalized_high: float
    source: Source
    interval: str
    value_low: float | None = None
    value_high: float | None = None
    stderr: float | None = None
    episodes: int = 0
    group: str = ""
    label: str | None = None
    solved_for_persona: bool = False
    memoryless: bool = False
    bracket: Location | None = None
    seeds: int = 1
    per_seed: list[float] = field(default_factory=list)
    per_seed_stderr: list[float] = field(default_factory=list)
    per_seed_source: list[str] = field(default_factory=list)
    exact_per_seed: bool = False
    episodes_per_seed: int = 0

    @classmethod
    def of(cls, entry: dict[str, Any], **extra: Any) -> "Score":
        """A score from the evaluation library's dict (``score_policy`` or ``score_seeds``) plus ``extra`` fields."""
        known = set(cls.__dataclass_fields__)
        data = {k: v for k, v in entry.items() if k in known}
        data["value"] = entry["return"]
        data["value_low"] = entry.get("return_low")
        data["value_high"] = entry.get("return_high")
        return cls(**{**data, **extra})

    @property
    def is_exact(self) -> bool:
        """Whether the score has no interval (exact, or one seed with no evaluation noise)."""
        return not self.normalized_high > self.normalized_low


@dataclass
class Reliability:
    """Success with its Wilson interval, and pass^k, pooled over a learner's seeds."""

    success_rate: float
    success_low: float
    success_high: float
    episodes: int
    walk_away_rate: float
    pass_k: dict[int, float]


@dataclass
class RuleRate:
    """The share of conversations keeping a guide rule where it applies, with a Wilson interval (None: never)."""

    rate: float | None
    applicable: int
    low: float | None
    high: float | None


@dataclass
class RuleCostEntry:
    """What keeping a rule costs the oracle, exact (None where no policy can keep it for sure)."""

    cost: float | None
    normalized: float | None


@dataclass
class Reach:
    """Steps to reach a normalized score: the IQM over the seeds that reached it, with an interval."""

    target: float
    reached: int
    seeds: int
    iqm: float | None = None
    low: float | None = None
    high: float | None = None


@dataclass
class Convergence:
    """The plateau rule's verdict on a learner's curves (``experiments/library/plateau.py``)."""

    converged: bool
    label: str
    """``converged`` or ``still improving at N steps``."""
    gain: float
    gain_low: float
    gain_high: float
    window_start: int
    steps: int
    plateau_step: int | None = None
    reach: list[Reach] = field(default_factory=list)


@dataclass
class Curve:
    """A learner's learning curve: normalized scores at each step, one row per seed."""

    steps: list[int]
    scores: list[list[float]]
    label: str = ""
    source: str = "exact"
    """How each point was scored: ``exact`` (memoryless learners), or ``sampled on N conversations``."""
    convergence: Convergence | None = None


@dataclass
class TrainingRun:
    """One training run of a learner."""

    seed: int
    final_return: float | None
    wall_seconds: float
    model: str


# ----------------------------------------------------------------------------- robustness and the headline
@dataclass
class ConclusionShare:
    """How often one conclusion holds over sampled plausible models, with a Wilson interval."""

    text: str
    share: float
    share_ci: tuple[float, float]
    holds_in_default: bool | None = None


@dataclass
class Robustness:
    """The robustness of the report's conclusions, from a sensitivity study."""

    source: str
    variant: str
    samples: int | None
    conclusions: dict[str, ConclusionShare]
    quick: bool = False
    """Whether it comes from the report's own quick study (coarser brackets) rather than a sensitivity.json."""


@dataclass
class Finding:
    """One sentence of the headline, computed from the results, with the robustness of its conclusions (in words)."""

    id: str
    sentence: str
    robustness: dict[str, str] = field(default_factory=dict)


@dataclass
class Headline:
    """What the report leads with: the main persona, the model variant, the focus learner and the findings."""

    persona: str
    variant: str
    focus: str | None = None
    findings: list[Finding] = field(default_factory=list)


@dataclass
class Transcript:
    """One conversation rendered as the env renders it."""

    seed: int
    outcome: str
    text: str


# ----------------------------------------------------------------------------- a report from a sweep store
def context_name(settings: dict[str, Any]) -> str:
    """A model as a store's results name it: ``persona/ablated switches (sorted, or none)/turn limit``."""
    ablate = "-".join(sorted(settings.get("ablate") or [])) or "none"
    return f"{settings['persona']}/{ablate}/{int(settings['max_turns'])}"


@dataclass
class StoreContext:
    """One (persona, ablation, turn limit) of a store: its references, certified bracket and exact guide scores."""

    references: Reference
    bracket: BracketEntry
    guides: dict[str, float]


@dataclass
class StoreGroup:
    """The runs of a store that differ only in their seed, scored like the report's own learners.

    A ``train_jax`` run trains several seeds at once: each of its seeds is a member, and the run
    is a group of its own.
    """

    label: str
    settings: dict[str, Any]
    learner: str
    group: str
    context: str
    training_seeds: list[int]
    score: Score
    curve: Curve | None = None
    kind: str = "train"
    """The run kind: ``train`` (SB3, one seed per run) or ``train_jax`` (every seed in one run)."""
    reads: str = ""
    """What the learner reads, in words (``findings.learner_reads``)."""
    runs: list[str] = field(default_factory=list)
    """The store's run ids."""
    scored_from: str = "model"
    """``model``: each seed's model (an artifact of the store) scored here; ``store``: the scores its runs stored
    (a store committed without its artifacts)."""
    steps: int = 0
    """Environment steps per seed (the last checkpoint of the learning curve, else the setting)."""
    steps_per_second: float | None = None
    """Environment steps per second, all seeds together (SB3: the runs' steps over their wall times; JAX: the
    run's training alone, compilation and scoring left out)."""
    train_seconds: float | None = None
    """Wall time of the training of all seeds (SB3: the runs' wall times added up, evaluations included)."""
    best_seed: int | None = None
    """The training seed with the highest score."""


@dataclass
class StoreSettings:
    """Where a store's report came from."""

    source: str
    runs: int
    varying: list[str]
    budget: str
    learned_mc_episodes: int
    versions: dict[str, str] = field(default_factory=dict)
    seed: int = 0
    wall_seconds: float = 0.0
    """The time this report took to build (kept in the JSON, not printed: the markdown depends on the store alone)."""


@dataclass
class StoreResults:
    """A report built from a sweep study's results store: every group's IQM against its context's bracket."""

    settings: StoreSettings
    contexts: dict[str, StoreContext] = field(default_factory=dict)
    groups: list[StoreGroup] = field(default_factory=list)
    sensitivity: Robustness | None = None


# ----------------------------------------------------------------------------- the report
@dataclass
class Settings:
    """What the report was computed with."""

    budget: str
    main_persona: str
    train_persona: str = "mixture"
    variant: str = "default"
    ablate: list[str] = field(default_factory=list)
    algorithms: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Learner -> (steps, seeds)."""
    training_seeds: dict[str, list[int]] = field(default_factory=dict)
    eval_episodes: int = 0
    mc_episodes: int = 0
    learned_mc_episodes: int = 0
    eval_seeds: tuple[int, int] = (0, 0)
    """The first and last evaluation seed."""
    max_turns: int = 0
    n_envs: int = 0
    versions: dict[str, str] = field(default_factory=dict)
    state_space: int = 0
    seed: int = 0
    wall_seconds: float = 0.0


@dataclass
class Results:
    """Everything the research report shows: ``report.md`` and the figures are rendered from this alone."""

    settings: Settings
    references: dict[str, Reference] = field(default_factory=dict)
    """Persona -> the random and oracle values."""
    brackets: dict[str, BracketEntry] = field(default_factory=dict)
    fixed_sequence: dict[str, FixedSequenceEntry] = field(default_factory=dict)
    scores: dict[str, dict[str, Score]] = field(default_factory=dict)
    """Persona -> policy (or learner) -> score."""
    reliability: dict[str, Reliability] = field(default_factory=dict)
    """Policy (or learner) -> reliability on the main persona."""
    conformance: dict[str, dict[str, RuleRate]] = field(default_factory=dict)
    """Policy (or learner) -> rule -> rate on the main persona."""
    rule_costs: dict[str, RuleCostEntry] = field(default_factory=dict)
    strategies: dict[str, list[list[float]]] = field(default_factory=dict)
    """Policy (or learner) -> share of each move (columns) at each turn (rows)."""
    curves: dict[str, Curve] = field(default_factory=dict)
    training: dict[str, list[TrainingRun]] = field(default_factory=dict)
    faithfulness: dict[str, MainTable] = field(default_factory=dict)
    """Variant -> what the guides say and what we assumed (``library/faithfulness.py``)."""
    sensitivity: Robustness | None = None
    headline: Headline | None = None
    transcripts: list[Transcript] = field(default_factory=list)
    baselines: StoreResults | None = None
    """The committed converged baselines (the store ``experiments/baselines``, from its ``baselines.json``)."""
    baselines_note: str = ""
    """One line on the converged baselines: why there are none, or why the headline leaves them out."""
    converged_note: str = ""
    """One line on the conformance of the converged learners' best seeds: why it is left out (empty when shown)."""
    imitation: dict[str, Any] | None = None
    """The committed imitation study (``experiments/baselines/imitation.json``, ``imitate --study``), as written."""
    imitation_note: str = ""
    """One line on the imitation study: why it is not shown (empty when it is)."""

    @property
    def persona(self) -> str:
        """The persona the report leads with."""
        return self.settings.main_persona

    def main_scores(self) -> dict[str, Score]:
        """The scores on the main persona."""
        return self.scores.get(self.persona, {})


# ----------------------------------------------------------------------------- the ablation study
@dataclass
class AblationSetting:
    """One row of the ablation study: a claim switched off, the learner retrained and a belief-based policy."""

    ablate: list[str]
    references: Reference
    bracket: BracketEntry
    learner: Score
    learner_conformance: dict[str, RuleRate]
    optimum: Score
    optimum_conformance: dict[str, RuleRate]
    oracle_conformance: dict[str, RuleRate]


@dataclass
class AblationResults:
    """The ablation study: per claim switched off (``"none"`` first), what the retrained learner does."""

    learner: str
    optimum: str
    persona: str
    steps: int
    seeds: int
    settings: dict[str, AblationSetting] = field(default_factory=dict)
    seed: int = 0
    budget: str = "default"
    wall_seconds: float = 0.0


AnyResults = Results | StoreResults | AblationResults
KINDS_OF_RESULTS: dict[str, type] = {"report": Results, "store": StoreResults, "ablations": AblationResults}
"""The ``"kind"`` field of a results file -> its type."""

_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(RuleCost, lambda d, _: RuleCost(**d))
_converter.register_unstructure_hook(RuleCost, lambda c: {
    "rule": c.rule, "oracle": c.oracle, "restricted": c.restricted, "oracle_by_persona": c.oracle_by_persona,
    "restricted_by_persona": c.restricted_by_persona})


def structure(data: Any, cls: type) -> Any:
    """``data`` (plain JSON data) as an object of ``cls``, one of the types of this module."""
    return _converter.structure(data, cls)


def kind_of(results: AnyResults) -> str:
    """The ``"kind"`` a results object is saved under."""
    for kind, cls in KINDS_OF_RESULTS.items():
        if isinstance(results, cls):
            return kind
    raise TypeError(f"{type(results).__name__} is not a results type; allowed: "
                    f"{', '.join(c.__name__ for c in KINDS_OF_RESULTS.values())}")


def to_data(results: AnyResults) -> dict[str, Any]:
    """``results`` as plain JSON data, with its ``"kind"``."""
    return {"kind": kind_of(results), **_converter.unstructure(results)}


def from_data(data: dict[str, Any]) -> AnyResults:
    """The results object back from :func:`to_data`'s output.

    Raises:
        ValueError: for data without a known ``"kind"`` or that does not fit its type.
    """
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind not in KINDS_OF_RESULTS:
        raise ValueError(f"results kind {kind!r}; allowed: {', '.join(KINDS_OF_RESULTS)}")
    body = {k: v for k, v in data.items() if k != "kind"}
    try:
        return _converter.structure(body, KINDS_OF_RESULTS[kind])
    except (cattrs.BaseValidationError, TypeError, KeyError) as err:
        detail = "; ".join(cattrs.transform_error(err)) if isinstance(err, cattrs.BaseValidationError) else str(err)
        raise ValueError(f"results of kind {kind!r} do not fit their schema: {detail}") from err


def save(results: AnyResults, path: str | Path) -> Path:
    """Write ``results`` as JSON, atomically."""
    path = Path(path)
    atomic_write_json(path, to_data(results))
    return path


def load(path: str | Path) -> AnyResults:
    """Read a results file written by :func:`save`.

    Raises:
        ValueError: for a missing file, or one that is not a results file.
    """
    data = read_json(Path(path))
    if data is None:
        raise ValueError(f"{str(path)!r}: no results file there")
    return from_data(data)
