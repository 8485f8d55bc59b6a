"""Faithfulness to the guides: what they say, what we assumed, and what it changes.

Two jobs, both rendered from the model's own metadata (field metadata on
:class:`~difficult_customer.customer_models.personas.Persona`, the switch registry, the
scripts' cited steps and the rule automata), so that nothing here can drift from the
code:

- :func:`render_claims_doc` writes ``docs/claims.md``: every effect with its support and
  its switch (a test checks the file is up to date).
- :func:`main_table` computes the report's main table for a model variant (guide scores
  exact, the three headline gaps, conformance rates with exact rule costs), and
  :func:`render_section` renders the section "What the guides say and what we assumed"
  for the default model and the guide-only variant. The report command calls it::

      from difficult_customer.experiments.library.faithfulness import main_table, render_section
      text = render_section(main_table("default"), main_table("guide_only"))
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

from difficult_customer import agents
from difficult_customer.agents import PolicyContext
from difficult_customer.agents.exact.bracket import PRECISE, certified_bracket
from difficult_customer.agents.exact.evaluation import propagate, random_value
from difficult_customer.agents.exact.fixed_sequence import solve_fixed_sequence
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.agents.exact.oracle import solve_oracle
from difficult_customer.agents.exact.rule_cost import RuleCost, rule_costs
from difficult_customer.agents.guides import AFTER_REJECTION_RULE, GUIDE_SCRIPTS, UNNAMED_STEPS_RULE
from difficult_customer.agents.rules import RULE_AUTOMATA
from difficult_customer.customer_models import CLAIMS
from difficult_customer.customer_models.dynamics import STRUCTURE
from difficult_customer.customer_models.personas import (
    DEFAULT_MIXTURE,
    PERSONAS,
    SHARED,
    WEIGHT_RANGES,
    Mixture,
    Persona,
    model_fields,
)
from difficult_customer.customer_models.provenance import GUIDES, ParamInfo, Support, param_info
from difficult_customer.customer_models.switches import (
    ASSUMPTIONS,
    CONTESTED,
    SWITCHES,
    VARIANTS,
    check_variant,
)
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.conformance import conformance
from difficult_customer.experiments.library.numbers import fmt
from difficult_customer.experiments.library.rollouts import run_episodes

GUIDE_POLICIES: tuple[str, ...] = tuple(GUIDE_SCRIPTS)
SECTION_TITLE = "What the guides say and what we assumed"


# --------------------------------------------------------------------------- the main table
@dataclass(frozen=True)
class MainTable:
    """The report's main numbers for one model variant (values are expected returns)."""

    variant: str
    persona: str
    ablate: tuple[str, ...]
    max_turns: int
    oracle: float
    random: float
    bracket_lower: float
    """The certified bracket's lower end: the exact value of an actual observation-history policy."""
    bracket_upper: float
    """The certified bracket's upper end: no observation-only policy reaches more."""
    best_fixed: float
    best_fixed_moves: tuple[str, ...]
    best_fixed_optimal: bool
    guides: dict[str, float]
    """Exact value of each guide's script."""
    guides_by_persona: dict[str, dict[str, float]]
    oracle_by_persona: dict[str, float]
    conformance: dict[str, dict[str, float | None]]
    """Policy -> rule -> share of conversations that keep it (sampled; None where it never applied)."""
    rule_costs: dict[str, RuleCost]
    episodes: int

    @property
    def observation_gap(self) -> tuple[float, float]:
        """Oracle minus the best observation-only policy: [oracle - upper end, oracle - lower end]."""
        return self.oracle - self.bracket_upper, self.oracle - self.bracket_lower

    @property
    def oracle_over_fixed(self) -> float:
        """Oracle minus the best fixed sequence of moves."""
        return self.oracle - self.best_fixed

    @property
    def belief_over_fixed(self) -> tuple[float, float]:
        """Best observation-only policy minus the best fixed sequence: [lower end - fixed, upper end - fixed]."""
        return self.bracket_lower - self.best_fixed, self.bracket_upper - self.best_fixed

    def guide_over_random(self) -> dict[str, float]:
        """Each guide's value minus the random policy's."""
        return {g: v - self.random for g, v in self.guides.items()}

    def normalized(self, value: float) -> float:
        """``value`` normalized: 0 random, 1 the oracle."""
        return normalize(value, self.random, self.oracle)


def variant_context(variant: str = "default", persona: str | Persona | Mixture = "mixture",
                    max_turns: int = DEFAULT_MAX_TURNS) -> PolicyContext:
    """The policy context of a variant: its switches passed as ``ablate``.

    Raises:
        ValueError: for an unknown variant, listing the known ones.
    """
    return PolicyContext.create(persona=persona, ablate=sorted(check_variant(variant)), max_turns=max_turns)


def main_table(variant: str = "default", persona: str | Persona | Mixture = "mixture",
               max_turns: int = DEFAULT_MAX_TURNS, episodes: int = 400, seed: int = 0,
               conformance_of: Sequence[str] = ("oracle", *GUIDE_POLICIES)) -> MainTable:
    """Compute the main table of a variant: exact values, bounds, rule costs, sampled conformance.

    Args:
        variant: ``"default"`` or ``"guide_only"``.
        persona: the population (a mixture or persona name).
        max_turns: the turn limit.
        episodes: conversations per policy for the conformance rates (0 skips them).
        seed: first environment seed.
        conformance_of: registered policy names whose conformance is sampled.

    Raises:
        ValueError: for an unknown variant or persona.
    """
    context = variant_context(variant, persona, max_turns)
    tables = context.tables
    bracket = certified_bracket(context, **PRECISE)  # the report's setting, so its sections agree
    oracle = solve_oracle(tables, max_turns)
    plan = solve_fixed_sequence(tables, max_turns)
    guides: dict[str, float] = {}
    by_persona: dict[str, dict[str, float]] = {}
    for name in GUIDE_POLICIES:
        result = propagate(agents.make(name, context), context)
        guides[name] = float(result.value)
        by_persona[name] = {k: float(v) for k, v in result.value_by_persona.items()}
    rates: dict[str, dict[str, float | None]] = {}
    if episodes > 0:
        seeds = range(seed, seed + episodes)
        for name in conformance_of:
            table = conformance(run_episodes(name, context, seeds))
            rates[name] = {rule: row["rate"] for rule, row in table.items()}  # type: ignore[misc]
    return MainTable(
        variant=variant,
        persona=tables.mixture.name,
        ablate=tuple(sorted(tables.ablate)),
        max_turns=max_turns,
        oracle=oracle.value,
        random=random_value(context),
        bracket_lower=bracket.lower,
        bracket_upper=bracket.upper,
        best_fixed=plan.value,
        best_fixed_moves=tuple(plan.names()),
        best_fixed_optimal=plan.optimal,
        guides=guides,
        guides_by_persona=by_persona,
        oracle_by_persona=oracle.value_by_persona(),
        conformance=rates,
        rule_costs=rule_costs(tables, max_turns),
        episodes=episodes,
    )


def _f(x: float | None, digits: int = 3) -> str:
    """:func:`~experiments.library.numbers.fmt`, with an infinite cost (a rule no policy keeps for sure) in words."""
    if x is not None and math.isinf(x):
        return "cannot be kept" if x > 0 else "-inf"
    return fmt(x, digits)


def _range(pair: tuple[float, float]) -> str:
    return f"{_f(pair[0])} to {_f(pair[1])}"


def render_main_tables(tables: Sequence[MainTable]) -> str:
    """Markdown: the headline numbers, the guides' exact values and the rules, one column per variant."""
    head = "| | " + " | ".join(f"{t.variant}" for t in tables) + " |"
    rule = "|---|" + "---|" * len(tables)
    out = [head, rule]

    def row(label: str, cells: Sequence[str]) -> None:
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    row("switched off", [", ".join(t.ablate) or "nothing" for t in tables])
    row("oracle (hidden state visible)", [_f(t.oracle) for t in tables])
    row("best observation-only policy (certified bracket)",
        [_range((t.bracket_lower, t.bracket_upper)) for t in tables])
    row("best fixed sequence", [_f(t.best_fixed) + ("" if t.best_fixed_optimal else " (not proven)") for t in tables])
    row("random", [_f(t.random) for t in tables])
    row("**oracle − best observation-only**", [_range(t.observation_gap) for t in tables])
    row("**oracle − best fixed sequence**", [_f(t.oracle_over_fixed) for t in tables])
    row("**best observation-only − best fixed sequence**", [_range(t.belief_over_fixed) for t in tables])
    for g in GUIDE_POLICIES:
        row(f"**{g} − random** (value; normalized)",
            [f"{_f(t.guide_over_random()[g])} ({_f(t.guides[g])}; {_f(t.normalized(t.guides[g]), 2)})"
             for t in tables])
    out.append("")
    out.append("Guides by persona (exact value; the oracle's in the last row):")
    out.append("")
    personas = list(tables[0].oracle_by_persona)
    out.append("| guide | " + " | ".join(f"{t.variant}: {p}" for t in tables for p in personas) + " |")
    out.append("|---|" + "---|" * (len(tables) * len(personas)))
    for g in GUIDE_POLICIES:
        out.append(f"| {g} | " + " | ".join(_f(t.guides_by_persona[g].get(p)) for t in tables for p in personas) + " |")
    out.append("| oracle | " + " | ".join(_f(t.oracle_by_persona.get(p)) for t in tables for p in personas) + " |")
    out.append("")
    out.append("Rules: the oracle's conformance rate (sampled conversations) and the exact cost of keeping the rule "
               "(oracle value minus the best value of an oracle that keeps it; by persona in brackets).")
    out.append("")
    out.append("| rule | rests on | " + " | ".join(f"{t.variant}: oracle keeps it | {t.variant}: cost" for t in tables)
               + " |")
    out.append("|---|---|" + "---|---|" * len(tables))
    for rid, automaton in RULE_AUTOMATA.items():
        cells = []
        for t in tables:
            rate = t.conformance.get("oracle", {}).get(rid)
            cost = t.rule_costs[rid]
            per = ", ".join(f"{p[:4]} {_f(c)}" for p, c in cost.cost_by_persona().items())
            cells += [_f(rate, 2), f"{_f(cost.cost)} ({per})"]
        out.append(f"| {rid} {automaton.text} | {automaton.rests_on} | " + " | ".join(cells) + " |")
    if any(t.conformance for t in tables):
        out.append("")
        out.append("Conformance of the guide scripts (share of conversations keeping each rule):")
        out.append("")
        out.append("| policy | " + " | ".join(f"{t.variant}: {r}" for t in tables for r in RULE_AUTOMATA) + " |")
        out.append("|---|" + "---|" * (len(tables) * len(RULE_AUTOMATA)))
        for g in GUIDE_POLICIES:
            out.append(f"| {g} | " + " | ".join(_f(t.conformance.get(g, {}).get(r), 2)
                                                 for t in tables for r in RULE_AUTOMATA) + " |")
    return "\n".join(out)


def assumptions_table() -> str:
    """Markdown: every assumption and contested reading, its parameters, range and off setting."""
    out = ["| id | assumption | claim | parameters (values; range) | off means |", "|---|---|---|---|---|"]
    for sid in (*ASSUMPTIONS, *CONTESTED):
        s = SWITCHES[sid]
        cells = []
        for f in model_fields():
            info = _info(f)
            own = [f"{p.name} {_value(getattr(p, f.name))}" for p in PERSONAS.values()
                   if info.differs_by == sid and getattr(p, f.name) != SHARED[f.name] and f.name not in p.defining]
            if info.switch == sid:
                cells.append(f"`{f.name}` (shared {_value(SHARED[f.name])}{''.join(', ' + o for o in own)}; "
                             f"range {_range_text(info)})")
            elif own and sid != "A12":
                cells.append(f"`{f.name}` ({', '.join(own)}; range {_range_text(info)})")
        if sid == "A12":
            cells = ["every persona's difference from the shared values (see Personas)"]
        if sid == "A17":
            cells = ["mixture weights (" + ", ".join(
                f"{n} {dict(zip(DEFAULT_MIXTURE.persona_names, DEFAULT_MIXTURE.weights, strict=True)).get(n, 0):g} "
                f"in {lo:g}-{hi:g}" for n, (lo, hi) in WEIGHT_RANGES.items()) + "; normalized)"]
        out.append(f"| {sid} | {s.title} | {s.claim or '—'} | {'; '.join(cells)} | {s.off} |")
    return "\n".join(out)


def render_section(default: MainTable, guide_only: MainTable) -> str:
    """The report section "What the guides say and what we assumed", as markdown."""
    kinds = {k: sum(1 for f in model_fields() if _info(f).support.kind == k) for k in ("quoted", "reading",
                                                                                      "assumption")}
    out = [
        f"## {SECTION_TITLE}",
        "",
        f"Every parameter of the customer model says where it comes from (`docs/claims.md`, rendered from the "
        f"model's field metadata): {kinds['quoted']} rest on a guide's sentence, quoted; {kinds['reading']} on our "
        f"reading of one; {kinds['assumption']} are our assumptions, each with a range and a switch "
        f"(`ablate=[\"A1\"]` ...). The *guide-only* variant (`persona=\"guide_only\"`, or `ablate=` every "
        f"assumption) keeps only what the guides say or what we read from them.",
        "",
        "### Assumptions and contested readings",
        "",
        assumptions_table(),
        "",
        "### The main numbers, with and without our assumptions",
        "",
        f"Exact values over {default.max_turns} turns on the `{default.persona}` population (guide-only: the same "
        f"personas with every assumption off, so equal weights); conformance rates from {default.episodes} sampled "
        f"conversations per policy; rule costs exact.",
        "",
        render_main_tables([default, guide_only]),
        "",
        changes_sentence(default, guide_only),
    ]
    return "\n".join(out)


def changes_sentence(default: MainTable, guide_only: MainTable) -> str:
    """One sentence on what changes when every assumption is off (from the numbers)."""
    def order(t: MainTable) -> str:
        ranked = sorted(t.guides, key=t.guides.get, reverse=True)
        text = ranked[0].replace("guide_", "")
        for a, b in zip(ranked, ranked[1:], strict=False):
            text += (" = " if abs(t.guides[a] - t.guides[b]) < 5e-4 else " > ") + b.replace("guide_", "")
        return text

    spread_d = max(default.oracle_by_persona.values()) - min(default.oracle_by_persona.values())
    spread_g = max(guide_only.oracle_by_persona.values()) - min(guide_only.oracle_by_persona.values())
    def bracket(pair: tuple[float, float]) -> str:
        return f"[{_f(pair[0])}, {_f(pair[1])}]"

    return (
        f"With every assumption off, the guides rank {order(guide_only)} (default: {order(default)}), "
        f"the oracle's value spread across personas goes from {_f(spread_d)} to {_f(spread_g)}, the gap between "
        f"the oracle and the best observation-only policy from {bracket(default.observation_gap)} to "
        f"{bracket(guide_only.observation_gap)}, and the gap between the oracle and the best fixed sequence from "
        f"{_f(default.oracle_over_fixed)} to {_f(guide_only.oracle_over_fixed)}."
    )


# --------------------------------------------------------------------------- docs/claims.md
def _info(f: dataclasses.Field) -> ParamInfo:
    info = param_info(f)
    assert info is not None
    return info


def _value(v: object) -> str:
    if isinstance(v, tuple):
        return "(" + ", ".join(_value(x) for x in v) + ")"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _range_text(info: ParamInfo) -> str:
    if isinstance(info.low, tuple):
        assert isinstance(info.high, tuple)
        return "(" + ", ".join(f"{lo:g}-{hi:g}" for lo, hi in zip(info.low, info.high, strict=True)) + ")"
    return f"{info.low:g}-{info.high:g}"


def _support_cell(s: Support) -> str:
    quotes = "; ".join(x.render() for x in s.quotes)
    text = f"**{s.kind}**"
    if quotes:
        text += f": {quotes}"
    if s.why and quotes:
        text += " —"
    if s.why:
        text += f"{'' if quotes else '.'} *{'Why' if s.kind == 'assumption' else 'Reading'}:* {s.why}"
    if s.against:
        text += ". *Other side:* " + "; ".join(x.render() for x in s.against)
    return text.replace("|", "\\|")


def _switch_cell(name: str, info: ParamInfo) -> str:
    ids = [*(info.claims or ()), *([info.switch] if info.switch else [])]
    off = info.off if not callable(info.off) else "see the claim"
    if not ids:
        return "none (a starting value; its range is sampled)"
    return ", ".join(f"`{i}`" for i in ids) + f" → {_value(off)}"


def _param_table(names: Sequence[str]) -> list[str]:
    by_name = {f.name: _info(f) for f in model_fields()}
    out = ["| parameter | effect | support | switch → off value | range | shared value |",
           "|---|---|---|---|---|---|"]
    for name in names:
        info = by_name[name]
        out.append(f"| `{name}` | {info.support.what} | {_support_cell(info.support)} | "
                   f"{_switch_cell(name, info)} | {_range_text(info)} | {_value(SHARED[name])} |")
    return out


def render_claims_doc() -> str:
    """The text of ``docs/claims.md``, from the model's metadata."""
    fields_by_claim: dict[str, list[str]] = {}
    for f in model_fields():
        info = _info(f)
        fields_by_claim.setdefault(info.claims[0] if info.claims else "", []).append(f.name)
    out = [
        "# Claims, effects, assumptions and conformance rules",
        "",
        "<!-- Generated by difficult_customer.experiments.library.faithfulness.render_claims_doc() from the model's "
        "field metadata; do not edit by hand (tests/test_provenance.py checks it is up to date). -->",
        "",
        "The customer model is built from five customer-service guides, shipped in [guides/](guides/). Every "
        "parameter of the model carries its support, next to the field that holds it "
        "(`dataclasses.field(metadata=...)` in `customer_models/personas.py`):",
        "",
        "- **quoted**: a guide says it; the sentence is given verbatim with the guide's file name;",
        "- **reading**: our interpretation of quoted sentences, and why we read them so;",
        "- **assumption**: no guide says it; why the model needs it, a plausible range, and a switch.",
        "",
        "The guides give directions and order; every number (how much, how often) is ours, so every parameter "
        "has a range (`customer_models.parameters.sampled_parameters()` lists them for a sensitivity analysis).",
        "",
        "**Switches.** `ablate=[...]` (in `compile_model`, `gym.make`, `PolicyContext.create`) takes claim ids "
        "(`C1`-`C10`: everything the claim stands for, its assumptions included), assumption ids (`A1`-`A17`: one "
        "assumption) and `D1` (the other side of a contested reading). Off means the parameter takes its stated "
        "off value: 0 for an effect, 1 for a factor, or a stated neutral setting where the model cannot do "
        "without the quantity. **Variants:** " + ", ".join(
            f"`{k}` ({'everything on' if not v else 'every assumption off'})" for k, v in VARIANTS.items())
        + "; `persona=\"guide_only\"` is the default mixture with every assumption off, and "
        "`compile_model(..., variant=\"guide_only\")` applies it to any persona.",
        "",
        "| guide | title |",
        "|---|---|",
        *[f"| `{g}` | {title} |" for g, title in GUIDES.items()],
        "",
        "## Switches",
        "",
        "| id | kind | what | claim | off means |",
        "|---|---|---|---|---|",
        *[f"| {s.id} | {s.kind} | {s.title} | {s.claim or '—'} | {s.off} |" for s in SWITCHES.values()],
        "",
        "## Effects by claim",
        "",
    ]
    for claim in CLAIMS:
        s = SWITCHES[claim]
        out += [f"### {claim}: {s.title}", "", f"Switched off (`ablate=[\"{claim}\"]`): {s.off}.", ""]
        names = fields_by_claim.get(claim, [])
        if names:
            out += _param_table(names)
        else:
            out.append("No parameter of its own.")
        out.append("")
    out += ["### Starting state and what the agent sees", ""]
    out += _param_table(fields_by_claim.get("", []))
    out += ["", "### How a step is built (structure, not parameters)", "",
            "| rule | support |", "|---|---|"]
    out += [f"| {s.what} | {_support_cell(s)} |" for s in STRUCTURE]
    out += ["", "## Personas", "",
            "A persona's difference from the shared values is an assumption (guide 004: \"Regardless of which flavor "
            "...\"), switched off by the field's `differs_by` switch (`A12` unless noted). What defines a persona is "
            "kept.", "",
            "| persona | support | defines it | differences (switch) |", "|---|---|---|---|"]
    by_name = {f.name: _info(f) for f in model_fields()}
    for p in PERSONAS.values():
        diffs = [f"`{k}`={_value(getattr(p, k))} ({by_name[k].differs_by})"
                 for k, v in SHARED.items() if getattr(p, k) != v and k not in p.defining]
        defs = ", ".join(f"`{k}`={_value(getattr(p, k))}" for k in p.defining) or "—"
        support = _support_cell(p.support) if p.support else "—"
        out.append(f"| `{p.name}` | {support} | {defs} | {'; '.join(diffs) or '—'} |")
    weights_info = param_info(next(f for f in dataclasses.fields(Mixture) if f.name == "weights"))
    assert weights_info is not None
    out += ["", f"Mixture weights (`mixture`: genuine grievance 0.45, naturally difficult 0.35, belligerent 0.2): "
            f"{_support_cell(weights_info.support)}. Switch `A17` → equal weights.", ""]
    out += ["## Guide scripts", "", f"- {UNNAMED_STEPS_RULE}", f"- {AFTER_REJECTION_RULE}", "",
            "| script | move | source | note |", "|---|---|---|---|"]
    for script in GUIDE_SCRIPTS.values():
        for step in script.cited_steps():
            source = step.quote.render() if step.quote else "—"
            if step.rule:
                source = f"rule {step.rule}; from {source}"
            out.append(f"| {script.name} | {step.move.name} | {source} | {step.note or ''} |")
    out += ["", "## Conformance rules", "",
            "A rule is for reading a policy's behaviour against the guides, not for scoring it. Each is an automaton "
            "(`agents/rules.py`) that `experiments/library/conformance.py` runs over conversations and "
            "`agents/exact/rule_cost.py` uses to compute exactly what keeping it costs (the oracle restricted to "
            "the rule's moves, against the unrestricted oracle).", "",
            "| id | rule | rests on |", "|---|---|---|"]
    out += [f"| {r.id} | {r.text} | {r.rests_on} |" for r in RULE_AUTOMATA.values()]
    out.append("")
    return "\n".join(out)


__all__ = [
    "GUIDE_POLICIES",
    "SECTION_TITLE",
    "MainTable",
    "assumptions_table",
    "changes_sentence",
    "main_table",
    "render_claims_doc",
    "render_main_tables",
    "render_section",
    "variant_context",
]
