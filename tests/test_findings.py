"""Every computed sentence of the report, fed numbers on both sides of its claim."""

from __future__ import annotations

from typing import Any

import pytest

from difficult_customer.experiments.library import findings
from difficult_customer.experiments.library.conformance import RULES
from difficult_customer.experiments.library.report.results import (
    BracketEntry,
    Convergence,
    Curve,
    Reference,
    Results,
    RuleRate,
    Score,
    StoreContext,
    StoreGroup,
    StoreResults,
    StoreSettings,
    from_data,
)


def _rate(rate: float, low: float, high: float) -> dict[str, Any]:
    return {"rate": rate, "low": low, "high": high, "applicable": 200}


def _score(point: float, low: float | None = None, high: float | None = None, kind: str = "learned",
           group: str = findings.GROUP_OBSERVATION, seeds: int = 5) -> dict[str, Any]:
    low = point if low is None else low
    high = point if high is None else high
    return {"normalized": point, "normalized_low": low, "normalized_high": high, "kind": kind, "group": group,
            "seeds": seeds, "exact_per_seed": True}


def data(**change: Any) -> dict[str, Any]:
    """A small results' data: the mixture, a bracket [0.90, 0.92], two guides, PPO and the oracle's rates."""
    keep = _rate(0.99, 0.97, 1.0)
    out: dict[str, Any] = {
        "settings": {"main_persona": "mixture", "variant": "default", "ablate": []},
        "brackets": {"mixture": {"lower_normalized": 0.90, "upper_normalized": 0.92}},
        "fixed_sequence": {"mixture": {"normalized": 0.50, "bound_normalized": 0.52, "optimal": False}},
        "scores": {"mixture": {
            "guide_000": _score(0.55, kind="guide", group="guides"),
            "guide_004": _score(0.50, kind="guide", group="guides"),
            "ppo": _score(0.70, 0.65, 0.75),
        }},
        "conformance": {"oracle": {r: keep for r in RULES}, "ppo": {r: keep for r in RULES}},
        "rule_costs": {r: {"cost": 0.0, "normalized": 0.0} for r in RULES},
    }
    out.update(change)
    return out


_BRACKET = {"lower": 0.0, "upper": 0.0, "oracle": 1.0, "random": 0.0, "pbvi_lower": 0.0, "fib": 0.0, "points": 64,
            "depth": 2, "lower_depth": 0, "max_turns": 16, "seconds": 0.0}
_FIXED = {"value": 0.0, "upper_bound": 0.0, "moves": []}
_SCORE = {"value": 0.0, "source": "exact", "interval": "exact"}
_SHARE = {"text": "a conclusion"}


def results(**change: Any) -> Results:
    """:func:`data` as the typed results the report builds (every field the numbers above leave out filled in)."""
    d = data(**change)
    d["settings"] = {"budget": "tiny", **d["settings"]}
    d["brackets"] = {p: {**_BRACKET, **b} for p, b in d["brackets"].items()}
    d["fixed_sequence"] = {p: {**_FIXED, **f} for p, f in d["fixed_sequence"].items()}
    d["scores"] = {p: {n: {**_SCORE, **v} for n, v in row.items()} for p, row in d["scores"].items()}
    if d.get("sensitivity"):
        sens = d["sensitivity"]
        d["sensitivity"] = {"source": "a study", "variant": "default", **sens, "conclusions": {
            c: {**_SHARE, **v} for c, v in sens["conclusions"].items()}}
    return from_data({"kind": "report", **d})


# ----------------------------------------------------------------------------- the variant
@pytest.mark.parametrize("variant, words", [("default", "every assumption on"), ("guide_only", "every assumption off")])
def test_the_variant_sentence_names_the_variant(variant, words):
    r = results(settings={"main_persona": "mixture", "variant": variant, "ablate": []})
    sentence = findings.variant_sentence(r)
    assert f"**{variant}**" in sentence and words in sentence


# ----------------------------------------------------------------------------- hidden information
@pytest.mark.parametrize("lower, upper, verdict", [
    (0.80, 0.90, "more than 0.05 for sure"),        # cost in [0.10, 0.20]
    (0.96, 0.98, "at most 0.05 for sure"),          # cost in [0.02, 0.04]
    (0.90, 0.97, "the bracket cannot tell"),        # cost in [0.03, 0.10]
])
def test_hidden_information_is_a_range_decided_only_by_the_bracket(lower, upper, verdict):
    r = results(brackets={"mixture": {"lower_normalized": lower, "upper_normalized": upper}})
    sentence = findings.hidden_information_sentence(r)
    assert verdict in sentence
    assert f"between {1 - upper:.3f} and {1 - lower:.3f}" in sentence
    for other in {"more than 0.05 for sure", "at most 0.05 for sure", "the bracket cannot tell"} - {verdict}:
        assert other not in sentence


def test_without_a_bracket_there_is_no_hidden_information_sentence():
    assert findings.hidden_information_sentence(results(brackets={})) is None


# ----------------------------------------------------------------------------- adapting
@pytest.mark.parametrize("fixed, bound, verdict", [
    (0.50, 0.52, "more than 0.2 for sure"),   # worth in [0.38, 0.42]
    (0.80, 0.85, "at most 0.2 for sure"),     # worth in [0.05, 0.12]
    (0.65, 0.75, "cannot tell"),              # worth in [0.15, 0.27]
])
def test_adapting_uses_the_proven_bound_on_fixed_sequences(fixed, bound, verdict):
    r = results(fixed_sequence={"mixture": {"normalized": fixed, "bound_normalized": bound, "optimal": False}})
    sentence = findings.adapting_sentence(r)
    assert verdict in sentence
    assert f"between {0.90 - bound:.3f} and {0.92 - fixed:.3f}" in sentence


# ----------------------------------------------------------------------------- guides
def test_the_guides_sentence_names_the_first_and_whether_all_beat_random():
    sentence = findings.guides_sentence(results())
    assert "guide_000 ranks first" in sentence and "every guide scores above random" in sentence
    scores = data()["scores"]
    scores["mixture"]["guide_004"] = _score(-0.10, kind="guide", group="guides")
    sentence = findings.guides_sentence(results(scores=scores))
    assert "guide_004 does no better than random" in sentence and "every guide" not in sentence


# ----------------------------------------------------------------------------- learners
GUIDE_CLAIMS = ("above every guide", "below the best guide", "whether it beats the best guide")


@pytest.mark.parametrize("low, high, claim", [
    (0.60, 0.70, "above every guide"),
    (0.40, 0.50, "below the best guide"),
    (0.50, 0.60, "whether it beats the best guide"),   # straddles guide_000's 0.55
])
def test_a_learner_beats_the_guides_only_when_its_interval_says_so(low, high, claim):
    scores = data()["scores"]
    scores["mixture"]["ppo"] = _score((low + high) / 2, low, high)
    sentence = findings.learner_sentence(results(scores=scores), "ppo")
    assert [c for c in GUIDE_CLAIMS if c in sentence] == [claim]


@pytest.mark.parametrize("low, high, claim", [
    (0.88, 0.90, "within 0.05 of the best observation-only policy for sure"),   # gap at most 0.92 - 0.88
    (0.70, 0.80, "more than 0.05 below"),                                       # gap at least 0.90 - 0.80
    (0.80, 0.90, "cannot be told"),                                             # gap between 0 and 0.12
    (0.95, 0.97, "above the bracket's upper end"),
])
def test_within_005_of_the_bracket_only_when_the_interval_decides_it(low, high, claim):
    scores = data()["scores"]
    scores["mixture"]["ppo"] = _score((low + high) / 2, low, high)
    sentence = findings.bracket_comparison(results(scores=scores), "ppo")
    assert claim in sentence
    assert ("for sure" in sentence) == (claim.endswith("for sure") or claim == "more than 0.05 below")


def test_a_one_seed_estimate_from_200_conversations_cannot_decide_within_005():
    # the check that found the report's old claim: 0.876 from one seed, about +-0.07 of evaluation noise
    scores = data()["scores"]
    scores["mixture"]["ppo_belief"] = _score(0.876, 0.806, 0.946, group=findings.GROUP_FILTER, seeds=1)
    sentence = findings.learner_sentence(results(scores=scores), "ppo_belief")
    assert "cannot be told" in sentence and "1 seed" in sentence
    assert "uses the model's exact filter" in sentence


def test_learners_are_labelled_by_what_they_read():
    assert "uses the model's exact filter" in findings.learner_label("ppo_belief")
    assert findings.learner_group("ppo_belief") == findings.GROUP_FILTER
    assert findings.learner_group("recurrent_ppo") == findings.GROUP_OBSERVATION
    assert "model" not in findings.learner_label("ppo")


# ----------------------------------------------------------------------------- rules
@pytest.mark.parametrize("entry, status", [
    (_rate(0.97, 0.93, 0.99), "keeps"),
    (_rate(0.585, 0.55, 0.62), "breaks"),
    (_rate(0.90, 0.85, 0.95), "cannot tell"),
    ({"rate": None, "low": None, "high": None, "applicable": 0}, None),
])
def test_rule_status_follows_the_interval_against_the_bar(entry, status):
    assert findings.rule_status(RuleRate(**entry)) == status


def test_the_oracle_keeps_a_rule_only_when_its_interval_is_above_the_bar():
    # the false headline: the oracle's own rates were R1 0.585 and R2 0.824
    oracle = {r: _rate(0.99, 0.97, 1.0) for r in RULES}
    oracle["R1"] = _rate(0.585, 0.55, 0.62)
    oracle["R2"] = _rate(0.824, 0.79, 0.85)
    ppo = {r: _rate(0.99, 0.97, 1.0) for r in RULES}
    ppo["R1"] = _rate(0.40, 0.35, 0.45)
    ppo["R2"] = _rate(0.30, 0.25, 0.35)
    ppo["R5"] = _rate(0.20, 0.15, 0.25)
    r = results(conformance={"oracle": oracle, "ppo": ppo})
    oracle_sentence = findings.oracle_rules_sentence(r)
    assert "breaks R1 0.585" in oracle_sentence and "R2 0.824" in oracle_sentence
    assert "keeps R3" in oracle_sentence
    learner = findings.learner_rules_sentence(r)
    assert "The oracle breaks R1, R2 too" in learner and "consistent with the optimum" in learner
    assert "The oracle keeps R5" in learner and "weakness of the learned policy" in learner
    assert "does not pay" not in learner


def test_when_the_oracle_keeps_every_rule_the_learner_breaks_breaking_is_a_weakness():
    ppo = {r: _rate(0.99, 0.97, 1.0) for r in RULES}
    ppo["R2"] = _rate(0.30, 0.25, 0.35)
    r = results(conformance={"oracle": {r: _rate(0.99, 0.97, 1.0) for r in RULES}, "ppo": ppo})
    sentence = findings.learner_rules_sentence(r)
    assert "The oracle keeps R2" in sentence and "breaks R2 too" not in sentence


def test_an_undecided_oracle_rate_is_said_to_be_undecided():
    ppo = {r: _rate(0.99, 0.97, 1.0) for r in RULES}
    ppo["R2"] = _rate(0.30, 0.25, 0.35)
    oracle = {r: _rate(0.99, 0.97, 1.0) for r in RULES}
    oracle["R2"] = _rate(0.90, 0.80, 0.96)
    sentence = findings.learner_rules_sentence(results(conformance={"oracle": oracle, "ppo": ppo}))
    assert "Whether the oracle keeps R2 its rates cannot tell" in sentence


def test_rule_costs_split_at_the_threshold():
    costs = {r: {"cost": 0.0, "normalized": 0.001} for r in RULES}
    costs["R1"] = {"cost": 0.1, "normalized": 0.098}
    costs["R4"] = {"cost": None, "normalized": None}
    sentence = findings.rule_costs_sentence(results(rule_costs=costs))
    assert "at least 0.02 for R1 0.098" in sentence and "under 0.02 for R2 0.001" in sentence
    assert "no policy can keep R4 for sure" in sentence
    assert "R1" not in sentence.split("at least")[0]


# ----------------------------------------------------------------------------- robustness
def test_robustness_comes_from_the_sensitivity_study_when_there_is_one():
    assert findings.robustness(results(), "hidden_information_costs") is None
    sens = {"samples": 16, "conclusions": {"hidden_information_costs": {"share": 0.95, "share_ci": [0.91, 0.98]},
                                           "adapting_worth": {"share": 0.5, "share_ci": [0.3, 0.7]}}}
    r = results(sensitivity=sens)
    assert findings.robustness(r, "hidden_information_costs").endswith("robust")
    assert "95% [91%, 98%] of 16 plausible models" in findings.robustness(r, "hidden_information_costs")
    assert findings.robustness(r, "adapting_worth").endswith("fragile")
    headline = {f.id: f for f in findings.headline_findings(r)}
    assert "hidden_information_costs" in headline["hidden_information"].robustness
    assert "adapting_worth" in headline["adapting"].robustness
    assert headline["variant"].sentence.startswith("Model variant: **default**")


def test_headline_leaves_out_what_the_numbers_do_not_allow():
    r = results(brackets={}, conformance={}, rule_costs={})
    ids = [f.id for f in findings.headline_findings(r)]
    assert "hidden_information" not in ids and "oracle_rules" not in ids and "rule_costs" not in ids
    assert ids[0] == "variant" and "learner_ppo" in ids


# ----------------------------------------------------------------------------- convergence
def _with_curve(converged: bool) -> Results:
    r = results()
    label = "converged" if converged else "still improving at 60,000 steps"
    r.curves["ppo"] = Curve(steps=[0, 60_000], scores=[[0.0, 0.7]], convergence=Convergence(
        converged=converged, label=label, gain=0.0 if converged else 0.1, gain_low=-0.001, gain_high=0.004 if
        converged else 0.2, window_start=45_000, steps=60_000))
    return r


@pytest.mark.parametrize("converged, words", [(True, "; converged)"), (False, "; still improving at 60,000 steps)")])
def test_a_learners_sentence_says_whether_it_converged(converged, words):
    sentence = findings.learner_sentence(_with_curve(converged), "ppo")
    assert words in sentence
    other = "still improving" if converged else "; converged"
    assert other not in sentence


def test_a_learner_without_a_curve_makes_no_claim_of_convergence():
    sentence = findings.learner_sentence(results(), "ppo")
    assert "converged" not in sentence and "still improving" not in sentence


# ----------------------------------------------------------------------------- the converged baselines
def _group(learner: str, point: float, low: float, high: float, label: str = "converged", steps: int = 2_000_000,
           context: str = "mixture/none/16") -> StoreGroup:
    score = Score(kind="learned", value=0.0, normalized=point, normalized_low=low, normalized_high=high,
                  source="iqm", interval="", seeds=10, exact_per_seed=learner not in findings.MEMORY_LEARNERS)
    conv = Convergence(converged=label == "converged", label=label, gain=0.0, gain_low=-0.001, gain_high=0.004,
                       window_start=steps * 3 // 4, steps=steps, plateau_step=steps // 2 if label == "converged"
                       else None)
    return StoreGroup(label=learner, settings={}, learner=learner, group=findings.learner_group(learner),
                      context=context, training_seeds=list(range(10)), score=score, kind="train",
                      curve=Curve(steps=[0, steps], scores=[[0.0, point]], convergence=conv), steps=steps)


def _with_baselines(*groups: StoreGroup, max_turns: int = 16) -> Results:
    r = results()
    r.settings.max_turns = max_turns
    bracket = BracketEntry(**{**_BRACKET, "lower_normalized": 0.90, "upper_normalized": 0.92})
    context = StoreContext(references=Reference(random=0.0, oracle=1.0), bracket=bracket,
                           guides={"guide_000": 0.55, "guide_004": 0.50})
    r.baselines = StoreResults(settings=StoreSettings(source="experiments/baselines", runs=20, varying=[],
                                                      budget="default", learned_mc_episodes=2000),
                               contexts={"mixture/none/16": context}, groups=list(groups))
    return r


@pytest.mark.parametrize("low, high, guide_claim, bracket_claim", [
    (0.88, 0.90, "above every guide", "within 0.05 of the best observation-only policy for sure"),
    (0.40, 0.50, "below the best guide", "more than 0.05 below the best observation-only policy for sure"),
    (0.50, 0.90, "whether it beats the best guide", "cannot be told"),
])
def test_the_converged_learner_is_compared_by_its_interval_alone(low, high, guide_claim, bracket_claim):
    r = _with_baselines(_group("ppo", (low + high) / 2, low, high))
    sentence = findings.converged_sentence(r, "observation")
    assert sentence.startswith("Converged baselines (committed, 2,000,000 steps per seed): the best learner on the "
                               "current observation, PPO on the observation, scores")
    assert [c for c in GUIDE_CLAIMS if c in sentence] == [guide_claim]
    assert bracket_claim in sentence
    assert "IQM of 10 seeds, exact per seed; converged from 1,000,000 steps" in sentence


def test_the_best_converged_learners_are_one_on_the_observation_and_one_with_memory():
    r = _with_baselines(_group("ppo", 0.80, 0.79, 0.81), _group("ppo_jax", 0.85, 0.84, 0.86),
                        _group("ppo_belief", 0.95, 0.94, 0.96), _group("recurrent_ppo", 0.70, 0.65, 0.75),
                        _group("gru_ppo_jax", 0.88, 0.86, 0.90, label="still improving at 2,000,000 steps"))
    assert findings.best_converged(r, "observation").learner == "ppo_jax"  # not the one on belief features
    assert findings.best_converged(r, "memory").learner == "gru_ppo_jax"
    memory = findings.converged_sentence(r, "memory")
    assert "the best learner with memory" in memory and "GRU PPO (JAX) on the observation history" in memory
    assert "sampled per seed; still improving at 2,000,000 steps)" in memory and "; converged" not in memory
    ids = [f.id for f in findings.headline_findings(r)]
    assert ids.index("converged_observation") < ids.index("converged_memory") < ids.index("learner_ppo")
    with pytest.raises(ValueError, match="which='best'; allowed: observation, memory"):
        findings.best_converged(r, "best")


def test_baselines_of_another_model_stay_out_of_the_headline():
    r = _with_baselines(_group("ppo", 0.80, 0.79, 0.81), max_turns=12)
    assert findings.converged_groups(r) == [] and findings.converged_sentence(r, "observation") is None
    assert findings.converged_sentence(results(), "observation") is None  # no baselines at all
    same = _with_baselines(_group("ppo", 0.80, 0.79, 0.81))
    assert findings.converged_groups(same) == same.baselines.groups


def test_the_budget_limited_learner_is_labelled_as_such():
    r = results()
    assert "budget-limited" not in findings.learner_sentence(r, "ppo")
    r.settings.algorithms = {"ppo": (60_000, 5)}
    sentence = findings.learner_sentence(r, "ppo")
    assert sentence.startswith("PPO on the observation, trained by this report on its budget-limited tiny budget "
                               "(60,000 steps per seed), scores 0.700")


def test_the_converged_best_seeds_rules_are_said_only_where_their_conversations_were_sampled():
    r = results()
    assert findings.converged_rules_sentence(r, "observation") is None
    breaks = {rule: _rate(0.99, 0.97, 1.0) for rule in RULES}
    breaks["R2"] = _rate(0.30, 0.25, 0.35)
    r = results(conformance={**data()["conformance"], "ppo_converged": breaks})
    sentence = findings.converged_rules_sentence(r, "observation")
    assert sentence.startswith("The best seed of the converged learner on the observation (ppo_converged) keeps R1")
    assert "breaks R2 0.300" in sentence and "The oracle keeps R2" in sentence
    assert "converged_observation_rules" in [f.id for f in findings.headline_findings(r)]
