"""The conformance rules as automata: the checks on conversations, and the exact cost of keeping them."""

from __future__ import annotations

import numpy as np
import pytest

from difficult_customer import agents
from difficult_customer.agents import PolicyContext
from difficult_customer.agents.exact.evaluation import propagate
from difficult_customer.agents.exact.model import transition_index
from difficult_customer.agents.exact.oracle import solve_oracle
from difficult_customer.agents.exact.rule_cost import rule_cost, rule_costs
from difficult_customer.customer_models import Move, Reaction, Tone
from difficult_customer.customer_models.vocabulary import N_MOVES
from difficult_customer.experiments.library.conformance import RULES, check_rules
from difficult_customer.experiments.library.rollouts import Episode

L, E, A, OFFER, B, F = (Move.listen, Move.empathize, Move.apologize, Move.offer_options, Move.set_boundary,
                    Move.follow_up)


def episode(moves, reactions=None, tones=None, solved=None, persona="genuine_grievance") -> Episode:
    n = len(moves)
    reactions = reactions or [Reaction.complains] + [Reaction.unmoved] * n
    tones = tones or [Tone.angry] * (n + 1)
    solved = solved or [False] * (n + 1)
    return Episode(seed=0, persona=persona, outcome="", ret=0.0, turns=n, moves=[int(m) for m in moves],
                   reactions=[int(r) for r in reactions], tones=[int(t) for t in tones], solved_before=solved)


# ----------------------------------------------------------------------- the checks
def test_r2_counts_an_apology_as_a_feelings_move_in_either_order():
    assert check_rules(episode([L, A, OFFER]))["R2"] is True
    assert check_rules(episode([A, L, OFFER]))["R2"] is True
    assert check_rules(episode([L, E, OFFER]))["R2"] is True
    assert check_rules(episode([L, OFFER]))["R2"] is False
    assert check_rules(episode([E, A, OFFER]))["R2"] is False
    assert check_rules(episode([L, L]))["R2"] is None


def test_r4_a_boundary_is_warranted_while_an_insult_is_unanswered_even_past_an_offer_reply():
    masked = [Reaction.insults, Reaction.rejects_offer, Reaction.softens]
    assert check_rules(episode([OFFER, B], reactions=masked))["R4"] is True
    calmed = [Reaction.insults, Reaction.softens, Reaction.unmoved]
    assert check_rules(episode([L, B], reactions=calmed))["R4"] is False, "the insult was over: visibly softened"
    answered = [Reaction.insults, Reaction.softens, Reaction.rejects_offer, Reaction.unmoved]
    assert check_rules(episode([B, OFFER, B], reactions=answered))["R4"] is False, (
        "a second boundary with no new insult")


def test_r4_persisting_abuse_needs_a_boundary_by_the_second_insult():
    twice = [Reaction.insults, Reaction.insults, Reaction.insults]
    assert check_rules(episode([L, L], reactions=twice))["R4"] is False
    assert check_rules(episode([L, B], reactions=twice))["R4"] is True
    assert check_rules(episode([L, L]))["R4"] is None


def test_r3_allows_a_second_apology_for_a_genuine_grievance_only():
    assert check_rules(episode([A, A]))["R3"] is True
    assert check_rules(episode([A, A], persona="naturally_difficult"))["R3"] is False
    assert check_rules(episode([A, A, A]))["R3"] is False


def test_r5_and_r6():
    solved = [False, False, True, True]
    assert check_rules(episode([L, OFFER, F], solved=solved))["R5"] is True
    assert check_rules(episode([L, OFFER, L], solved=solved))["R5"] is False
    assert check_rules(episode([F, L]))["R5"] is False
    calm = [Tone.angry, Tone.calm, Tone.calm, Tone.calm]
    assert check_rules(episode([L, E, OFFER], tones=calm))["R6"] is True
    assert check_rules(episode([L, E, E], tones=calm))["R6"] is False
    assert check_rules(episode([L, E], tones=[Tone.angry, Tone.angry, Tone.calm]))["R6"] is None
    assert set(check_rules(episode([L]))) == set(RULES)


# ------------------------------------------------------------------- the exact costs
@pytest.fixture(scope="module")
def context() -> PolicyContext:
    return PolicyContext.create(persona="belligerent", max_turns=8)


def test_r5_restricted_value_equals_an_independent_masked_value_iteration(context):
    t = context.tables
    ix = transition_index(t)
    solved = t.factor("solved").astype(bool)
    allowed = np.zeros((t.n_states, N_MOVES), dtype=bool)
    allowed[:, Move.follow_up] = solved
    allowed[~solved] = True
    allowed[~solved, Move.follow_up] = False
    live = ~ix.terminal[ix.source] & ~ix.terminal[ix.target]
    pair = ix.source[live] * N_MOVES + ix.move[live]
    v = np.zeros(t.n_states)
    for _ in range(context.max_turns):
        q = ix.expected_reward + np.bincount(pair, ix.prob[live] * v[ix.target[live]],
                                             minlength=t.n_states * N_MOVES).reshape(t.n_states, N_MOVES)
        q[~allowed] = -np.inf
        v = q.max(-1)
        v[t.terminal] = 0.0
    assert rule_cost(t, context.max_turns, "R5").restricted == pytest.approx(float(t.initial @ v))


def test_keeping_a_rule_never_beats_the_oracle_and_never_loses_to_a_policy_that_keeps_it(context):
    t = context.tables
    oracle = solve_oracle(t, context.max_turns).value
    costs = rule_costs(t, context.max_turns)
    assert set(costs) == set(RULES)
    for cost in costs.values():
        assert cost.restricted <= oracle + 1e-9
        assert cost.oracle == pytest.approx(oracle)
    # guide_001 opens with a listen, listens and empathizes before any offer, and follows up
    # right after a solution: it keeps R1, R2 and R5 in every conversation.
    guide = propagate(agents.make("guide_001", context), context).value
    for rule in ("R1", "R2", "R5"):
        assert guide <= costs[rule].restricted + 1e-9, rule


def test_costs_by_persona_add_up_over_the_mixture():
    c = PolicyContext.create(persona="mixture", max_turns=6)
    cost = rule_cost(c.tables, 6, "R1")
    weights = dict(zip(c.tables.persona_names, c.tables.mixture.weights, strict=True))
    assert sum(weights[p] * v for p, v in cost.cost_by_persona().items()) == pytest.approx(cost.cost)


def test_an_unknown_rule_is_named():
    t = PolicyContext.create(persona="belligerent", max_turns=4).tables
    with pytest.raises(ValueError, match=r"unknown rule 'R9'; allowed: R1, R2, R3, R4, R5, R6"):
        rule_cost(t, 4, "R9")
