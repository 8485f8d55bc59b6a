"""One effect test per claim C1-C10, and a twin showing the effect gone under its ablation.

Effects are read from the compiled tables: pick a hidden state, take one move, and
compare the expected next anger / trust, or the chance of heard / solved / a status,
with what a neutral move (a follow-up before any solution, which C7 says achieves
nothing) or the same move in another state gives. C10 is also checked in sampled
conversations.
"""

from __future__ import annotations

import pytest
from conftest import (
    chance,
    conditional,
    distribution,
    expect,
    find_state,
    outcomes,
    run_episode,
    same_distribution,
    start_state,
)

from difficult_customer.customer_models import (
    Abuse,
    Anger,
    Move,
    Outcome,
    Reaction,
    Tone,
    compile_model,
)
from difficult_customer.customer_models.personas import GENUINE_GRIEVANCE
from difficult_customer.envs import CustomerEnv

NEUTRAL = Move.follow_up
"""Before a solution a follow-up changes nothing but patience (C7): the baseline move."""


def heard(n, r):
    return n.heard == 1


def solved(n, r):
    return n.solved == 1


def walked(n, r):
    return n.status == Outcome.walked_away


def ablated(persona: str, claim: str):
    return compile_model(persona, ablate=[claim])


def anger_dist(tables, state, move):
    return distribution(tables, state, move, lambda n, r: n.anger)


# --------------------------------------------------------------------------- C1 listen
def test_c1_listen_makes_heard_and_calms(genuine):
    s = start_state(genuine)  # angry, not heard
    assert s.anger == Anger.angry and s.heard == 0
    assert chance(genuine, s, Move.listen, heard) == pytest.approx(GENUINE_GRIEVANCE.listen_heard)
    assert chance(genuine, s, NEUTRAL, heard) == 0.0
    assert expect(genuine, s, Move.listen, "anger") < expect(genuine, s, NEUTRAL, "anger") == s.anger
    # Once heard, more listening adds little calm.
    h = start_state(genuine, anger=2, heard=1)
    drop_unheard = s.anger - expect(genuine, s, Move.listen, "anger")
    drop_heard = h.anger - expect(genuine, h, Move.listen, "anger")
    assert 0 < drop_heard < drop_unheard


def test_c1_ablated_listen_is_neutral():
    tables = ablated("genuine_grievance", "C1")
    s = start_state(tables)
    assert chance(tables, s, Move.listen, heard) == 0.0
    assert expect(tables, s, Move.listen, "anger") == s.anger
    assert same_distribution(
        distribution(tables, s, Move.listen, lambda n, r: n),
        distribution(tables, s, NEUTRAL, lambda n, r: n),
    )
    assert (tables.factor("heard") == 0).all(), "without C1 nobody ever feels heard"


# ------------------------------------------------------------------------ C2 empathize
def test_c2_empathy_patronizes_before_heard_and_helps_after(genuine):
    before = start_state(genuine, anger=2, heard=0)
    after = start_state(genuine, anger=2, heard=1)
    assert expect(genuine, before, Move.empathize, "anger") > before.anger
    assert chance(genuine, before, Move.empathize, lambda n, r: r == Reaction.irritated) > 0.0
    assert expect(genuine, before, Move.empathize, "trust") <= before.trust
    assert expect(genuine, after, Move.empathize, "anger") < after.anger
    assert expect(genuine, after, Move.empathize, "trust") > after.trust


def test_c2_ablated_empathy_does_nothing():
    tables = ablated("genuine_grievance", "C2")
    for heard_flag in (0, 1):
        s = start_state(tables, anger=2, heard=heard_flag)
        assert expect(tables, s, Move.empathize, "anger") == s.anger
        assert expect(tables, s, Move.empathize, "trust") == s.trust
        assert same_distribution(
            distribution(tables, s, Move.empathize, lambda n, r: n),
            distribution(tables, s, NEUTRAL, lambda n, r: n),
        )


# ------------------------------------------------------------------ C3 feelings first
def _acceptance(tables):
    """P(offer accepted) when calm and heard, angry and heard, calm and not heard.

    Trust is 0 in all three, so C5's trust bonus (given once heard) plays no part.
    """
    calm_heard = find_state(tables, anger=Anger.annoyed, heard=1, trust=0, abuse=Abuse.none)
    angry_heard = find_state(tables, anger=Anger.angry, heard=1, trust=0, abuse=Abuse.none)
    calm_unheard = find_state(tables, anger=Anger.annoyed, heard=0, trust=0, abuse=Abuse.none)
    return [chance(tables, s, Move.offer_options, solved) for s in (calm_heard, angry_heard, calm_unheard)]


def test_c3_offer_rejected_when_angry_or_unheard(genuine):
    calm_heard, angry_heard, calm_unheard = _acceptance(genuine)
    assert angry_heard < calm_heard
    assert calm_unheard < calm_heard
    s = start_state(genuine, anger=2, heard=1)
    rejected = lambda n, r: r == Reaction.rejects_offer  # noqa: E731
    assert conditional(genuine, s, Move.offer_options, lambda n, r: n.anger > s.anger, rejected) > 0.0


def test_c3_ablated_acceptance_ignores_anger_and_heard():
    tables = ablated("genuine_grievance", "C3")
    calm_heard, angry_heard, calm_unheard = _acceptance(tables)
    assert calm_heard == pytest.approx(angry_heard) == pytest.approx(calm_unheard)
    s = start_state(tables, anger=2, heard=1)
    rejected = lambda n, r: r == Reaction.rejects_offer  # noqa: E731
    assert conditional(tables, s, Move.offer_options, lambda n, r: n.anger > s.anger, rejected) == 0.0


# ------------------------------------------------------------------------ C4 apologize
def _apology_effects(tables):
    """(P(anger down), P(anger up)) of an apology after 0, 1 and 2+ apologies."""
    out = []
    for count in range(3):
        s = find_state(tables, anger=Anger.angry, heard=0, apologies=count, abuse=Abuse.none)
        down = chance(tables, s, Move.apologize, lambda n, r, s=s: n.anger < s.anger)
        up = chance(tables, s, Move.apologize, lambda n, r, s=s: n.anger > s.anger)
        out.append((down, up))
    return out


def test_c4_second_apology_calms_less_and_third_irritates(genuine):
    (first, up0), (second, up1), (third, up2) = _apology_effects(genuine)
    assert first > second > third
    assert up0 == up1 == 0.0
    assert up2 > 0.0, "an apology after two is overused and can irritate"


def test_c4_ablated_apologies_change_no_anger():
    tables = ablated("genuine_grievance", "C4")
    for down, up in _apology_effects(tables):
        assert down == 0.0 and up == 0.0
    s = start_state(tables)
    assert expect(tables, s, Move.apologize, "apologies") == 1  # still counted


def test_c4_a_genuine_grievance_wants_an_apology_before_an_offer(genuine):
    before = chance(genuine, start_state(genuine, anger=2, heard=1, apologies=0), Move.offer_options, solved)
    after = chance(genuine, start_state(genuine, anger=2, heard=1, apologies=1), Move.offer_options, solved)
    assert before < after


def test_c4_naturally_difficult_is_irritated_even_by_a_first_apology(mixture):
    _, d = _two_kinds(mixture)
    up = chance(mixture, d, Move.apologize, lambda n, r: n.anger > d.anger)
    assert up > 0.0


def test_c4_ablated_an_apology_changes_no_acceptance():
    tables = ablated("genuine_grievance", "C4")  # an apology now drains patience: compare at patience 3
    before = chance(tables, start_state(tables, anger=2, heard=1, apologies=0, patience=3), Move.offer_options, solved)
    after = chance(tables, start_state(tables, anger=2, heard=1, apologies=1, patience=3), Move.offer_options, solved)
    assert before == pytest.approx(after)


# ---------------------------------------------------------------------- C5 a choice
def test_c5_choice_raises_acceptance_and_accepted_choice_calms(genuine):
    s = start_state(genuine, anger=2, heard=1, apologies=1)
    accept = chance(genuine, s, Move.offer_options, solved)
    without_choice = GENUINE_GRIEVANCE.offer_accept[s.anger]  # what C3 alone gives a heard, apologized-to customer
    assert accept > without_choice
    assert conditional(genuine, s, Move.offer_options, lambda n, r: n.anger < s.anger, solved) > 0.5


def test_c5_ablated_no_choice_bonus_and_no_relief():
    tables = ablated("genuine_grievance", "C5")
    s = start_state(tables, anger=2, heard=1, apologies=1)
    assert chance(tables, s, Move.offer_options, solved) == pytest.approx(GENUINE_GRIEVANCE.offer_accept[s.anger])
    assert conditional(tables, s, Move.offer_options, lambda n, r: n.anger < s.anger, solved) == 0.0


# --------------------------------------------------------------------- C6 boundaries
def ended(n, r):
    return n.status == Outcome.ended_after_abuse


def contained(n, r):
    return n.abuse == Abuse.contained


def test_c6_boundary_stops_abuse_and_dismisses_the_non_abusive(belligerent, genuine):
    abusive = start_state(belligerent)
    assert abusive.abuse == Abuse.abusive
    assert chance(belligerent, abusive, Move.set_boundary, contained) > 0.5
    assert chance(belligerent, abusive, Move.listen, contained) == 0.0
    # Unanswered abuse can end the dialogue; abuse blocks calming.
    assert chance(belligerent, abusive, Move.listen, ended) > 0.0
    assert chance(belligerent, abusive, Move.listen, lambda n, r: r == Reaction.dialogue_ended) > 0.0
    assert chance(belligerent, abusive, Move.listen, lambda n, r: n.anger < abusive.anger) == 0.0
    # A boundary answers the abuse: it ends the dialogue less often than ignoring it.
    assert chance(belligerent, abusive, Move.set_boundary, ended) < chance(belligerent, abusive, Move.listen, ended)
    # A boundary on a customer who is not abusive feels dismissive.
    polite = start_state(genuine, anger=2)
    assert expect(genuine, polite, Move.set_boundary, "anger") > polite.anger


def test_c6_ablated_boundary_neutral_and_abuse_never_ends_dialogue():
    tables = ablated("belligerent", "C6")
    abusive = start_state(tables)
    assert chance(tables, abusive, Move.set_boundary, contained) == 0.0
    assert chance(tables, abusive, Move.listen, ended) == 0.0
    assert chance(tables, abusive, Move.listen, lambda n, r: n.anger < abusive.anger) > 0.0
    assert not (tables.factor("status") == Outcome.ended_after_abuse).any()
    polite_tables = ablated("genuine_grievance", "C6")
    polite = start_state(polite_tables, anger=2)
    assert expect(polite_tables, polite, Move.set_boundary, "anger") == polite.anger


# ----------------------------------------------------------------------- C7 follow up
def test_c7_follow_up_after_solution_only(genuine):
    done = start_state(genuine, anger=2, solved=1)
    followed = lambda n, r: n.status == Outcome.solved_and_followed_up  # noqa: E731
    assert chance(genuine, done, Move.follow_up, followed) == 1.0
    assert chance(genuine, done, Move.follow_up, lambda n, r: r == Reaction.thanks) == 1.0
    assert expect(genuine, done, Move.follow_up, "trust") > done.trust
    assert chance(genuine, done, Move.listen, lambda n, r: n.status == Outcome.solved) == 1.0
    assert expect(genuine, done, Move.listen, "trust") == done.trust
    before = start_state(genuine, anger=2)
    assert chance(genuine, before, Move.follow_up, followed) == 0.0
    for factor in ("anger", "trust", "heard", "solved", "status"):
        assert expect(genuine, before, Move.follow_up, factor) == getattr(before, factor)


def test_c7_ablated_follow_up_is_a_plain_goodbye():
    tables = ablated("genuine_grievance", "C7")
    done = start_state(tables, anger=2, solved=1)
    assert chance(tables, done, Move.follow_up, lambda n, r: n.status == Outcome.solved) == 1.0
    assert expect(tables, done, Move.follow_up, "trust") == done.trust
    assert outcomes(tables, done, Move.follow_up) == outcomes(tables, done, Move.listen)
    assert not (tables.factor("status") == Outcome.solved_and_followed_up).any()


# ---------------------------------------------------------------- C8 two kinds
def _two_kinds(tables):
    """Start states (angry) of the genuine-grievance and the naturally difficult member."""
    names = tables.persona_names
    g = start_state(tables, persona=names.index("genuine_grievance"), anger=Anger.angry)
    d = start_state(tables, persona=names.index("naturally_difficult"), anger=Anger.angry)
    return g, d


def _relief(tables, s):
    return chance(tables, s, Move.apologize, lambda n, r: n.anger < s.anger)


def test_c8_genuine_and_difficult_react_differently(mixture):
    g, d = _two_kinds(mixture)
    assert _relief(mixture, g) > 2 * _relief(mixture, d), "an apology calms a genuine grievance, barely the other"
    assert not same_distribution(anger_dist(mixture, g, Move.listen), anger_dist(mixture, d, Move.listen))
    # A naturally difficult customer sounds angrier than they are: hostile while only angry.
    hostile = mixture.tone_prob[:, Tone.hostile]
    assert hostile[mixture.index(d)] > hostile[mixture.index(g)]


def test_c8_ablated_both_kinds_react_alike():
    tables = compile_model("mixture", ablate=["C8"])
    g, d = _two_kinds(tables)
    assert _relief(tables, g) == pytest.approx(_relief(tables, d))
    for move in (Move.listen, Move.empathize, Move.apologize, Move.set_boundary):
        assert same_distribution(anger_dist(tables, g, move), anger_dist(tables, d, move)), move.name
    assert tables.tone_prob[tables.index(g)] == pytest.approx(tables.tone_prob[tables.index(d)])


# ---------------------------------------------------------------------- C9 escalation
def _escalation(genuine_tables, difficult_tables):
    """(P(trust lost), P(trust lost | anger not up)) of patronizing empathy, and P(abuse onset)."""
    g = start_state(genuine_tables, anger=2, heard=0)
    lost = lambda n, r: n.trust < g.trust  # noqa: E731
    calm = lambda n, r: n.anger <= g.anger  # noqa: E731
    d = find_state(difficult_tables, anger=Anger.annoyed, heard=0, abuse=Abuse.none)
    onset = chance(difficult_tables, d, Move.empathize, lambda n, r: n.abuse == Abuse.abusive)
    return (
        chance(genuine_tables, g, Move.empathize, lost),
        conditional(genuine_tables, g, Move.empathize, lost, calm),
        onset,
    )


def test_c9_escalation_costs_trust_and_can_trigger_abuse(genuine, difficult):
    lost, lost_without_escalation, onset = _escalation(genuine, difficult)
    assert lost > 0.0
    assert lost_without_escalation == 0.0
    assert onset > 0.0, "a naturally difficult customer may turn abusive right after an escalation"


def test_c9_ablated_escalation_is_free():
    lost, _, onset = _escalation(ablated("genuine_grievance", "C9"), ablated("naturally_difficult", "C9"))
    assert lost == 0.0
    assert onset == 0.0


# ------------------------------------------------------------------------ C10 patience
def test_c10_patience_drains_and_customer_walks_away(genuine):
    s = start_state(genuine)
    assert chance(genuine, s, NEUTRAL, lambda n, r: n.patience == s.patience - 1 and n.status == Outcome.ongoing) == 1.0
    assert expect(genuine, s, Move.listen, "patience") > s.patience - 1, "progress keeps patience"
    last = start_state(genuine, patience=1)
    assert chance(genuine, last, NEUTRAL, walked) == 1.0
    assert chance(genuine, last, NEUTRAL, lambda n, r: r == Reaction.walks_away) == 1.0
    furious = start_state(genuine, anger=Anger.furious)
    assert chance(genuine, furious, Move.listen, walked) > 0.0


def test_c10_ablated_never_walks_away():
    tables = ablated("genuine_grievance", "C10")
    s = start_state(tables)
    assert expect(tables, s, NEUTRAL, "patience") == s.patience
    furious = start_state(tables, anger=Anger.furious)
    assert chance(tables, furious, Move.listen, walked) == 0.0
    assert not (tables.factor("status") == Outcome.walked_away).any()


@pytest.mark.parametrize("seed", range(5))
def test_c10_sampled_conversation_going_nowhere_ends_in_walkout(seed):
    env = CustomerEnv("genuine_grievance")
    steps = run_episode(env, [NEUTRAL] * 100, seed=seed)
    assert steps[-1][4]["outcome"] == "walked_away"
    assert len(steps) - 1 <= GENUINE_GRIEVANCE.patience


@pytest.mark.parametrize("seed", range(5))
def test_c10_ablated_sampled_conversation_times_out(seed):
    env = CustomerEnv("genuine_grievance", ablate=["C10"], max_turns=12)
    steps = run_episode(env, [NEUTRAL] * 100, seed=seed)
    assert steps[-1][4]["outcome"] == "timed_out"
    assert len(steps) - 1 == 12
