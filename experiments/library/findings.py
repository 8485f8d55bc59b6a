"""The report's sentences, computed from its numbers.

Every sentence the report writes from a number comes from a function here. Each takes the
report's typed :class:`~difficult_customer.experiments.library.report.results.Results` and
returns the sentence, or None when the numbers it needs are not there. A sentence only
claims what its numbers decide: a comparison is stated when the interval is on one side of
the mark, and said to be undecided otherwise ("cannot tell"). Tests feed each function
numbers on both sides of its claim.
"""

from __future__ import annotations

import math

from difficult_customer.experiments.library.conclusions import (
    ADAPT_THRESHOLD,
    ADAPTING,
    GUIDES_BEAT_RANDOM,
    HIDDEN_INFORMATION,
    HIDDEN_THRESHOLD,
    RULE_COST_THRESHOLD,
    cheap_id,
    first_id,
    robustness_word,
)
from difficult_customer.experiments.library.conformance import RULES
from difficult_customer.experiments.library.numbers import fmt as f3
from difficult_customer.experiments.library.numbers import percent, point_and_interval
from difficult_customer.experiments.library.report.results import (
    Finding,
    Results,
    RuleRate,
    Score,
    StoreContext,
    StoreGroup,
    context_name,
)

NEAR = 0.05
"""The margin of "within 0.05 of the best observation-only policy" (normalized)."""
KEEP_BAR = 0.9
"""A policy keeps a rule when its rate's interval is at or above this; breaks it when the interval is below."""

GROUP_OBSERVATION = "learned, observation only"
GROUP_FILTER = "learned, uses the model's exact filter"

LEARNER_LABELS: dict[str, str] = {
    "ppo": "PPO on the observation",
    "a2c": "A2C on the observation",
    "dqn": "DQN on the observation",
    "recurrent_ppo": "RecurrentPPO on the observation history",
    "ppo_belief": "PPO on exact belief features (uses the model's exact filter)",
    "a2c_belief": "A2C on exact belief features (uses the model's exact filter)",
    "dqn_belief": "DQN on exact belief features (uses the model's exact filter)",
    "ppo_jax": "PPO (JAX) on the observation",
    "gru_ppo_jax": "GRU PPO (JAX) on the observation history",
}
"""What each learner is, as the report names it."""
MEMORY_LEARNERS = ("recurrent_ppo", "gru_ppo_jax")
"""Learners with memory: they read the whole observation history (the others read the current observation)."""
CONVERGED_POLICIES = {"observation": "ppo_converged", "memory": "recurrent_converged"}
"""The registered best seeds of the converged baselines: the best learner on the observation, the best with memory."""


def learner_label(learner: str) -> str:
    """The report's name for a learner: what it reads, and whether it uses the model."""
    if learner in LEARNER_LABELS:
        return LEARNER_LABELS[learner]
    if learner.endswith("_belief"):
        return f"{learner[:-len('_belief')].upper()} on exact belief features (uses the model's exact filter)"
    return learner


def learner_group(learner: str) -> str:
    """The table a learner belongs in: observation-only, or given the model's exact filter."""
    return GROUP_FILTER if learner.endswith("_belief") else GROUP_OBSERVATION


def learner_reads(learner: str) -> str:
    """What a learner reads, in words: the current observation, the observation history, or exact belief features."""
    if learner.endswith("_belief"):
        return "exact belief features (the model's filter)"
    if learner in MEMORY_LEARNERS:
        return "the observation history (memory)"
    return "the current observation"


def _interval(score: Score) -> tuple[float, float, float]:
    return float(score.normalized), float(score.normalized_low), float(score.normalized_high)


# ----------------------------------------------------------------------------- the model
def variant_sentence(results: Results) -> str | None:
    """Which customer model the numbers are for (the headline names it)."""
    st = results.settings
    variant = st.variant
    off = st.ablate
    if variant == "default":
        what = "every assumption on" + (f", with {', '.join(off)} switched off" if off else "")
    elif variant == "guide_only":
        what = "every assumption off: only what the guides say or what we read from them"
    else:
        what = f"switched off: {', '.join(off)}"
    return f"Model variant: **{variant}** ({what}); persona {st.main_persona}."


# ----------------------------------------------------------------------------- the optimum
def hidden_information_sentence(results: Results) -> str | None:
    """What not seeing the hidden state costs: the oracle against the certified bracket, a range."""
    bracket = results.brackets.get(results.persona)
    if bracket is None:
        return None
    low_n, high_n = bracket.lower_normalized, bracket.upper_normalized
    cost_low, cost_high = 1.0 - high_n, 1.0 - low_n
    t = HIDDEN_THRESHOLD
    if cost_low > t:
        verdict = f"more than {t:g} for sure"
    elif cost_high <= t:
        verdict = f"at most {t:g} for sure"
    else:
        verdict = f"whether it is more than {t:g}, the bracket cannot tell"
    return (f"Hidden information costs between {f3(cost_low)} and {f3(cost_high)} (normalized; {verdict}): the "
            f"oracle (1.000) against the certified bracket [{f3(low_n)}, {f3(high_n)}] on the best policy that "
            "reads only the observations (lower end: the exact value of an actual policy; upper end: a proven "
            "bound).")


def adapting_sentence(results: Results) -> str | None:
    """What adapting to the customer is worth: the bracket against the best fixed sequence of moves, a range."""
    bracket = results.brackets.get(results.persona)
    fixed = results.fixed_sequence.get(results.persona)
    if bracket is None or fixed is None:
        return None
    worth_low = bracket.lower_normalized - fixed.bound_normalized
    worth_high = bracket.upper_normalized - fixed.normalized
    t = ADAPT_THRESHOLD
    if worth_low > t:
        verdict = f"more than {t:g} for sure"
    elif worth_high <= t:
        verdict = f"at most {t:g} for sure"
    else:
        verdict = f"whether it is more than {t:g}, the numbers cannot tell"
    fixed_text = f3(fixed.normalized) + ("" if fixed.optimal else
                                          f", at most {f3(fixed.bound_normalized)} for any fixed sequence")
    return (f"Adapting is worth between {f3(worth_low)} and {f3(worth_high)} (normalized; {verdict}): the certified "
            f"bracket on the best observation-only policy against the best fixed sequence of moves ({fixed_text}).")


# ----------------------------------------------------------------------------- the guides
def _guides(results: Results) -> dict[str, float]:
    return {n: float(v.normalized) for n, v in results.main_scores().items() if v.kind == "guide"}


def guides_sentence(results: Results) -> str | None:
    """How the guides score (exact): which is best, and whether every one beats random."""
    guides = _guides(results)
    if not guides:
        return None
    best = max(guides, key=guides.get)
    below = [g for g, v in guides.items() if v <= 0]
    listed = ", ".join(f"{g} {f3(v)}" for g, v in sorted(guides.items(), key=lambda gv: -gv[1]))
    against = ("every guide scores above random (0.000)" if not below
               else f"{', '.join(below)} {'does' if len(below) == 1 else 'do'} no better than random (0.000)")
    return f"Guides (exact): {listed}; {best} ranks first, and {against}."


def best_guide(results: Results) -> str | None:
    """The guide with the highest exact score on the main persona (None without guides)."""
    guides = _guides(results)
    return max(guides, key=guides.get) if guides else None


# ----------------------------------------------------------------------------- learned policies
def learner_sentence(results: Results, learner: str) -> str | None:
    """A learner's score, against the best guide and the certified bracket, each decided only by its interval."""
    score = results.main_scores().get(learner)
    if score is None:
        return None
    point, low, high = _interval(score)
    seeds = score.seeds
    how = (f"IQM of {seeds} seeds" if seeds > 1 else "1 seed") + (
        ", exact per seed" if score.exact_per_seed else ", sampled per seed")
    curve = results.curves.get(learner)
    if curve is not None and curve.convergence is not None:
        how += f"; {curve.convergence.label}"
    budget = results.settings.algorithms.get(learner)
    trained = (f", trained by this report on its budget-limited {results.settings.budget} budget "
               f"({budget[0]:,} steps per seed)," if budget else "")
    parts = [f"{learner_label(learner)}{trained} scores {point_and_interval(point, low, high)} ({how})"]
    guides = _guides(results)
    if guides:
        parts.append(guide_comparison(low, high, guides))
    bracket_part = bracket_comparison(results, learner)
    if bracket_part:
        parts.append(bracket_part)
    return "; ".join(parts) + "."


def guide_comparison(low: float, high: float, guides: dict[str, float]) -> str:
    """Whether a score's interval ``[low, high]`` is above the best of ``guides`` (normalized), below it, or neither."""
    best = max(guides, key=guides.get)
    g = guides[best]
    if low > g:
        return f"above every guide (best: {best}, {f3(g)})"
    if high < g:
        return f"below the best guide ({best}, {f3(g)})"
    return f"whether it beats the best guide ({best}, {f3(g)}) its interval cannot tell"


def bracket_comparison(results: Results, name: str, margin: float = NEAR) -> str | None:
    """Whether a policy is within ``margin`` of the best observation-only policy, decided by its interval.

    The gap to the optimum lies in ``[max(lower - J, 0), upper - J]``; with J's interval
    ``[J_low, J_high]`` it is at most ``upper - J_low`` and at least ``lower - J_high``.
    "within" needs the largest possible gap to be at most ``margin``; "more than ...
    below" needs the smallest possible gap to exceed it; anything else cannot be told.
    """
    bracket = results.brackets.get(results.persona)
    score = results.main_scores().get(name)
    if bracket is None or score is None:
        return None
    _, low, high = _interval(score)
    return bracket_words(low, high, bracket.lower_normalized, bracket.upper_normalized, margin)


def bracket_words(low: float, high: float, lower: float, upper: float, margin: float = NEAR) -> str:
    """Where a score's interval ``[low, high]`` lies against the certified bracket ``[lower, upper]`` (normalized),
    in words (:func:`bracket_comparison`)."""
    most, least = upper - low, lower - high
    if low > upper:
        return (f"above the bracket's upper end ({f3(upper)}), which no policy reading only the observations can "
                "reach: it uses more than the observations, or its estimate is off")
    if most <= margin:
        return f"within {margin:g} of the best observation-only policy for sure (gap at most {f3(max(most, 0.0))})"
    if least > margin:
        return f"more than {margin:g} below the best observation-only policy for sure (gap at least {f3(least)})"
    return (f"whether it is within {margin:g} of the best observation-only policy cannot be told (gap between "
            f"{f3(max(least, 0.0))} and {f3(most)})")


# ----------------------------------------------------------------------------- the converged baselines
def _check_which(which: str) -> str:
    if which not in CONVERGED_POLICIES:
        raise ValueError(f"which={which!r}; allowed: {', '.join(CONVERGED_POLICIES)}")
    return which


def baseline_context(results: Results) -> str:
    """The name of the report's model as a store names its contexts: ``persona/ablated switches/turn limit``."""
    st = results.settings
    return context_name({"persona": results.persona, "ablate": st.ablate, "max_turns": st.max_turns})


def converged_groups(results: Results) -> list[StoreGroup]:
    """The committed baselines' groups trained on the report's own model (none without the baselines)."""
    if results.baselines is None:
        return []
    name = baseline_context(results)
    return [g for g in results.baselines.groups if g.context == name]


def best_converged(results: Results, which: str) -> StoreGroup | None:
    """The committed baseline with the highest IQM among the learners on the current observation (``which`` =
    ``observation``) or among those with memory (``memory``); learners given the model's filter are neither.

    Raises:
        ValueError: for another ``which``.
    """
    memory = _check_which(which) == "memory"
    pick = [g for g in converged_groups(results)
            if g.group == GROUP_OBSERVATION and (g.learner in MEMORY_LEARNERS) == memory]
    return max(pick, key=lambda g: g.score.normalized, default=None)


def converged_sentence(results: Results, which: str) -> str | None:
    """The best converged learner on the observation (or with memory): its IQM with its interval and verdict,
    against the best guide and the certified bracket of its model, each decided by its interval alone."""
    g = best_converged(results, which)
    if g is None:
        return None
    point, low, high = _interval(g.score)
    how = (f"IQM of {g.score.seeds} seeds" if g.score.seeds > 1 else "1 seed") + (
        ", exact per seed" if g.score.exact_per_seed else ", sampled per seed")
    verdict = g.curve.convergence if g.curve is not None else None
    if verdict is not None:
        how += f"; {verdict.label}" + (f" from {verdict.plateau_step:,} steps" if verdict.plateau_step else "")
    who = ("the best learner on the current observation" if which == "observation"
           else "the best learner with memory (the observation history)")
    parts = [f"Converged baselines (committed, {g.steps:,} steps per seed): {who}, {learner_label(g.learner)}, "
             f"scores {point_and_interval(point, low, high)} ({how})"]
    context: StoreContext | None = results.baselines.contexts.get(g.context) if results.baselines else None
    if context is not None:
        if context.guides:
            parts.append(guide_comparison(low, high, context.guides))
        b = context.bracket
        parts.append(bracket_words(low, high, b.lower_normalized, b.upper_normalized))
    return "; ".join(parts) + "."


# ----------------------------------------------------------------------------- rules
def rule_status(entry: RuleRate | None, bar: float = KEEP_BAR) -> str | None:
    """``"keeps"`` (interval at or above ``bar``), ``"breaks"`` (below it), ``"cannot tell"``; None if never applied."""
    if entry is None or entry.rate is None:
        return None
    if entry.low >= bar:
        return "keeps"
    if entry.high < bar:
        return "breaks"
    return "cannot tell"


def _statuses(conf: dict[str, RuleRate]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"keeps": [], "breaks": [], "cannot tell": []}
    for rule in RULES:
        status = rule_status(conf.get(rule))
        if status is not None:
            out[status].append(rule)
    return out


def _rates(conf: dict[str, RuleRate], rules: list[str]) -> str:
    return ", ".join(f"{r} {f3(conf[r].rate)} [{f3(conf[r].low)}, {f3(conf[r].high)}]" for r in rules)


def focus_learner(results: Results) -> str | None:
    """The learned policy the rule sentence is about: the best observation-only learner (else the best learner)."""
    learned = {n: v for n, v in results.main_scores().items() if v.kind == "learned" and n in results.conformance}
    if not learned:
        return None
    plain = {n: v for n, v in learned.items() if v.group != GROUP_FILTER} or learned
    return max(plain, key=lambda n: plain[n].normalized)


def oracle_rules_sentence(results: Results) -> str | None:
    """Which rules the oracle keeps (rate's interval at or above the bar) and which it breaks, with rates."""
    conf = results.conformance.get("oracle")
    if conf is None:
        return None
    st = _statuses(conf)
    parts = []
    if st["keeps"]:
        parts.append(f"keeps {_rates(conf, st['keeps'])}")
    if st["breaks"]:
        parts.append(f"breaks {_rates(conf, st['breaks'])}")
    if st["cannot tell"]:
        parts.append(f"may or may not keep {_rates(conf, st['cannot tell'])}")
    return (f"The oracle {'; '.join(parts)} (a rule is kept when its rate's 95% interval is at or above "
            f"{KEEP_BAR:g}, broken when below).")


def learner_rules_sentence(results: Results) -> str | None:
    """Which rules the focus learner keeps and breaks, and whether the oracle breaks them too (so breaking pays)."""
    focus = focus_learner(results)
    if focus is None:
        return None
    return _rules_sentence(results, focus, f"The learned policy ({learner_label(focus)})")


def converged_rules_sentence(results: Results, which: str) -> str | None:
    """:func:`learner_rules_sentence` for the registered best seed of a converged learner (``which``: ``observation``
    or ``memory``, :data:`CONVERGED_POLICIES`), where its conversations were sampled."""
    name = CONVERGED_POLICIES[_check_which(which)]
    if name not in results.conformance:
        return None
    kind = "on the observation" if which == "observation" else "with memory"
    return _rules_sentence(results, name, f"The best seed of the converged learner {kind} ({name})")


def _rules_sentence(results: Results, name: str, who: str) -> str:
    conf_all = results.conformance
    conf = conf_all[name]
    st = _statuses(conf)
    parts = []
    if st["keeps"]:
        parts.append(f"keeps {', '.join(st['keeps'])}")
    if st["breaks"]:
        parts.append(f"breaks {_rates(conf, st['breaks'])}")
    if st["cannot tell"]:
        parts.append(f"may or may not keep {', '.join(st['cannot tell'])}")
    sentence = f"{who} {'; '.join(parts) or 'applies none of the rules'}."
    oracle = conf_all.get("oracle")
    if st["breaks"] and oracle is not None:
        oracle_status = {r: rule_status(oracle.get(r)) for r in st["breaks"]}
        both = [r for r, s in oracle_status.items() if s == "breaks"]
        kept = [r for r, s in oracle_status.items() if s == "keeps"]
        unsure = [r for r, s in oracle_status.items() if s not in ("breaks", "keeps")]
        if both:
            sentence += (f" The oracle breaks {', '.join(both)} too, so breaking {'it' if len(both) == 1 else 'them'}"
                         " is consistent with the optimum in this model.")
        if kept:
            sentence += (f" The oracle keeps {', '.join(kept)}, so breaking {'it' if len(kept) == 1 else 'them'} is a "
                         "weakness of the learned policy.")
        if unsure:
            sentence += f" Whether the oracle keeps {', '.join(unsure)} its rates cannot tell."
    return sentence


def rule_costs_sentence(results: Results) -> str | None:
    """What keeping each rule costs the oracle (exact): cheap rules (under the threshold) and costly ones."""
    costs = results.rule_costs
    if not costs:
        return None
    cheap, costly, impossible = [], [], []
    for rule, entry in costs.items():
        c = entry.normalized
        if c is None or not math.isfinite(c):
            impossible.append(rule)
        elif c < RULE_COST_THRESHOLD:
            cheap.append(f"{rule} {f3(c)}")
        else:
            costly.append(f"{rule} {f3(c)}")
    parts = []
    if cheap:
        parts.append(f"under {RULE_COST_THRESHOLD:g} for {', '.join(cheap)}")
    if costly:
        parts.append(f"at least {RULE_COST_THRESHOLD:g} for {', '.join(costly)}")
    if impossible:
        parts.append(f"no policy can keep {', '.join(impossible)} for sure")
    return f"Keeping a rule costs the oracle (exact, normalized): {'; '.join(parts)}."


# ----------------------------------------------------------------------------- robustness
def robustness(results: Results, conclusion: str) -> str | None:
    """The share of plausible models in which a conclusion holds (from the sensitivity study), or None."""
    sens = results.sensitivity
    entry = sens.conclusions.get(conclusion) if sens is not None else None
    if entry is None:
        return None
    low, high = entry.share_ci
    return (f"holds in {percent(entry.share, low, high)} of {sens.samples or 'the'} plausible models: "
            f"{robustness_word(entry.share, low, high)}")


def headline_findings(results: Results) -> list[Finding]:
    """The headline: each finding's id, sentence and robustness (only the findings the numbers allow)."""
    learners = [n for n, v in results.main_scores().items() if v.kind == "learned"]
    best = best_guide(results)
    rows: list[tuple[str, str | None, list[str]]] = [
        ("variant", variant_sentence(results), []),
        ("hidden_information", hidden_information_sentence(results), [HIDDEN_INFORMATION]),
        ("adapting", adapting_sentence(results), [ADAPTING]),
        ("guides", guides_sentence(results), [first_id(best), GUIDES_BEAT_RANDOM] if best else []),
    ]
    for which in CONVERGED_POLICIES:
        rows.append((f"converged_{which}", converged_sentence(results, which), []))
    for learner in sorted(learners, key=lambda n: (learner_group(n) == GROUP_FILTER, n)):
        rows.append((f"learner_{learner}", learner_sentence(results, learner), []))
    rows.append(("oracle_rules", oracle_rules_sentence(results), []))
    for which in CONVERGED_POLICIES:
        rows.append((f"converged_{which}_rules", converged_rules_sentence(results, which), []))
    rows.append(("learner_rules", learner_rules_sentence(results), []))
    rows.append(("rule_costs", rule_costs_sentence(results), [cheap_id(r) for r in results.rule_costs]))
    out = []
    for fid, sentence, conclusions in rows:
        if sentence is None:
            continue
        shares = {c: robustness(results, c) for c in conclusions}
        out.append(Finding(id=fid, sentence=sentence, robustness={c: s for c, s in shares.items() if s}))
    return out


__all__ = [
    "ADAPT_THRESHOLD",
    "CONVERGED_POLICIES",
    "GROUP_FILTER",
    "GROUP_OBSERVATION",
    "HIDDEN_THRESHOLD",
    "KEEP_BAR",
    "MEMORY_LEARNERS",
    "NEAR",
    "RULE_COST_THRESHOLD",
    "adapting_sentence",
    "baseline_context",
    "best_converged",
    "best_guide",
    "bracket_comparison",
    "bracket_words",
    "converged_groups",
    "converged_rules_sentence",
    "converged_sentence",
    "focus_learner",
    "guide_comparison",
    "guides_sentence",
    "headline_findings",
    "hidden_information_sentence",
    "learner_group",
    "learner_label",
    "learner_reads",
    "learner_rules_sentence",
    "learner_sentence",
    "oracle_rules_sentence",
    "robustness",
    "rule_costs_sentence",
    "rule_status",
    "variant_sentence",
]
