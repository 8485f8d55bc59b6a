"""The report's markdown, from typed results alone: :func:`render` serves the report, ``--from`` and the ablations.

A section is a function from results to markdown lines (empty to leave it out);
:data:`SECTIONS`, :data:`STORE_SECTIONS` and :data:`ABLATION_SECTIONS` list them in order.
Every number is printed by :mod:`~difficult_customer.experiments.library.numbers`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from difficult_customer.experiments.library import findings
from difficult_customer.experiments.library.conclusions import CONCLUSIONS, robustness_word
from difficult_customer.experiments.library.conformance import RULES
from difficult_customer.experiments.library.evaluation import KS
from difficult_customer.experiments.library.faithfulness import render_section
from difficult_customer.experiments.library.numbers import fmt, interval, percent
from difficult_customer.experiments.library.plateau import RULE
from difficult_customer.experiments.library.report.build import GROUP_ORDER
from difficult_customer.experiments.library.report.imitation import section_imitation
from difficult_customer.experiments.library.report.results import (
    AblationResults,
    AnyResults,
    Curve,
    Finding,
    Reach,
    Results,
    Robustness,
    RuleRate,
    Score,
    StoreGroup,
    StoreResults,
)
from difficult_customer.experiments.library.report.robustness import STUDY_POINTS

TITLE = "# What reinforcement learning learns about a difficult customer"
ABLATION_TITLE = "# Ablations: what each claim does to the learned strategy"


# ----------------------------------------------------------------------------- cells
def score_cell(v: Score) -> str:
    """A normalized score as the report prints it: exact, one seed, or with its interval (never of zero width)."""
    point, low, high = v.normalized, v.normalized_low, v.normalized_high
    if v.source == "exact":
        return f"{fmt(point)} (exact)"
    if v.source == "iqm":
        if v.seeds == 1:
            if not high > low:
                return f"{fmt(point)} (1 seed, exact)"
            return f"{fmt(point)} {interval(low, high)} (1 seed, {v.episodes_per_seed} conversations)"
        if not high > low:
            return f"{fmt(point)} (all {v.seeds} seeds equal, exact)"
        return f"{fmt(point)} {interval(low, high)} (IQM of {v.seeds} seeds)"
    if not high > low:
        return f"{fmt(point)} (no spread in {v.episodes} conversations)"
    return f"{fmt(point)} {interval(low, high)} ({v.episodes} conversations)"


def rate_cell(entry: RuleRate | None) -> str:
    """A conformance rate with its Wilson interval (``n/a`` where the rule never applied)."""
    if entry is None or entry.rate is None:
        return "n/a"
    return f"{fmt(entry.rate)} {interval(entry.low, entry.high)}" if entry.high > entry.low else fmt(entry.rate)


def how_scored(v: Score) -> str:
    """How a score was obtained, in words."""
    if v.source == "exact":
        return "exact"
    if v.source == "iqm":
        per = "exact per seed" if v.exact_per_seed else f"{v.episodes_per_seed} conversations per seed"
        return f"{v.seeds} seed{'s' if v.seeds > 1 else ''}, {per}"
    return f"Monte Carlo, {v.episodes} conversations"


def position_cell(v: Score) -> str:
    """Where a score lies against the certified bracket."""
    b = v.bracket
    return "—" if b is None else f"{b.position} (gap {fmt(b.gap_low)} to {fmt(b.gap_high)})"


def ordered(results: Results) -> list[str]:
    """The policies of the main persona in table order: by group (:data:`GROUP_ORDER`), then as scored."""
    sc = results.main_scores()
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}
    return sorted(sc, key=lambda n: rank.get(sc[n].group, len(rank)))


def row_name(results: Results, name: str) -> str:
    """A policy's name in a table row, marked when it uses the model's exact filter."""
    v = results.main_scores().get(name)
    return f"{name} (model's filter)" if v is not None and v.group == findings.GROUP_FILTER else name


def _heading(group: str) -> str:
    return f"### {group[0].upper()}{group[1:]}"


# ----------------------------------------------------------------------------- sections of the report
Section = Callable[[Any], list[str]]
"""A report section: the results in, markdown lines out (empty to leave the section out)."""


def conclusion_words(conclusion: str, sensitivity: Robustness | None = None) -> str:
    """A conclusion as a reader is shown it: its words, never its id."""
    if conclusion in CONCLUSIONS:
        return CONCLUSIONS[conclusion].words
    if sensitivity is not None and conclusion in sensitivity.conclusions:
        return sensitivity.conclusions[conclusion].text
    return conclusion.replace("_", " ")


def robustness_note(results: Results | StoreResults, finding: Finding) -> str:
    """The robustness of a finding's conclusions, each named in words."""
    if not finding.robustness or results.sensitivity is None:
        return ""
    named = [f"{conclusion_words(c, results.sensitivity)} {s}" for c, s in finding.robustness.items()]
    return " *Robustness: " + "; ".join(named) + ".*"


def section_headline(results: Results) -> list[str]:
    """The findings the report leads with (``library/findings.py``), each with its robustness where known."""
    refs = results.references[results.persona]
    out = ["## Headline", ""]
    out += [f"- {f.sentence}{robustness_note(results, f)}" for f in (results.headline.findings if results.headline
                                                                     else [])]
    sens = results.sensitivity
    note = (" Robustness: the share of plausible models (sampled over every assumption's range, solved exactly) in "
            f"which the conclusion holds, with a 95% Wilson interval; from {sens.source}." if sens else
            " No sensitivity study was run for this report (pass --sensitivity PATH or --robustness-samples N).")
    return [*out, "", f"Scores are normalized: 0 is the random policy ({fmt(refs.random)} mean return, exact), 1 the "
            f"oracle that sees the hidden state ({fmt(refs.oracle)}, exact).{note}", ""]


def section_bracket(results: Results) -> list[str]:
    """The certified bracket on the best observation-only policy, per persona."""
    if not results.brackets:
        return []
    some = next(iter(results.brackets.values()))
    out = ["## The certified optimum", "",
           "The best policy that reads only the observations (any function of the whole conversation so far) cannot "
           "be computed exactly for this turn limit; it is bracketed by two exact numbers. Lower end: the exact value "
           f"of an actual policy (PBVI plans, {some.points} belief points per turn). Upper end: the fast informed "
           f"bound with {some.depth} turns of exact expectimax in front, a proven upper bound on every "
           "observation-only policy. Neither is sampled.", "",
           "| persona | lower (normalized) | upper (normalized) | width | lower (raw) | upper (raw) | oracle (raw) |",
           "|---|---|---|---|---|---|---|"]
    for persona, b in results.brackets.items():
        out.append(f"| {persona} | {fmt(b.lower_normalized)} | {fmt(b.upper_normalized)} | "
                   f"{fmt(b.upper_normalized - b.lower_normalized)} | {fmt(b.lower)} | {fmt(b.upper)} | "
                   f"{fmt(b.oracle)} |")
    return [*out, ""]


def section_scores(results: Results) -> list[str]:
    """Every policy's score on the main persona, in groups by what it reads, against the bracket."""
    sc = results.main_scores()
    b = results.brackets[results.persona]
    out = ["## Scores", "", f"Normalized scores on {results.persona}; the last column says where each lies against "
           f"the certified bracket [{fmt(b.lower_normalized)}, {fmt(b.upper_normalized)}] (gap: how far below the "
           "best observation-only policy it is, at least and at most, from its interval).", ""]
    for group in [g for g in GROUP_ORDER if any(v.group == g for v in sc.values())]:
        out += [_heading(group), "", "| policy | score | how scored | against the bracket |", "|---|---|---|---|"]
        for name, v in sc.items():
            if v.group == group:
                shown = name if v.label in (None, name) else f"{name}: {v.label}"
                out.append(f"| {shown} | {score_cell(v)} | {how_scored(v)} | {position_cell(v)} |")
        out.append("")
    st = results.settings
    return [*out, "Exact: the expected return computed from the model's tables, no sampling (every policy whose "
            "move depends only on the current observation, the learned MLPs included, each seed). Sampled: policies "
            f"with memory, on {st.mc_episodes} conversations (exact policies) or {st.learned_mc_episodes} per seed "
            "(learners), 95% interval. Learners: interquartile mean over seeds ("
            + ", ".join(f"{a} {seeds}" for a, (_, seeds) in st.algorithms.items()) + ") with a 95% stratified "
            "bootstrap interval that includes each seed's evaluation noise. The learners that use the model's exact "
            "filter (belief features) are kept apart from those that read only the observations.", "",
            "![scores](scores.png)", ""]


def section_personas(results: Results) -> list[str]:
    """Every policy on every persona, labelled by whether it was solved for that persona."""
    personas = list(results.scores)
    if len(personas) < 2:
        return []
    out = ["## Scores by persona", "",
           "Read this table like with like. Rows marked *solved for the persona* (the oracle and the exact policies) "
           "are computed anew for each persona: they know which persona they face. The learned policies were "
           f"trained on {results.settings.train_persona} and do not; the scripted policies are the same script "
           "everywhere. Compare within each kind, not across.", "",
           "| policy | solved for the persona | " + " | ".join(personas) + " |", "|---|---|" + "---|" * len(personas)]
    for n in ordered(results):
        solved = "yes" if results.scores[personas[0]][n].solved_for_persona else "no"
        out.append(f"| {row_name(results, n)} | {solved} | "
                   + " | ".join(score_cell(results.scores[p][n]) for p in personas) + " |")
    return [*out, ""]


def section_reliability(results: Results) -> list[str]:
    """Success (Wilson interval) and pass^k on the main persona."""
    out = ["## Reliability", "", "Success (solved and followed up) with a 95% Wilson interval, and pass^k on "
           f"{results.persona}: the chance that k conversations in a row all succeed "
           f"({results.settings.eval_episodes} conversations per policy, pooled over a learner's seeds).", "",
           "| policy | success | " + " | ".join(f"pass^{k}" for k in KS) + " |", "|---|---|" + "---|" * len(KS)]
    for n in ordered(results):
        v = results.reliability[n]
        success = (f"{fmt(v.success_rate)} {interval(v.success_low, v.success_high)}"
                   if v.success_high > v.success_low else fmt(v.success_rate))
        out.append(f"| {row_name(results, n)} | {success} | " + " | ".join(fmt(v.pass_k[k]) for k in KS) + " |")
    return [*out, ""]


def reach_cell(reach: Reach) -> str:
    """Steps to reach a score: an IQM with its interval, and how many seeds got there."""
    if reach.iqm is None:
        return f"not reached (0 of {reach.seeds} seeds)"
    some = "" if reach.reached == reach.seeds else f", {reach.reached} of {reach.seeds} seeds"
    spread = "" if reach.low is None or not reach.high > reach.low else f" [{reach.low:,.0f}, {reach.high:,.0f}]"
    return f"{reach.iqm:,.0f}{spread}{some}"


def convergence_rows(curves: dict[str, Curve]) -> list[str]:
    """A table of each learner's plateau verdict, its IQM gain over the last quarter and its steps to reach."""
    rows = [(name, c) for name, c in curves.items() if c.convergence is not None]
    if not rows:
        return []
    targets = [r.target for r in rows[0][1].convergence.reach]
    out = ["| learner | verdict | IQM gain over the last quarter | curve points | "
           + " | ".join(f"steps to {t:.2f}" for t in targets) + " |", "|---|---|---|---|" + "---|" * len(targets)]
    for name, c in rows:
        v = c.convergence
        gain = f"{fmt(v.gain)} {interval(v.gain_low, v.gain_high)}" if v.gain_high > v.gain_low else fmt(v.gain)
        out.append(f"| {name} | {v.label} | {gain} (from {v.window_start:,} steps) | {c.source} | "
                   + " | ".join(reach_cell(r) for r in v.reach) + " |")
    return out


def section_curves(results: Results) -> list[str]:
    """The learning curves figure and each learner's plateau verdict (none without learners)."""
    if not results.curves:
        return []
    out = ["## Learning curves", "", "Normalized score against environment steps (band: the certified bracket; "
           "dashed: learners that use the model's exact filter). A memoryless learner's points are exact; a learner "
           "with memory is sampled.", "", "![learning curves](learning_curves.png)", ""]
    table = convergence_rows(results.curves)
    if table:
        out += [f"A learner has converged when its IQM over seeds gains less than {RULE.gain:g} over the last "
                f"{RULE.window:.0%} of its steps, the gain's 95% bootstrap interval included; otherwise it is still "
                "improving. Steps to reach a score: the IQM over the seeds that reached it.", "", *table, ""]
    return out


def section_baselines(results: Results) -> list[str]:
    """The committed converged baselines beside the report's own budget-limited learners (one line without them)."""
    base = results.baselines
    if base is None:
        return [results.baselines_note, ""] if results.baselines_note else []
    counts = sorted({len(g.training_seeds) for g in base.groups})
    seeds = f"{counts[0]} seeds each" if len(counts) == 1 else f"{counts[0]} to {counts[-1]} seeds"
    stored = all(g.scored_from == "store" for g in base.groups)
    out = [f"### Converged baselines (committed store {base.settings.source}, {seeds})", "",
           "Unlike the learners above, which train on this report's budget, these were trained to convergence by a "
           f"study and committed ({'the scores their runs stored' if stored else 'their models scored'}; "
           "docs/baselines.md has their whole report). Verdict, plateau and steps to reach a score as above; "
           "steps/s and training time are of all seeds together.", ""]
    if results.baselines_note:
        out += [results.baselines_note, ""]
    return [*out, *learner_rows(base.groups), ""]


def section_conformance(results: Results) -> list[str]:
    """The share of conversations following each guide rule, per policy, with Wilson intervals, and each rule's cost."""
    out = ["## Conformance to the guides", "", f"Share of conversations on {results.persona} (where the rule applies) "
           "in which each rule holds, with a 95% Wilson interval (a learner's seeds pooled). "
           + "; ".join(f"{r}: {t}" for r, t in RULES.items()) + ".", "",
           "| policy | " + " | ".join(RULES) + " |", "|---|" + "---|" * len(RULES)]
    scored = ordered(results)
    converged = [n for n in results.conformance if n not in scored]  # the converged baselines' best seeds
    for n in [*scored, *converged]:
        out.append(f"| {row_name(results, n)} | " + " | ".join(rate_cell(results.conformance[n].get(r))
                                                                for r in RULES) + " |")
    costs = results.rule_costs
    if costs:
        out.append("| *cost of keeping it (oracle, exact, normalized)* | " + " | ".join(
            "cannot be kept" if costs[r].normalized is None else fmt(costs[r].normalized) for r in RULES) + " |")
    out.append("")
    if converged:
        out += [f"{', '.join(converged)}: the best seed of a converged baseline (the committed store), its "
                "conversations sampled like every other policy's.", ""]
    elif results.converged_note:
        out += [results.converged_note, ""]
    return [*out, "![conformance](conformance.png)", ""]


def section_faithfulness(results: Results) -> list[str]:
    """What the guides say and what we assumed (``library/faithfulness.py``), for the default model and guide-only."""
    tables = results.faithfulness
    if not tables:
        return []
    return [*render_section(tables["default"], tables["guide_only"]).splitlines(), ""]


def section_sensitivity(results: Results | StoreResults) -> list[str]:
    """How robust each conclusion is: its share of plausible models (from the sensitivity study)."""
    sens: Robustness | None = results.sensitivity
    if sens is None:
        return []
    quick = (f" The quick study solves each model's bracket with {STUDY_POINTS} belief points (the report's own uses "
             "more; the upper end's depth is the same): its lower end is lower, so a conclusion that needs it "
             "(adapting) holds in at most as many models as it would at full precision." if sens.quick else "")
    out = ["## How robust the conclusions are", "", f"From {sens.source}, variant {sens.variant}: the share of "
           f"{sens.samples} models drawn over every assumption's and reading's range in which each conclusion holds "
           f"(95% Wilson interval).{quick}", "",
           "| conclusion | in the default model | share of plausible models | verdict |", "|---|---|---|---|"]
    for cid, c in sens.conclusions.items():
        low, high = c.share_ci
        default = {True: "holds", False: "fails", None: "n/a"}[c.holds_in_default]
        out.append(f"| {conclusion_words(cid, sens)} | {default} | {percent(c.share, low, high)} | "
                   f"{robustness_word(c.share, low, high)} |")
    return [*out, ""]


def section_strategies(results: Results) -> list[str]:
    """Moves by turn, and example conversations of the focus learner."""
    out = ["## Strategies", "", "Share of each move at each turn.", "", "![strategies](strategies.png)", ""]
    if results.transcripts and results.headline is not None:
        out += [f"### Example conversations of {results.headline.focus}", ""]
        for t in results.transcripts:
            out += [f"Seed {t.seed}, outcome {t.outcome}:", "", "```text", t.text.rstrip(), "```", ""]
    return out


def section_settings(results: Results) -> list[str]:
    """Budget, seeds, versions, wall time and the command that reproduces the report."""
    st = results.settings
    extra = f" --variant {st.variant}" if st.variant in ("guide_only",) else ""
    return ["## Settings", "",
            f"- Budget {st.budget}: " + ", ".join(f"{a} {steps} steps x {seeds} seeds"
                                                 for a, (steps, seeds) in st.algorithms.items()),
            f"- Model variant {st.variant}; trained on {st.train_persona}; evaluation seeds "
            f"{st.eval_seeds[0]}-{st.eval_seeds[1]}; switched off: {', '.join(st.ablate) or 'nothing'}; max turns "
            f"{st.max_turns}; {st.state_space} hidden states.",
            "- Versions: " + ", ".join(f"{k} {v}" for k, v in st.versions.items()),
            f"- Wall time: {st.wall_seconds:.0f} s",
            f"- Reproduce: `difficult-customer report --budget {st.budget} --seed {st.seed}{extra}`"]


SECTIONS: list[Section] = [section_headline, section_bracket, section_scores, section_personas, section_reliability,
                           section_curves, section_baselines, section_imitation, section_conformance,
                           section_faithfulness, section_sensitivity, section_strategies, section_settings]
"""The sections of report.md, in order; a new section is a function added here."""


# ----------------------------------------------------------------------------- a report from a sweep store
def duration(seconds: float | None) -> str:
    """A wall time in words: ``42 s``, ``12.5 min``, ``3.2 h`` (``—`` when unknown)."""
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def scored_cell(v: Score) -> str:
    """A learner's IQM with its interval and how each seed was scored (exact, or sampled on N conversations)."""
    if v.seeds == 1:  # the cell says it already: exact, or on how many conversations
        return score_cell(v)
    how = "exact per seed" if v.exact_per_seed else f"sampled, {v.episodes_per_seed} conversations per seed"
    return f"{score_cell(v)}; {how}"


def learner_rows(groups: Sequence[StoreGroup]) -> list[str]:
    """The converged table: per group its learner, what it reads, its IQM, the plateau verdict, the steps to reach
    each target, its training speed and wall time, and its seeds."""
    targets = sorted({r.target for g in groups if g.curve and g.curve.convergence for r in g.curve.convergence.reach})
    out = ["| learner | reads | IQM [95% interval] | verdict | plateau from | "
           + "".join(f"steps to {t:.2f} | " for t in targets) + "steps/s | training time | seeds |",
           "|---|---|---|---|---|" + "---|" * len(targets) + "---|---|---|"]
    for g in groups:
        v = g.curve.convergence if g.curve is not None else None
        verdict = v.label if v is not None else "no verdict (fewer than 2 checkpoints)"
        plateau = f"{v.plateau_step:,} steps" if v is not None and v.plateau_step is not None else "—"
        reach = {r.target: reach_cell(r) for r in v.reach} if v is not None else {}
        speed = "—" if g.steps_per_second is None else f"{g.steps_per_second:,.0f}"
        out.append(f"| {g.label} | {g.reads or findings.learner_reads(g.learner)} | {scored_cell(g.score)} | "
                   f"{verdict} | {plateau} | " + "".join(f"{reach.get(t, '—')} | " for t in targets)
                   + f"{speed} | {duration(g.train_seconds)} | {len(g.training_seeds)} |")
    return out


LEARNERS_NOTE = ("Verdict: the plateau rule (a learner has converged when its IQM over seeds gains less than "
                 f"{RULE.gain:g} over the last {RULE.window:.0%} of its steps, the gain's 95% bootstrap interval "
                 "included). Plateau from: the first checkpoint from which the IQM gains less than that to the end. "
                 "Steps to reach a score: per seed, the first checkpoint at or above it; the IQM over the seeds that "
                 "got there, with a 95% bootstrap interval. Steps/s: environment steps per second, all seeds "
                 "together; training time: of all seeds (SB3: each run's wall time, its curve evaluations included, "
                 "added up; JAX: the one run's training, compilation and scoring left out).")
"""What the converged table's columns mean."""


def section_store(results: StoreResults) -> list[str]:
    """Every group's IQM across seeds against its context's bracket and guides."""
    st = results.settings
    stored = sum(g.scored_from == "store" for g in results.groups)
    models = (f"exactly if it reads only the current observation, else on {st.learned_mc_episodes} conversations")
    runs = ("exact for a memoryless learner, else sampled on the run's evaluation conversations, with its standard "
            "error")
    if not stored:
        how = f"Each seed's model is scored {models}"
    elif stored == len(results.groups):
        how = f"The store holds no models: each seed has the score its run stored, {runs}"
    else:
        how = (f"{len(results.groups) - stored} groups are scored from their models ({models}) and {stored} from the "
               f"scores their runs stored (the store holds not all models: {runs})")
    out = ["## Groups of the study", "", f"{st.runs} training runs from `{st.source}` in {len(results.groups)} groups "
           "(runs differing only in their seed; a JAX run trains all its seeds at once and is a group of its own). "
           f"{how}; per group the IQM across seeds with a 95% stratified bootstrap interval (evaluation noise "
           "included).", ""]
    for name, entry in results.contexts.items():
        b = entry.bracket
        guides = ", ".join(f"{g} {fmt(v)}" for g, v in entry.guides.items())
        out.append(f"- Context {name}: certified bracket [{fmt(b.lower_normalized)}, {fmt(b.upper_normalized)}]; "
                   f"guides (exact) {guides}.")
    out.append("")
    for group in (findings.GROUP_OBSERVATION, findings.GROUP_FILTER):
        rows = [g for g in results.groups if g.group == group]
        if rows:
            out += [_heading(group), "", "| group | context | seeds | score | against the bracket |",
                    "|---|---|---|---|---|"]
            out += [f"| {g.label} | {g.context} | {len(g.training_seeds)} | {score_cell(g.score)} | "
                    f"{position_cell(g.score)} |" for g in rows]
            out.append("")
    ablations = [g for g in results.groups if "ablate" in g.settings]
    if ablations:
        out += ["### Ablations", "", "| switched off | group | score |", "|---|---|---|"]
        out += [f"| {g.settings['ablate']} | {g.label} | {score_cell(g.score)} |"
                for g in sorted(ablations, key=lambda g: str(g.settings["ablate"]))]
        out.append("")
    out += ["![groups](scores.png)", ""]
    return out


def section_store_learners(results: StoreResults) -> list[str]:
    """The converged table of the store's groups, and the learning curves figure."""
    if not results.groups:
        return []
    out = ["## Convergence and speed", "", *learner_rows(results.groups), "", LEARNERS_NOTE, ""]
    if any(g.curve for g in results.groups):
        out += ["Learning curves (normalized; a memoryless learner's points are exact, a learner with memory or on "
                "belief features is sampled):", "", "![learning curves](learning_curves.png)", ""]
    return out


def section_store_settings(results: StoreResults) -> list[str]:
    """Where the store's report came from (nothing that changes between two builds from the same store)."""
    st = results.settings
    return ["## Settings", "", f"- Store: `{st.source}`; settings that vary: {', '.join(st.varying) or 'none'}",
            f"- Reproduce: `difficult-customer report --from {st.source}`"]


STORE_SECTIONS: list[Section] = [section_store, section_store_learners, section_sensitivity, section_store_settings]
"""The sections of a report built ``--from`` a sweep store."""


# ----------------------------------------------------------------------------- the ablation study
def _change(rate: float | None, base: float | None) -> str:
    if rate is None:
        return "n/a"
    return f"{fmt(rate, 2)}" if base is None else f"{fmt(rate, 2)} ({rate - base:+.2f})"


def section_ablations(results: AblationResults) -> list[str]:
    """Per claim switched off: the retrained learner's score and conformance, the bracket, a belief-based policy."""
    opt = results.optimum
    rules = list(RULES)
    out = ["Each row switches one claim off in the customer model (`ablate=[claim]`), retrains "
           f"{results.learner} ({results.seeds} seeds x {results.steps} steps) and evaluates on {results.persona}. "
           "Scores are normalized against random and the oracle of the same ablated model. The learner: exact per "
           "seed, IQM across seeds with a 95% bootstrap interval. Bracket: certified lower and upper bounds on the "
           f"best observation-only policy (exact). {opt}: a belief-based exact policy, sampled. Conformance: share "
           "of conversations following each rule; in brackets the change against no ablation.", "",
           f"| claim off | {results.learner} | bracket | {opt} | " + " | ".join(f"{results.learner} {r}" for r in rules)
           + " | " + " | ".join(f"{opt} {r}" for r in rules) + " |", "|---|---|---|---|" + "---|" * (2 * len(rules))]
    base = results.settings.get("none")
    for claim, s in results.settings.items():
        cells = [score_cell(s.learner), f"[{fmt(s.bracket.lower_normalized)}, {fmt(s.bracket.upper_normalized)}]",
                 score_cell(s.optimum)]
        for who in ("learner_conformance", "optimum_conformance"):
            for r in rules:
                ref = getattr(base, who)[r].rate if base is not None and claim != "none" else None
                cells.append(_change(getattr(s, who)[r].rate, ref))
        out.append(f"| {claim} | " + " | ".join(cells) + " |")
    return [*out, "", "![learner conformance](conformance_learner.png)", "",
            f"![{opt} conformance](conformance_optimum.png)", "", f"Wall time {results.wall_seconds:.0f} s."]


ABLATION_SECTIONS: list[Section] = [section_ablations]
"""The sections of ablations.md."""


def render(results: AnyResults, sections: Sequence[Section] | None = None) -> str:
    """The markdown of any results: the title, then each of its sections' lines."""
    if sections is None:
        sections = {Results: SECTIONS, StoreResults: STORE_SECTIONS, AblationResults: ABLATION_SECTIONS}[type(results)]
    out = [ABLATION_TITLE if isinstance(results, AblationResults) else TITLE, ""]
    for section in sections:
        out += section(results)
    return "\n".join(out).rstrip("\n") + "\n"


__all__ = ["ABLATION_SECTIONS", "SECTIONS", "STORE_SECTIONS", "Section", "duration", "how_scored", "learner_rows",
           "ordered", "position_cell", "rate_cell", "render", "row_name", "score_cell", "scored_cell"]
