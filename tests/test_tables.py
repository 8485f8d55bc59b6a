"""Properties of the compiled tables, over random persona parameters and ablations.

Hypothesis draws a built-in persona, replaces several of its probabilities with random
values in [0, 1] and switches off a random set of claims; whatever it draws, the tables
must be valid distributions with absorbing, reward-free terminal states and rewards
equal to the weighted terms. Sampled transitions, from the conversation core's step and
from the environment itself, must follow the tables (chi-square tests with fixed seeds).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from difficult_customer.customer_models import (
    CLAIMS,
    FACTORS,
    PERSONA_NAMES,
    PERSONAS,
    REWARD_TERMS,
    SWITCH_IDS,
    Abuse,
    Anger,
    Mixture,
    Move,
    Outcome,
    Reaction,
    Rewards,
    Tables,
    compile_model,
)
from difficult_customer.customer_models.switches import closure
from difficult_customer.customer_models.vocabulary import N_TONES
from difficult_customer.envs import CustomerEnv
from difficult_customer.envs.core import START_HISTORY, Conversations, conversation_core, uniforms

SETTINGS = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])

PROBABILITY_FIELDS = (
    "initial_abusive",
    "listen_heard",
    "listen_calm",
    "empathy_calm",
    "empathy_patronizing",
    "apology_relief",
    "apology_fatigue",
    "apology_irritation",
    "offer_unheard",
    "offer_unapologized",
    "offer_relief",
    "empathy_heard",
    "empathy_unheard",
    "warning_enforced",
    "abuse_blocks",
    "reject_escalation",
    "boundary_stops_abuse",
    "boundary_dismissive",
    "abuse_onset",
    "abuse_ends_dialogue",
    "follow_up_trust",
    "escalation_abuse",
    "escalation_trust",
    "furious_walkout",
)
"""Persona fields hypothesis draws freely from [0, 1]."""

probability = st.floats(0.0, 1.0)
"""A probability in [0, 1], subnormal values included (their products underflow to 0.0;
see ``test_underflowing_chance_leaves_no_unreachable_state``)."""


@st.composite
def personas(draw):
    base = draw(st.sampled_from(sorted(PERSONAS)))
    changes = {name: draw(probability) for name in PROBABILITY_FIELDS}
    changes["tone_up"] = draw(st.floats(0.0, 0.5))
    changes["tone_down"] = draw(st.floats(0.0, 0.5))
    changes["offer_accept"] = tuple(draw(st.lists(probability, min_size=5, max_size=5)))
    changes["patience"] = draw(st.integers(1, 4))
    return replace(PERSONAS[base], **changes)


ablations = st.sets(st.sampled_from(SWITCH_IDS), max_size=6)
"""Any switches: claims, assumptions, the contested reading."""
rewards = st.fixed_dictionaries({name: st.floats(-2.0, 2.0) for name in REWARD_TERMS}).map(Rewards.from_mapping)


# ------------------------------------------------------------------ invariants
def assert_distributions(t: Tables) -> None:
    n_states, n_moves, _ = t.next_prob.shape
    assert n_moves == len(Move)
    assert t.initial.shape == (n_states,)
    assert (t.initial >= 0).all() and t.initial.sum() == pytest.approx(1.0)
    assert np.allclose(t.initial_by_persona.sum(1), 1.0)
    weights = t.mixture.effective_weights(closure(t.ablate))
    assert np.allclose(np.asarray(weights) @ t.initial_by_persona, t.initial)
    assert (t.next_prob >= 0).all() and (t.next_prob <= 1 + 1e-12).all()
    assert np.allclose(t.next_prob.sum(-1), 1.0, atol=1e-9)
    assert (t.tone_prob >= 0).all() and np.allclose(t.tone_prob.sum(-1), 1.0)
    assert ((t.next_state >= 0) & (t.next_state < n_states)).all()
    assert np.isin(t.next_reaction, [int(r) for r in Reaction]).all()


def assert_factor_ranges(t: Tables) -> None:
    highs = {
        "persona": len(t.persona_names) - 1,
        "status": Outcome.ended_after_abuse,  # timed_out is never a hidden status
        "anger": Anger.furious,
        "trust": 3,
        "heard": 1,
        "apologies": 2,
        "solved": 1,
        "abuse": Abuse.contained,
        "patience": 4,
    }
    for name in FACTORS:
        col = t.factor(name)
        assert col.min() >= 0 and col.max() <= highs[name], name
    ongoing = ~t.terminal
    assert (t.terminal == (t.factor("status") != Outcome.ongoing)).all()
    if "C10" not in t.ablate:
        assert (t.factor("patience")[ongoing] >= 1).all()
    assert len(np.unique(t.factors, axis=0)) == t.n_states, "each hidden state appears once"


def assert_terminal_absorbing(t: Tables) -> None:
    term = np.flatnonzero(t.terminal)
    assert term.size, "some conversation must be able to end"
    live = t.next_prob[term] > 0
    assert (t.next_state[term][live] == np.repeat(term, live.reshape(len(term), -1).sum(1))).all()
    assert np.allclose(t.next_prob[term].max(-1), 1.0)
    assert (t.reward[term] == 0).all()
    assert (t.reward_terms[term] == 0).all()
    assert (t.initial[term] == 0).all(), "no conversation starts over"


def assert_reward_is_weighted_terms(t: Tables) -> None:
    assert t.reward_terms.shape == (*t.reward.shape, len(REWARD_TERMS))
    assert np.allclose(t.reward, t.reward_terms.astype(np.float64) @ t.rewards.vector(), atol=1e-6)
    assert (t.reward[t.next_prob == 0] == 0).all(), "padding slots carry no reward"


def assert_terms_follow_factors(t: Tables) -> None:
    """Check the unweighted terms against the factors, independently of ``reward_terms()``."""
    live = (t.next_prob > 0) & ~t.terminal[:, None, None]
    before = t.factors[:, None, None, :]
    after = t.factors[t.next_state]
    terms = {name: t.reward_terms[..., i] for i, name in enumerate(REWARD_TERMS)}
    col = FACTORS.index
    status = after[..., col("status")]
    assert (terms["turn"][live] == 1).all()
    newly_solved = (after[..., col("solved")] == 1) & (before[..., col("solved")] == 0)
    assert (terms["solved"][live] == newly_solved[live]).all()
    assert (terms["followed_up"][live] == (status == Outcome.solved_and_followed_up)[live]).all()
    assert (terms["walked_away"][live] == (status == Outcome.walked_away)[live]).all()
    assert (terms["ended_after_abuse"][live] == (status == Outcome.ended_after_abuse)[live]).all()
    ends_solved = (status == Outcome.solved) | (status == Outcome.solved_and_followed_up)
    assert (terms["trust"][live] == np.where(ends_solved, after[..., col("trust")], 0)[live]).all()


def assert_reactions_match_endings(t: Tables) -> None:
    live = (t.next_prob > 0) & ~t.terminal[:, None, None]
    status = t.factor("status")[t.next_state][live]
    reaction = t.next_reaction[live]
    pairs = {
        Outcome.walked_away: Reaction.walks_away,
        Outcome.ended_after_abuse: Reaction.dialogue_ended,
        Outcome.solved_and_followed_up: Reaction.thanks,
        Outcome.solved: Reaction.says_goodbye,
    }
    for outcome, shown in pairs.items():
        assert ((status == outcome) == (reaction == shown)).all(), (outcome.name, shown.name)
    opening = np.where(t.factor("abuse") == Abuse.abusive, Reaction.insults, Reaction.complains)
    starts = t.initial > 0
    assert (t.opening_reaction[starts] == opening[starts]).all()


def reachable(t: Tables) -> np.ndarray:
    seen = t.initial > 0
    frontier = np.flatnonzero(seen)
    while frontier.size:
        succ = np.unique(t.next_state[frontier][t.next_prob[frontier] > 0])
        frontier = succ[~seen[succ]]
        seen[frontier] = True
    return seen


def can_end(t: Tables) -> np.ndarray:
    """States from which some sequence of moves reaches a terminal state with chance > 0."""
    ok = t.terminal.copy()
    while True:
        leads = ((t.next_prob > 0) & ok[t.next_state]).any(axis=(1, 2))
        grown = ok | leads
        if (grown == ok).all():
            return ok
        ok = grown


# ------------------------------------------------------------- property tests
@SETTINGS
@given(persona=personas(), ablate=ablations)
def test_tables_are_distributions(persona, ablate):
    t = compile_model(persona, ablate)
    assert_distributions(t)
    assert_factor_ranges(t)


@SETTINGS
@given(persona=personas(), ablate=ablations, weights=rewards)
def test_terminal_states_self_loop_and_rewards_are_weighted_terms(persona, ablate, weights):
    t = compile_model(persona, ablate, weights)
    assert_terminal_absorbing(t)
    assert_reward_is_weighted_terms(t)
    assert_terms_follow_factors(t)


@SETTINGS
@given(persona=personas(), ablate=ablations)
def test_reactions_match_endings_and_every_state_is_reachable(persona, ablate):
    t = compile_model(persona, ablate)
    assert_reactions_match_endings(t)
    assert reachable(t).all()
    assert t.n_states <= 5 * 5 * 4 * 2 * 3 * 2 * 3 * 5  # product of the factor ranges


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(first=personas(), second=personas(), weight=st.floats(0.05, 0.95), ablate=ablations)
def test_random_mixtures_compile_to_valid_tables(first, second, weight, ablate):
    mixture = Mixture("pair", (replace(first, name="first"), replace(second, name="second")), (weight, 1 - weight))
    t = compile_model(mixture, ablate)
    assert_distributions(t)
    assert_terminal_absorbing(t)
    assert set(np.unique(t.factor("persona"))) == {0, 1}
    for member in (0, 1):
        assert t.initial_by_persona[member][t.factor("persona") != member].sum() == 0


def test_underflowing_chance_leaves_no_unreachable_state():
    # accept = 5e-324 (the smallest float); 0.5 * 5e-324 rounds to 0.0 in the C5 relief split.
    persona = replace(PERSONAS["genuine_grievance"], offer_accept=(5e-324,) * 5, offer_relief=0.5)
    t = compile_model(persona)
    assert reachable(t).all()


# ------------------------------------------------------- built-in personas
@pytest.mark.parametrize("name", PERSONA_NAMES)
def test_builtin_tables_hold_every_invariant(name):
    t = compile_model(name)
    assert_distributions(t)
    assert_factor_ranges(t)
    assert_terminal_absorbing(t)
    assert_reward_is_weighted_terms(t)
    assert_terms_follow_factors(t)
    assert_reactions_match_endings(t)
    assert reachable(t).all()
    assert can_end(t).all(), "from every state some conversation can still end"


def test_state_space_sizes():
    sizes = {name: compile_model(name).n_states for name in PERSONA_NAMES}
    assert sizes["mixture"] < 50_000
    assert sizes["mixture"] == sum(sizes[p.name] for p in compile_model("mixture").mixture.personas)
    for name, size in sizes.items():
        assert size > 10, name


@pytest.mark.parametrize("switch", [*CLAIMS, "A8", "A15", "A17", "D1"])
def test_ablated_tables_are_valid(switch):
    t = compile_model("belligerent", ablate=[switch])
    assert_distributions(t)
    assert_terminal_absorbing(t)
    assert reachable(t).all()
    assert t.ablate == frozenset({switch})


def test_guide_only_variant_is_every_assumption_off():
    from difficult_customer.customer_models import ASSUMPTIONS

    by_name = compile_model("guide_only")
    by_variant = compile_model("mixture", variant="guide_only")
    by_ablate = compile_model("mixture", ablate=ASSUMPTIONS)
    for t in (by_variant, by_ablate):
        assert t.ablate == by_name.ablate == frozenset(ASSUMPTIONS)
        np.testing.assert_array_equal(t.factors, by_name.factors)
        np.testing.assert_array_equal(t.next_prob, by_name.next_prob)
        np.testing.assert_array_equal(t.initial, by_name.initial)
    assert_distributions(by_name)
    assert can_end(by_name).all()


def test_compilation_is_cached_and_read_only():
    tables = compile_model("genuine_grievance")
    assert compile_model("genuine_grievance") is tables
    assert compile_model("genuine_grievance", ablate=[]) is tables
    assert compile_model(PERSONAS["genuine_grievance"], rewards=Rewards()) is tables
    assert compile_model("genuine_grievance", ablate=["C4"]) is not tables
    with pytest.raises(ValueError, match="read-only"):
        tables.next_prob[0, 0, 0] = 0.5


def test_index_and_state_round_trip(mixture):
    for i in (0, 1, mixture.n_states // 2, mixture.n_states - 1):
        assert mixture.index(mixture.state(i)) == i
    named = mixture.hidden_state(0)
    assert list(named) == list(FACTORS)
    assert named["persona"] in mixture.persona_names


# ------------------------------------------------ samples follow the tables
def merged_chisquare(counts: np.ndarray, probs: np.ndarray) -> float:
    """Chi-square p-value of observed ``counts`` against ``probs``; bins expecting < 5 merged."""
    counts = np.asarray(counts, dtype=float)
    probs = np.asarray(probs, dtype=float)
    assert counts[probs == 0].sum() == 0, "drew an outcome of probability 0"
    counts, probs = counts[probs > 0], probs[probs > 0]
    expected = probs * counts.sum()
    small = expected < 5
    if small.any():
        counts = np.append(counts[~small], counts[small].sum())
        expected = np.append(expected[~small], expected[small].sum())
    if len(counts) < 2:
        return 1.0
    return float(chisquare(counts, expected).pvalue)


def widest_row(t: Tables) -> tuple[int, int]:
    """The (state, move) with the most successors."""
    width = (t.next_prob > 0).sum(-1)
    s, a = np.unravel_index(np.argmax(width), width.shape)
    return int(s), int(a)


def _at(core, states: np.ndarray) -> Conversations:
    """Conversations in ``states`` at turn 0 with no moves yet (not ended)."""
    n = states.size
    zeros = np.zeros(n, np.intp)
    return Conversations(states, zeros, zeros, np.full(n, START_HISTORY), np.zeros(n, bool))


@pytest.mark.parametrize("name", ["mixture", "naturally_difficult"])
def test_core_step_follows_next_prob_and_tone_prob(name):
    """The core's step from the widest (state, move): successors by next_prob, the tone shown by tone_prob."""
    t = compile_model(name)
    core = conversation_core(t, 16)
    s, a = widest_row(t)
    assert (t.next_prob[s, a] > 0).sum() >= 4
    rng = np.random.default_rng(0)
    n = 20_000
    conv, step = core.step(_at(core, np.full(n, s)), np.full(n, a), uniforms(rng, n))
    k = core.flat.source[step.slot] % t.next_prob.shape[-1]
    assert merged_chisquare(np.bincount(k, minlength=t.next_prob.shape[-1]), t.next_prob[s, a]) > 1e-3
    busiest = int(np.bincount(conv.state).argmax())
    tones = conv.code[conv.state == busiest] % N_TONES
    assert merged_chisquare(np.bincount(tones, minlength=N_TONES), t.tone_prob[busiest]) > 1e-3


def test_core_reset_follows_initial(mixture):
    core = conversation_core(mixture, 16)
    conv = core.reset(uniforms(np.random.default_rng(1), 20_000))
    assert merged_chisquare(np.bincount(conv.state, minlength=mixture.n_states), mixture.initial) > 1e-3


@pytest.mark.parametrize("u", [0.0, 0.5, np.nextafter(1.0, 0.0)], ids=["zero", "half", "below_one"])
def test_core_never_draws_an_outcome_of_probability_zero(mixture, u):
    """Even at the edges of [0, 1): every (state, move) steps to a possible successor and tone; resets too."""
    core = conversation_core(mixture, 16)
    n_states, n_moves, _ = mixture.next_prob.shape
    states = np.repeat(np.arange(n_states), n_moves)
    moves = np.tile(np.arange(n_moves), n_states)
    live = mixture.terminal[states] == 0
    states, moves = states[live], moves[live]
    conv, step = core.step(_at(core, states), moves, np.full((2, states.size), u))
    assert (mixture.next_prob.ravel()[core.flat.source[step.slot]] > 0).all()
    np.testing.assert_array_equal(conv.state, mixture.next_state.ravel()[core.flat.source[step.slot]])
    assert (mixture.tone_prob[conv.state, conv.code % N_TONES] > 0).all()
    start = core.reset(np.full((2, 3), u))
    assert (mixture.initial[start.state] > 0).all() and (start.state == start.state[0]).all()
    assert (mixture.tone_prob[start.state, start.code % N_TONES] > 0).all()


def test_sampled_conversations_follow_the_tables():
    """Play random conversations in the env and test the most visited (state, move) rows."""
    env = CustomerEnv("genuine_grievance")
    t = env.unwrapped.tables
    rng = np.random.default_rng(2)
    seen: dict[tuple[int, int], Counter] = {}
    starts = Counter()
    for episode in range(3000):
        _, info = env.reset(seed=episode)
        starts[info["state_index"]] += 1
        done = False
        while not done:
            s = info["state_index"]
            a = int(rng.integers(len(Move)))
            _, reward, terminated, truncated, info = env.step(a)
            seen.setdefault((s, a), Counter())[(info["state_index"], Reaction[info["reaction"]])] += 1
            done = terminated or truncated
    assert merged_chisquare([starts[i] for i in range(t.n_states)], t.initial) > 1e-3
    random_rows = [key for key in seen if (t.next_prob[key] > 0).sum() >= 3]
    busiest = sorted(random_rows, key=lambda key: -sum(seen[key].values()))[:4]
    assert len(busiest) == 4
    for s, a in busiest:
        live = np.flatnonzero(t.next_prob[s, a] > 0)
        slots = {(int(t.next_state[s, a, k]), int(t.next_reaction[s, a, k])): k for k in live}
        counts = np.zeros(t.next_prob.shape[-1])
        for (nxt, reaction), c in seen[(s, a)].items():
            assert (nxt, int(reaction)) in slots, f"transition {s} -{Move(a).name}-> {nxt} is not in the tables"
            counts[slots[(nxt, int(reaction))]] += c
        assert counts.sum() >= 200
        assert merged_chisquare(counts, t.next_prob[s, a]) > 1e-3, (t.state(s), Move(a).name)
