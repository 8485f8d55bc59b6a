"""One effect test per claim (C1-C10), assumption (A1-A17) and contested reading (D1), each
with a switched-off twin.

The effects are read from :func:`~customer_models.dynamics.step_outcomes` on the persona
as the compiler uses it (:func:`~customer_models.compile.effective_persona` under the
switches), the one function the compiler calls for every (state, move); a few twins
also compile the tables, where the switch acts beyond one step (reachable states, the
mixture weights). Each test checks that the model does what the switch's support record
says, never which policy wins.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_episode

from difficult_customer.customer_models import Abuse, Anger, Move, Outcome, Reaction, State, compile_model
from difficult_customer.customer_models.compile import check_ablate, effective_persona
from difficult_customer.customer_models.dynamics import step_outcomes, tone_distribution
from difficult_customer.customer_models.personas import (
    BELLIGERENT,
    GENUINE_GRIEVANCE,
    NATURALLY_DIFFICULT,
    PERSONAS,
    SHARED,
    Persona,
    model_fields,
)
from difficult_customer.customer_models.switches import closure
from difficult_customer.envs import CustomerEnv

NEUTRAL = Move.follow_up
"""Before a solution a follow-up changes nothing but patience (C7): the baseline move."""


def state(**changes: int) -> State:
    """An ongoing, angry, unheard, not-yet-apologized-to state, with ``changes``."""
    base = State(persona=0, status=Outcome.ongoing, anger=Anger.angry, trust=1, heard=0, apologies=0, solved=0,
                 abuse=Abuse.none, patience=4)
    return base._replace(**changes)


def outs(persona: Persona | str, s: State, move: Move, off: tuple[str, ...] = ()) -> list:
    """The outcomes of ``move`` in ``s`` for the persona under the switches ``off``."""
    p = PERSONAS[persona] if isinstance(persona, str) else persona
    closed = closure(check_ablate(off))
    return step_outcomes(effective_persona(p, closed), s, move, closed)


def P(outcomes: list, event) -> float:
    return sum(prob for prob, nxt, reaction in outcomes if event(nxt, reaction))


def E(outcomes: list, factor: str) -> float:
    return sum(prob * getattr(nxt, factor) for prob, nxt, _ in outcomes)


def dist(outcomes: list) -> dict:
    d: dict = {}
    for prob, nxt, reaction in outcomes:
        d[(nxt, reaction)] = d.get((nxt, reaction), 0.0) + prob
    return d


def same(a: list, b: list) -> bool:
    da, db = dist(a), dist(b)
    return all(abs(da.get(k, 0.0) - db.get(k, 0.0)) < 1e-12 for k in set(da) | set(db))


def up(s: State):
    return lambda n, r: n.anger > s.anger


def down(s: State):
    return lambda n, r: n.anger < s.anger


def heard(n, r) -> bool:
    return n.heard == 1


def solved(n, r) -> bool:
    return n.solved == 1


def ended(n, r) -> bool:
    return n.status == Outcome.ended_after_abuse


def walked(n, r) -> bool:
    return n.status == Outcome.walked_away


G = "genuine_grievance"
D = "naturally_difficult"
B = "belligerent"


# ------------------------------------------------------------------------------ C1 listen
def test_c1_listen_makes_heard_and_calms():
    s = state()
    o = outs(G, s, Move.listen)
    assert P(o, heard) == pytest.approx(GENUINE_GRIEVANCE.listen_heard)
    assert P(o, down(s)) == pytest.approx(GENUINE_GRIEVANCE.listen_calm)
    h = state(heard=1)
    assert P(outs(G, h, Move.listen), down(h)) == pytest.approx(GENUINE_GRIEVANCE.listen_calm_heard)


def test_c1_off_listen_is_neutral_but_empathy_still_makes_heard():
    s = state()
    assert same(outs(G, s, Move.listen, ("C1",)), outs(G, s, NEUTRAL, ("C1",)))
    assert P(outs(G, s, Move.empathize, ("C1",)), heard) == pytest.approx(GENUINE_GRIEVANCE.empathy_heard)


# --------------------------------------------------------------------------- C2 empathize
def test_c2_empathy_calms_builds_trust_and_makes_heard():
    h = state(heard=1)
    o = outs(G, h, Move.empathize)
    assert P(o, down(h)) == pytest.approx(GENUINE_GRIEVANCE.empathy_calm)
    assert P(o, lambda n, r: n.trust > h.trust) == pytest.approx(GENUINE_GRIEVANCE.empathy_trust)
    assert P(outs(G, state(), Move.empathize), heard) == pytest.approx(GENUINE_GRIEVANCE.empathy_heard)
    # Trust helps an offer (offer_trust, our reading of "encourages cooperation").
    low, high = state(heard=1, apologies=1, trust=0), state(heard=1, apologies=1, trust=3)
    assert P(outs(G, high, Move.offer_options), solved) - P(outs(G, low, Move.offer_options), solved) == pytest.approx(
        3 * GENUINE_GRIEVANCE.offer_trust)


def test_c2_off_empathy_is_neutral_and_trust_does_not_help_an_offer():
    for s in (state(), state(heard=1)):
        assert same(outs(G, s, Move.empathize, ("C2",)), outs(G, s, NEUTRAL, ("C2",)))
    low, high = state(heard=1, apologies=1, trust=0), state(heard=1, apologies=1, trust=3)
    assert P(outs(G, high, Move.offer_options, ("C2",)), solved) == pytest.approx(
        P(outs(G, low, Move.offer_options, ("C2",)), solved))


# ---------------------------------------------------------------------- C3 feelings first
def _acceptance(off: tuple[str, ...] = (), persona: str = G) -> tuple[float, float, float]:
    """P(accepted) calm and heard, angry and heard, calm and not heard (apologized to, trust 0)."""
    cases = (state(anger=Anger.annoyed, heard=1), state(anger=Anger.angry, heard=1), state(anger=Anger.annoyed))
    return tuple(P(outs(persona, s._replace(apologies=1, trust=0), Move.offer_options, off), solved) for s in cases)


def test_c3_offer_rejected_more_when_angry_or_unheard():
    calm_heard, angry_heard, calm_unheard = _acceptance()
    assert angry_heard < calm_heard and calm_unheard < calm_heard


def test_c3_off_acceptance_ignores_anger_and_heard_but_keeps_a6():
    calm_heard, angry_heard, calm_unheard = _acceptance(("C3",))
    assert calm_heard == pytest.approx(angry_heard) == pytest.approx(calm_unheard)
    assert calm_heard == pytest.approx(np.mean(GENUINE_GRIEVANCE.offer_accept))
    # C3 off removes only its own effect: a genuine grievance still wants an apology first (A6).
    before = P(outs(G, state(heard=1, trust=0), Move.offer_options, ("C3",)), solved)
    assert before == pytest.approx(calm_heard * GENUINE_GRIEVANCE.offer_unapologized)


# ------------------------------------------------------------------------- C4 apologize
def test_c4_first_apology_calms_and_builds_trust():
    s = state()
    o = outs(G, s, Move.apologize)
    assert P(o, down(s)) == pytest.approx(GENUINE_GRIEVANCE.apology_relief)
    assert P(o, lambda n, r: n.trust > s.trust) == pytest.approx(GENUINE_GRIEVANCE.apology_trust)


def test_c4_off_apologies_change_nothing_but_the_count():
    for count in range(3):
        s = state(apologies=count)
        o = outs(D, s, Move.apologize, ("C4",))
        assert P(o, lambda n, r, s=s: n.anger != s.anger or n.trust != s.trust) == 0.0
        assert E(o, "apologies") == min(count + 1, 2)


# -------------------------------------------------------------------------- C5 remedies
def test_c5_an_accepted_offer_solves_and_calms():
    s = state(heard=1, apologies=1, anger=Anger.upset)
    o = outs(G, s, Move.offer_options)
    assert P(o, solved) > 0
    assert P(o, lambda n, r: solved(n, r) and n.anger < s.anger) == pytest.approx(
        P(o, solved) * GENUINE_GRIEVANCE.offer_relief)


def test_c5_off_an_accepted_offer_still_solves_but_does_not_calm():
    s = state(heard=1, apologies=1, anger=Anger.upset)
    o = outs(G, s, Move.offer_options, ("C5",))
    assert P(o, solved) == pytest.approx(P(outs(G, s, Move.offer_options), solved))
    assert P(o, lambda n, r: solved(n, r) and n.anger < s.anger) == 0.0


# ------------------------------------------------------------------------- C6 boundaries
def test_c6_boundary_disarms_abuse_and_a_failed_warning_ends_the_dialogue():
    s = state(abuse=Abuse.abusive)
    o = outs(B, s, Move.set_boundary)
    assert P(o, lambda n, r: n.abuse == Abuse.contained) == pytest.approx(BELLIGERENT.boundary_stops_abuse)
    assert P(o, ended) == pytest.approx((1 - BELLIGERENT.boundary_stops_abuse) * BELLIGERENT.warning_enforced)


def test_c6_off_boundary_is_neutral_and_abuse_blocks_and_ends_nothing():
    s = state(abuse=Abuse.abusive)
    assert same(outs(B, s, Move.set_boundary, ("C6",)), outs(B, s, NEUTRAL, ("C6",)))
    assert P(outs(B, s, Move.listen, ("C6",)), ended) == 0.0
    assert P(outs(B, s, Move.listen, ("C6",)), down(s)) > 0.0


# -------------------------------------------------------------------------- C7 follow up
def test_c7_follow_up_after_a_solution_only():
    done = state(solved=1)
    o = outs(G, done, Move.follow_up)
    assert P(o, lambda n, r: n.status == Outcome.solved_and_followed_up and r == Reaction.thanks) == 1.0
    assert E(o, "trust") == pytest.approx(done.trust + GENUINE_GRIEVANCE.follow_up_trust)
    assert same(outs(G, state(), Move.follow_up), outs(G, state(), Move.follow_up, ("C1", "C2", "C3", "C4")))
    assert P(outs(G, state(), Move.follow_up), lambda n, r: n.anger != Anger.angry or n.trust != 1) == 0.0


def test_c7_off_follow_up_is_a_plain_goodbye():
    done = state(solved=1)
    assert same(outs(G, done, Move.follow_up, ("C7",)), outs(G, done, Move.listen, ("C7",)))
    assert P(outs(G, done, Move.follow_up, ("C7",)), lambda n, r: n.status == Outcome.solved) == 1.0


# ------------------------------------------------------------------------ C8 two kinds
def _reaction_fields(p: Persona) -> dict:
    return {f.name: getattr(p, f.name) for f in model_fields() if f.name not in p.defining}


def test_c8_the_two_kinds_react_differently():
    s = state()
    assert not same(outs(G, s, Move.apologize), outs(D, s, Move.apologize))


def test_c8_off_every_persona_reacts_alike_and_keeps_what_defines_it():
    off = closure(check_ablate(["C8"]))
    g, d = effective_persona(GENUINE_GRIEVANCE, off), effective_persona(NATURALLY_DIFFICULT, off)
    assert _reaction_fields(g) == _reaction_fields(d)
    assert effective_persona(BELLIGERENT, off).initial_abusive == 1.0
    s = state()
    assert same(outs(G, s, Move.apologize, ("C8",)), outs(D, s, Move.apologize, ("C8",)))


# ------------------------------------------------------------------------ C9 escalation
def _after_a_rise(off: tuple[str, ...] = ()) -> tuple[float, float]:
    """(P(abuse), P(trust lost)) given that a boundary out of place raised anger (genuine, upset)."""
    s = state(anger=Anger.upset)
    o = outs(G, s, Move.set_boundary, off)
    rose = P(o, up(s))
    assert rose > 0
    abuse = P(o, lambda n, r: n.anger > s.anger and n.abuse == Abuse.abusive) / rose
    lost = P(o, lambda n, r: n.anger > s.anger and n.trust < s.trust) / rose
    return abuse, lost


def test_c9_an_anger_rise_may_turn_into_abuse_and_costs_trust():
    abuse, lost = _after_a_rise()
    assert abuse == pytest.approx(GENUINE_GRIEVANCE.escalation_abuse)
    assert lost == pytest.approx(GENUINE_GRIEVANCE.escalation_trust)


def test_c9_off_an_anger_rise_costs_nothing():
    assert _after_a_rise(("C9",)) == (0.0, 0.0)


# ------------------------------------------------------------------------ C10 patience
def test_c10_patience_drains_and_customers_walk_out():
    s = state(patience=2)
    assert P(outs(G, s, NEUTRAL), lambda n, r: n.patience == 1) == 1.0
    assert P(outs(G, state(patience=1), NEUTRAL), walked) == 1.0
    assert P(outs(G, state(anger=Anger.furious, heard=1), Move.listen), walked) > 0.0


def test_c10_off_nobody_walks_away():
    for s in (state(patience=1), state(anger=Anger.furious)):
        assert P(outs(G, s, NEUTRAL, ("C10",)), walked) == 0.0


@pytest.mark.parametrize("seed", range(3))
def test_c10_sampled_conversation_going_nowhere_ends_in_walkout(seed):
    steps = run_episode(CustomerEnv("genuine_grievance"), [NEUTRAL] * 100, seed=seed)
    assert steps[-1][4]["outcome"] == "walked_away"
    assert len(steps) - 1 <= GENUINE_GRIEVANCE.patience


@pytest.mark.parametrize("seed", range(3))
def test_c10_off_sampled_conversation_times_out(seed):
    steps = run_episode(CustomerEnv("genuine_grievance", ablate=["C10"], max_turns=12), [NEUTRAL] * 100, seed=seed)
    assert steps[-1][4]["outcome"] == "timed_out"


# ------------------------------------------------------------------- A1 patronizing empathy
def test_a1_empathy_before_heard_may_raise_anger():
    s = state()
    expected = (1 - GENUINE_GRIEVANCE.empathy_calm * GENUINE_GRIEVANCE.empathy_unheard) * \
        GENUINE_GRIEVANCE.empathy_patronizing
    assert P(outs(G, s, Move.empathize), up(s)) == pytest.approx(expected)
    assert P(outs(G, state(heard=1), Move.empathize), up(s)) == 0.0


def test_a1_off_early_empathy_never_raises_anger_and_still_calms():
    s = state()
    o = outs(G, s, Move.empathize, ("A1",))
    assert P(o, up(s)) == 0.0
    assert P(o, down(s)) == pytest.approx(GENUINE_GRIEVANCE.empathy_calm * GENUINE_GRIEVANCE.empathy_unheard)


# ------------------------------------------------------------------ A2 rejection escalates
def test_a2_a_rejected_offer_may_raise_anger():
    s = state(heard=1, apologies=1, anger=Anger.upset)
    o = outs(G, s, Move.offer_options)
    rejected = P(o, lambda n, r: r == Reaction.rejects_offer)
    assert P(o, lambda n, r: r == Reaction.rejects_offer and n.anger > s.anger) == pytest.approx(
        rejected * GENUINE_GRIEVANCE.reject_escalation)


def test_a2_off_a_rejection_leaves_anger_and_acceptance_unchanged():
    s = state(heard=1, apologies=1)
    o = outs(G, s, Move.offer_options, ("A2",))
    assert P(o, up(s)) == 0.0
    assert P(o, solved) == pytest.approx(P(outs(G, s, Move.offer_options), solved))


# ---------------------------------------------------------------- A3 apologies wear out
def test_a3_each_further_apology_calms_less():
    relief = [P(outs(G, state(apologies=n), Move.apologize), down(state())) for n in range(3)]
    assert relief[0] > relief[1] > relief[2]
    assert relief[1] == pytest.approx(relief[0] * GENUINE_GRIEVANCE.apology_fatigue)


def test_a3_off_every_apology_calms_alike():
    relief = [P(outs(G, state(apologies=n), Move.apologize, ("A3", "A4")), down(state())) for n in range(3)]
    assert relief[0] > 0
    assert relief[0] == pytest.approx(relief[1]) == pytest.approx(relief[2])


# ------------------------------------------------------------------ A4 overused apology
def test_a4_an_apology_after_two_may_irritate():
    s = state(apologies=2)
    assert P(outs(G, s, Move.apologize), up(s)) > 0.0
    assert P(outs(G, state(apologies=1), Move.apologize), up(s)) == 0.0


def test_a4_off_no_apology_irritates_a_genuine_grievance():
    assert P(outs(G, state(apologies=2), Move.apologize, ("A4",)), up(state())) == 0.0


# ------------------------------------------------- A5 a first apology irritates the naturally difficult
def test_a5_a_naturally_difficult_customer_is_irritated_by_a_first_apology():
    s = state()
    assert P(outs(D, s, Move.apologize), up(s)) > 0.0
    assert P(outs(G, s, Move.apologize), up(s)) == 0.0


def test_a5_off_a_first_apology_irritates_nobody_and_still_calms():
    s = state()
    o = outs(D, s, Move.apologize, ("A5",))
    assert P(o, up(s)) == 0.0
    assert P(o, down(s)) == pytest.approx(NATURALLY_DIFFICULT.apology_relief)


# --------------------------------------------------- A6 apology before an offer
def test_a6_a_genuine_grievance_accepts_less_before_an_apology():
    before = P(outs(G, state(heard=1, trust=0), Move.offer_options), solved)
    after = P(outs(G, state(heard=1, trust=0, apologies=1), Move.offer_options), solved)
    assert before == pytest.approx(after * GENUINE_GRIEVANCE.offer_unapologized)


def test_a6_off_an_apology_changes_no_acceptance():
    before = P(outs(G, state(heard=1, trust=0), Move.offer_options, ("A6",)), solved)
    after = P(outs(G, state(heard=1, trust=0, apologies=1), Move.offer_options, ("A6",)), solved)
    assert before == pytest.approx(after)


# ------------------------------------------------- A7 a boundary out of place
def test_a7_a_boundary_on_a_customer_who_is_not_abusive_raises_anger():
    s = state()
    assert P(outs(G, s, Move.set_boundary), up(s)) == pytest.approx(GENUINE_GRIEVANCE.boundary_dismissive)


def test_a7_off_a_boundary_out_of_place_is_neutral_but_still_disarms_abuse():
    s = state()
    assert same(outs(G, s, Move.set_boundary, ("A7",)), outs(G, s, NEUTRAL, ("A7",)))
    a = state(abuse=Abuse.abusive)
    assert P(outs(B, a, Move.set_boundary, ("A7",)), lambda n, r: n.abuse == Abuse.contained) > 0.5


# ------------------------------------------------- A8 abuse blocks calm and offers
def test_a8_while_abusive_nothing_calms_and_offers_fail():
    s = state(abuse=Abuse.abusive, heard=1, apologies=1)
    for move in (Move.listen, Move.empathize, Move.apologize):
        assert P(outs(B, s, move), down(s)) == 0.0, move.name
    assert P(outs(B, s, Move.offer_options), solved) == 0.0


def test_a8_off_ignored_abuse_does_no_harm():
    s = state(abuse=Abuse.abusive, heard=1, apologies=1)
    calm = state(heard=1, apologies=1)
    assert P(outs(B, s, Move.listen, ("A8",)), down(s)) == pytest.approx(P(outs(B, calm, Move.listen), down(s)))
    assert P(outs(B, s, Move.offer_options, ("A8",)), solved) == pytest.approx(
        P(outs(B, calm, Move.offer_options), solved))


# ------------------------------------------------- A9 the customer ends the dialogue
def test_a9_ignored_abuse_may_end_the_dialogue():
    s = state(abuse=Abuse.abusive)
    o = outs(B, s, Move.listen)
    assert P(o, ended) == pytest.approx(BELLIGERENT.abuse_ends_dialogue)
    assert P(o, lambda n, r: r == Reaction.dialogue_ended) == pytest.approx(P(o, ended))


def test_a9_off_ignored_abuse_never_ends_the_dialogue_but_a_failed_warning_does():
    s = state(abuse=Abuse.abusive)
    assert P(outs(B, s, Move.listen, ("A9",)), ended) == 0.0
    assert P(outs(B, s, Move.set_boundary, ("A9",)), ended) == pytest.approx(
        (1 - BELLIGERENT.boundary_stops_abuse) * BELLIGERENT.warning_enforced)


# ------------------------------------------------- A10 abuse onset
def test_a10_an_angry_customer_may_turn_abusive_without_an_escalation():
    s = state(heard=1)
    o = outs(D, s, NEUTRAL)
    assert P(o, lambda n, r: n.abuse == Abuse.abusive) == pytest.approx(NATURALLY_DIFFICULT.abuse_onset)


def test_a10_off_abuse_arises_only_from_an_escalation():
    s = state(heard=1)
    assert P(outs(D, s, NEUTRAL, ("A10",)), lambda n, r: n.abuse == Abuse.abusive) == 0.0
    u = state(anger=Anger.upset)
    o = outs(D, u, Move.empathize, ("A10",))
    assert P(o, lambda n, r: n.abuse == Abuse.abusive) > 0.0


# ------------------------------------------------- A11 an anger rise costs trust
def test_a11_off_an_anger_rise_costs_no_trust_but_may_still_turn_into_abuse():
    abuse, lost = _after_a_rise(("A11",))
    assert lost == 0.0
    assert abuse == pytest.approx(GENUINE_GRIEVANCE.escalation_abuse)


def test_a11_on_an_anger_rise_costs_trust():
    assert _after_a_rise()[1] > 0.0


# ------------------------------------------------- A12 persona differences
def test_a12_the_kinds_differ_in_how_well_listening_works():
    s = state()
    assert P(outs(G, s, Move.listen), heard) != pytest.approx(P(outs(D, s, Move.listen), heard))


def test_a12_off_shared_values_except_differences_with_their_own_switch():
    off = closure(check_ablate(["A12"]))
    d = effective_persona(NATURALLY_DIFFICULT, off)
    for name, shared in SHARED.items():
        if name in ("apology_irritation_first", "initial_abusive"):  # A5, A13: their own switches
            assert getattr(d, name) == getattr(NATURALLY_DIFFICULT, name)
        else:
            assert getattr(d, name) == shared, name
    assert effective_persona(BELLIGERENT, off).initial_abusive == 1.0


# ------------------------------------------------- A13 opening abuse share
def test_a13_a_naturally_difficult_customer_may_open_abusive():
    t = compile_model("naturally_difficult", ablate=["A12"])  # A12 off: only A13 makes it open abusive
    opening_abusive = t.initial @ (t.factor("abuse") == Abuse.abusive)
    assert opening_abusive == pytest.approx(NATURALLY_DIFFICULT.initial_abusive)


def test_a13_off_only_the_belligerent_customer_opens_abusive():
    off = closure(check_ablate(["A13"]))
    assert effective_persona(NATURALLY_DIFFICULT, off).initial_abusive == 0.0
    assert effective_persona(BELLIGERENT, off).initial_abusive == 1.0


# ------------------------------------------------- A14 tone noise
def test_a14_tone_is_a_noisy_sign_of_anger():
    dist_ = tone_distribution(NATURALLY_DIFFICULT, state(anger=Anger.upset))
    assert max(dist_) < 1.0


def test_a14_off_tone_shows_anger_plainly():
    p = effective_persona(NATURALLY_DIFFICULT, closure(check_ablate(["A14"])))
    for anger in Anger:
        assert max(tone_distribution(p, state(anger=anger))) == 1.0


# ------------------------------------------------- A15 patience drains
def test_a15_patience_drains_without_progress():
    assert E(outs(G, state(), NEUTRAL), "patience") == 3


def test_a15_off_patience_never_drains_but_fury_may_still_end_it():
    assert E(outs(G, state(), NEUTRAL, ("A15",)), "patience") == 4
    assert P(outs(G, state(patience=1), NEUTRAL, ("A15",)), walked) == 0.0
    assert P(outs(G, state(anger=Anger.furious), NEUTRAL, ("A15",)), walked) == pytest.approx(
        GENUINE_GRIEVANCE.furious_walkout)


# ------------------------------------------------- A16 furious walk-out
def test_a16_a_furious_customer_may_walk_out_with_patience_left():
    assert P(outs(G, state(anger=Anger.furious), Move.listen, ("A15",)), walked) > 0.0


def test_a16_off_no_furious_walk_out():
    assert P(outs(G, state(anger=Anger.furious), NEUTRAL, ("A15", "A16")), walked) == 0.0


# ------------------------------------------------- A17 population weights
def _persona_shares(tables) -> np.ndarray:
    return np.array([tables.initial @ (tables.factor("persona") == i) for i in range(len(tables.persona_names))])


def test_a17_the_mixture_draws_personas_with_its_weights(mixture):
    assert _persona_shares(mixture) == pytest.approx(mixture.mixture.weights)


def test_a17_off_every_persona_equally_often():
    t = compile_model("mixture", ablate=["A17"])
    assert _persona_shares(t) == pytest.approx([1 / 3] * 3)


# ------------------------------------------------- D1 listen before empathy (contested)
def test_d1_empathy_before_heard_works_less():
    before, after = state(), state(heard=1)
    calm_before = P(outs(G, before, Move.empathize), down(before))
    calm_after = P(outs(G, after, Move.empathize), down(after))
    assert calm_before == pytest.approx(calm_after * GENUINE_GRIEVANCE.empathy_unheard)


def test_d1_off_empathy_works_as_well_before_heard():
    before, after = state(), state(heard=1)
    assert P(outs(G, before, Move.empathize, ("D1",)), down(before)) == pytest.approx(
        P(outs(G, after, Move.empathize, ("D1",)), down(after)))
    # With A1 off too (no patronizing rise, no trust lost to it), early empathy builds trust fully.
    assert P(outs(G, before, Move.empathize, ("D1", "A1")), lambda n, r: n.trust > before.trust) == pytest.approx(
        GENUINE_GRIEVANCE.empathy_trust)
