"""The conversation core: batched and scalar steps agree, codes are the one code, the step is pure."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from difficult_customer.customer_models import FACTORS, Outcome, compile_model
from difficult_customer.customer_models.vocabulary import N_MOVES, N_REACTIONS, N_TONES
from difficult_customer.envs import CustomerEnv, CustomerVectorEnv
from difficult_customer.envs import observation as layout
from difficult_customer.envs.core import (
    N_HISTORIES,
    N_OBSERVATION_CODES,
    START_HISTORY,
    Conversations,
    check_moves,
    conversation_core,
    history_counts,
    history_last_move,
    observation_code,
    opening_distribution,
    split_observation_code,
    uniforms,
)

CORES = {
    "mixture": conversation_core(compile_model("mixture"), 16),
    "belligerent_short": conversation_core(compile_model("belligerent", ["C4"]), 4),
}


def _boundaries(core) -> list[float]:
    """Uniforms on and just below the draw's edges: column boundaries ``k / width`` (``u0``) and thresholds (``u1``)."""
    rng = np.random.default_rng(0)
    joint = core.joint
    thresholds = joint.threshold[joint.threshold < 1.0]
    widths = rng.choice(np.unique(joint.width), 100)
    columns = np.floor(rng.random(100) * widths) / widths
    picked = np.concatenate([rng.choice(thresholds, 300), columns])
    return sorted({float(x) for x in picked} | {float(np.nextafter(x, 0.0)) for x in picked} | {0.0})


UNIFORM = st.one_of(
    st.floats(0.0, 1.0, exclude_max=True),
    st.sampled_from(_boundaries(CORES["mixture"]) + _boundaries(CORES["belligerent_short"])),
)


def _batched_one(core, conv: Conversations) -> tuple:
    return tuple(int(a[0]) for a in conv[:4])


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(sorted(CORES)),
    opening=st.tuples(UNIFORM, UNIFORM),
    steps=st.lists(st.tuples(st.integers(0, N_MOVES - 1), UNIFORM, UNIFORM), min_size=1, max_size=20),
)
def test_scalar_step_is_the_batched_step_for_the_same_uniforms(name, opening, steps):
    """Same uniforms: same slot, next state, code, history, turn, reward and ends, and the same observation."""
    core = CORES[name]
    one = core.reset_one(*opening)
    conv = core.reset(np.array(opening)[:, None])
    assert one == _batched_one(core, conv)
    for full in (False, True):
        np.testing.assert_array_equal(core.observe_one(one, full), core.observe(conv, full)[0])
    for move, u0, u1 in steps:
        one, slot, reward, terminated, truncated = core.step_one(one, move, u0, u1)
        conv, step = core.step(conv, np.array([move]), np.array([[u0], [u1]]))
        assert one == _batched_one(core, conv)
        assert (slot, reward, terminated, truncated) == (
            int(step.slot[0]),
            float(step.reward[0]),
            bool(step.terminated[0]),
            bool(step.truncated[0]),
        )
        np.testing.assert_array_equal(core.observe_one(one), core.observe(conv)[0])
        if terminated or truncated:
            assert bool(conv.done[0])
            break


def test_each_row_of_a_batch_steps_as_it_would_alone():
    """A batched step is the scalar step row by row, restarts included (a done row restarts like reset_one)."""
    core = CORES["mixture"]
    rng = np.random.default_rng(3)
    n = 400
    u = uniforms(rng, n)
    conv = core.reset(u)
    ones = [core.reset_one(*u[:, i]) for i in range(n)]
    assert ones == [tuple(int(x) for x in row) for row in np.stack(conv[:4], 1)]
    restarts = 0
    for _ in range(30):
        moves = rng.integers(0, N_MOVES, n)
        u = uniforms(rng, n)
        done_before = conv.done.copy()
        conv, step = core.step(conv, moves, u)
        for i in range(n):
            if done_before[i]:
                expected, reward, terminated, truncated = core.reset_one(*u[:, i]), 0.0, False, False
                restarts += 1
            else:
                expected, _, reward, terminated, truncated = core.step_one(ones[i], int(moves[i]), *u[:, i])
            ones[i] = expected
            assert expected == tuple(int(a[i]) for a in conv[:4])
            assert (reward, terminated, truncated, bool(done_before[i])) == (
                step.reward[i],
                step.terminated[i],
                step.truncated[i],
                step.restarted[i],
            )
    assert restarts > 100


def test_the_step_is_pure():
    """State in, state out: the input arrays are never written to; the same inputs give the same outputs."""
    core = CORES["mixture"]
    rng = np.random.default_rng(1)
    conv = core.reset(uniforms(rng, 64))
    for _ in range(5):
        conv, _ = core.step(conv, rng.integers(0, N_MOVES, 64), uniforms(rng, 64))
    before = Conversations(*(a.copy() for a in conv))
    moves, u = rng.integers(0, N_MOVES, 64), uniforms(rng, 64)
    a, step_a = core.step(conv, moves, u)
    b, step_b = core.step(conv, moves, u)
    for old, kept in zip(before, conv, strict=True):
        np.testing.assert_array_equal(old, kept)
    for x, y in zip((*a, *step_a), (*b, *step_b), strict=True):
        np.testing.assert_array_equal(x, y)
    mask = np.zeros(64, dtype=bool)
    mask[[3, 10]] = True
    restarted = core.reset_rows(conv, mask, uniforms(rng, 2))
    for old, kept, new in zip(before, conv, restarted, strict=True):
        np.testing.assert_array_equal(old, kept)
        np.testing.assert_array_equal(new[~mask], old[~mask])
    assert (restarted.turn[mask] == 0).all() and (restarted.history[mask] == START_HISTORY).all()


def test_single_and_vector_env_give_identical_results_from_the_same_state_and_uniforms():
    """Put both envs in the same state and random stream mid-run: the next steps agree, value by value."""
    single = CustomerEnv(persona="mixture")
    vector = CustomerVectorEnv(1, persona="mixture", info_keys="all")
    vector.reset(seed=123)
    for seed in range(50):  # a conversation that goes on after listen, empathize
        single.reset(seed=seed)
        if not any(single.step(0)[2:4]) and not any(single.step(1)[2:4]):
            break
    # The vector env takes the single env's conversation and generator state.
    one = single._one
    vector._conv = Conversations(*(np.array([x], dtype=np.intp) for x in one), np.zeros(1, dtype=bool))
    vector.np_random.bit_generator.state = single.np_random.bit_generator.state
    vector._return = np.array([single._return])
    for move in [3, 0, 1, 3, 5, 4, 2] * 3:  # 2 + 21 moves: the turn limit (16) ends it at the latest
        obs, reward, terminated, truncated, info = single.step(move)
        v_obs, v_reward, v_terminated, v_truncated, v_info = vector.step(np.array([move]))
        np.testing.assert_array_equal(obs, v_obs[0])
        assert (reward, terminated, truncated) == (v_reward[0], v_terminated[0], v_truncated[0])
        assert info["state_index"] == v_info["state_index"][0] and info["turn"] == v_info["turn"][0]
        assert info["outcome"] == Outcome(v_info["outcome"][0]).name
        assert info["return"] == v_info["return"][0]
        assert info["reward_terms"] == {k: float(v[0]) for k, v in v_info["reward_terms"].items() if k[0] != "_"}
        if terminated or truncated:
            break
    assert terminated or truncated  # the moves lead to an end within the limit


# ------------------------------------------------------------------ the alias draw
def _outcome_probs(core, row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (slot, tone) a flat row can draw and its probability: next_prob (or initial) x tone_prob."""
    t, flat = core.tables, core.flat
    first = int(core.joint.first[row])
    slots = np.unique(core.joint.slot[first : first + int(core.joint.width[row])])
    source = flat.source[slots]
    slot_prob = np.where(source >= 0, t.next_prob.ravel()[np.maximum(source, 0)], t.initial[flat.next_state[slots]])
    tone_prob = t.tone_prob[flat.next_state[slots]]  # (slots, T), zeros included
    slot = np.repeat(slots, N_TONES)
    tone = np.tile(np.arange(N_TONES), slots.size)
    return slot, tone, (slot_prob[:, None] * tone_prob).ravel()


def _widest_rows(core) -> list[int]:
    """The (state, move) row with the most columns, and the start row."""
    pairs = np.arange(core.joint.width.size) % (N_MOVES + 1) != N_MOVES
    widest = int(np.flatnonzero(pairs)[np.argmax(core.joint.width[pairs])])
    return [widest, int(core.flat.row(0, N_MOVES))]


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(CORES)), pick=st.floats(0.0, 1.0, exclude_max=True), u0=UNIFORM, u1=UNIFORM)
def test_scalar_draw_is_the_batched_draw_for_every_row(name, pick, u0, u1):
    """Any row of the alias tables, (state, move) or restart: step_one / reset_one draw what core.draw draws."""
    core = CORES[name]
    row = int(pick * core.joint.width.size)
    drawn = core.draw(np.array([row]), np.array([[u0], [u1]]))[0]
    state, move = divmod(row, N_MOVES + 1)
    if move == N_MOVES:
        one = core.reset_one(u0, u1)
        slot, reward, terminated = int(drawn["slot"]), 0.0, False
    else:
        one, slot, reward, terminated, _ = core.step_one((state, 0, 0, START_HISTORY), move, u0, u1)
    assert (one[0], one[1], slot, reward, terminated) == (
        int(drawn["state"]),
        int(drawn["code"]),
        int(drawn["slot"]),
        float(drawn["reward"]),
        bool(drawn["terminal"]),
    )


@pytest.mark.parametrize("name", sorted(CORES))
def test_alias_draws_follow_the_tables(name):
    """Chi-square of many batched draws of one row against next_prob x tone_prob (p > 0.001); zeros never drawn."""
    core = CORES[name]
    rng = np.random.default_rng(7)
    n = 200_000
    for row in _widest_rows(core):
        slot, tone, prob = _outcome_probs(core, row)
        assert np.isclose(prob.sum(), 1.0) and (prob > 0).sum() >= 4
        drawn = core.draw(np.full(n, row), uniforms(rng, n))
        drawn_tone = drawn["code"] % N_TONES
        key = {(s, k): i for i, (s, k) in enumerate(zip(slot.tolist(), tone.tolist(), strict=True))}
        index = np.array([key[pair] for pair in zip(drawn["slot"].tolist(), drawn_tone.tolist(), strict=True)])
        counts = np.bincount(index, minlength=prob.size)
        assert counts[prob == 0].sum() == 0, "drew an outcome of probability 0"
        np.testing.assert_array_equal(drawn["state"], core.flat.next_state[drawn["slot"]])
        np.testing.assert_array_equal(drawn["code"] - drawn_tone, core.slot_code[drawn["slot"]])
        live = prob > 0
        expected = prob[live] * n
        assert (expected >= 5).sum() >= 4
        big = expected >= 5
        observed = np.append(counts[live][big], counts[live][~big].sum())
        expected = np.append(expected[big], expected[~big].sum())
        if expected[-1] == 0:
            observed, expected = observed[:-1], expected[:-1]
        assert chisquare(observed, expected).pvalue > 1e-3


@pytest.mark.parametrize("name", sorted(CORES))
def test_alias_tables_hold_the_probabilities_of_every_row(name):
    """Column by column, the tables give each (slot, tone) its probability within rounding, and none to zeros."""
    core = CORES[name]
    joint, t, flat = core.joint, core.tables, core.flat
    n_columns = joint.threshold.size
    column_row = np.arange(n_columns)  # outcome c is column c's own outcome
    own = joint.slot[:, 0].astype(np.int64) * N_TONES + joint.tone[:, 0]
    by_key = dict(zip(own.tolist(), range(n_columns), strict=True))
    alias = np.array([by_key[k] for k in (joint.slot[:, 1].astype(np.int64) * N_TONES + joint.tone[:, 1]).tolist()])
    # each column's width: the width of the row that owns it
    firsts, widths = np.unique(np.c_[joint.first, joint.width], axis=0).T
    width = np.repeat(widths, widths.astype(int))
    assert np.array_equal(np.repeat(firsts, widths.astype(int)) + _ranks(widths.astype(int)), column_row)
    implied = np.bincount(np.arange(n_columns), joint.threshold / width, n_columns)
    implied += np.bincount(alias, (1.0 - joint.threshold) / width, n_columns)
    np.testing.assert_allclose(implied, joint.prob, rtol=1e-9, atol=1e-12)
    # every outcome is possible: its slot's probability and its tone's are positive
    slot, tone = joint.slot[:, 0], joint.tone[:, 0]
    source = flat.source[slot]
    slot_prob = np.where(source >= 0, t.next_prob.ravel()[np.maximum(source, 0)], t.initial[flat.next_state[slot]])
    assert (slot_prob > 0).all() and (t.tone_prob[flat.next_state[slot], tone] > 0).all()
    assert ((joint.threshold > 0) & (joint.threshold <= 1)).all()


def _ranks(widths: np.ndarray) -> np.ndarray:
    """0, 1, ..., w - 1 for each width, concatenated."""
    return np.arange(widths.sum()) - np.repeat(np.cumsum(widths) - widths, widths)


@pytest.mark.parametrize("u", [(0.0, 0.0), (0.0, 0.999999), (np.nextafter(1.0, 0.0), np.nextafter(1.0, 0.0))])
def test_alias_draw_at_the_edges_stays_in_the_row_and_off_zeros(u):
    """Every (state, move) row and the start row, at the extreme uniforms: a possible successor and tone, in the row."""
    core = CORES["mixture"]
    t, flat = core.tables, core.flat
    rows = np.arange(core.joint.width.size)
    drawn = core.draw(rows, np.array(u, dtype=np.float64)[:, None].repeat(rows.size, 1))
    source = flat.source[drawn["slot"]]
    state, move = np.divmod(rows, N_MOVES + 1)
    restart = move == N_MOVES
    expected_source = (state * N_MOVES + np.minimum(move, N_MOVES - 1)) * t.next_prob.shape[-1]
    assert (source[restart] == -1).all()
    in_row = (source[~restart] >= expected_source[~restart]) & (
        source[~restart] < expected_source[~restart] + t.next_prob.shape[-1]
    )
    assert in_row.all()
    assert (t.next_prob.ravel()[source[~restart]] > 0).all()
    assert (t.initial[drawn["state"][restart]] > 0).all()
    assert (t.tone_prob[drawn["state"], drawn["code"] % N_TONES] > 0).all()


# ------------------------------------------------------------------ codes
def test_observation_code_is_the_one_code():
    tone, reaction, solved = np.meshgrid(np.arange(N_TONES), np.arange(N_REACTIONS), np.arange(2), indexing="ij")
    code = observation_code(tone, reaction, solved)
    assert sorted(code.ravel().tolist()) == list(range(N_OBSERVATION_CODES))
    back = split_observation_code(code)
    for a, b in zip(back, (tone, reaction, solved), strict=True):
        np.testing.assert_array_equal(a, b)
    # and the observation lookup reads it: head[code] is the encoded (tone, reaction, solved)
    lookup = CORES["mixture"].lookup
    no_counts = np.zeros((code.size, N_MOVES), dtype=np.int64)
    encoded = layout.encode(tone.ravel(), reaction.ravel(), solved.ravel(), 0, 16, -1, no_counts)
    np.testing.assert_array_equal(lookup.head[code.ravel()], encoded[:, : layout.TURN])


def test_history_codes_count_the_moves():
    core = CORES["mixture"]
    rng = np.random.default_rng(2)
    history, counts, last = START_HISTORY, np.zeros(N_MOVES, dtype=np.int64), -1
    for move in rng.integers(0, N_MOVES, 40).tolist():
        history = int(core.lookup.next_history[history * (N_MOVES + 1) + move])
        counts[move] += 1
        last = move
        np.testing.assert_array_equal(history_counts(history), np.minimum(counts, layout.COUNT_CAP))
        assert history_last_move(history) == last
    assert 0 <= history < N_HISTORIES
    assert int(core.lookup.next_history[history * (N_MOVES + 1) + N_MOVES]) == START_HISTORY


@pytest.mark.parametrize("persona", ["mixture", "belligerent", "reasonable"])
def test_opening_distribution_is_the_first_observation_and_state(persona):
    t = compile_model(persona)
    opening = opening_distribution(t)
    assert opening.prob.sum() == pytest.approx(1.0)
    assert (opening.prob > 0).all()
    tone, reaction, solved = split_observation_code(opening.code)
    np.testing.assert_array_equal(reaction, t.opening_reaction[opening.state])
    np.testing.assert_array_equal(solved, t.factor("solved")[opening.state])
    np.testing.assert_allclose(opening.prob, t.initial[opening.state] * t.tone_prob[opening.state, tone])
    # the same distribution, empirically, from the core's reset
    core = conversation_core(t, 16)
    conv = core.reset(uniforms(np.random.default_rng(0), 40_000))
    pairs, counts = np.unique(conv.code * t.n_states + conv.state, return_counts=True)
    expected = dict(zip((opening.code * t.n_states + opening.state).tolist(), opening.prob.tolist(), strict=True))
    assert set(pairs.tolist()) <= set(expected)
    for pair, count in zip(pairs.tolist(), counts.tolist(), strict=True):
        p = expected[pair]
        assert abs(count / 40_000 - p) <= 5 * np.sqrt(p * (1 - p) / 40_000) + 1e-4


@pytest.mark.parametrize("persona", ["mixture", "belligerent"])
def test_factor_sizes_come_from_the_vocabulary_and_cover_the_tables(persona):
    t = compile_model(persona)
    assert tuple(layout.FACTOR_SIZES) == FACTORS
    for column, (name, size) in enumerate(layout.FACTOR_SIZES.items()):
        limit = len(t.persona_names) if size is None else size
        assert int(t.factors[:, column].max()) < limit, name
    core = conversation_core(t, 16)
    np.testing.assert_array_equal(
        core.hidden_observation(np.arange(t.n_states)), layout.hidden_one_hot(t.factors, len(t.persona_names))
    )


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("moves", "message"),
    [
        (np.array([0, 6]), "action 6 is outside"),
        (np.array([-1, 0]), "action -1 is outside"),
        (np.array([0.0, 1.0]), "dtype float64"),
        (np.array([0, 1, 2]), r"shape \(3,\)"),
    ],
)
def test_bad_moves_raise_value_error_naming_them(moves, message):
    core = CORES["mixture"]
    conv = core.reset(uniforms(np.random.default_rng(0), 2))
    with pytest.raises(ValueError, match=message):
        core.step(conv, moves, uniforms(np.random.default_rng(1), 2))
    with pytest.raises(ValueError, match=message):
        check_moves(moves, 2)


def test_bad_scalar_move_and_uniforms_raise_value_error():
    core = CORES["mixture"]
    with pytest.raises(ValueError, match="action 6 is outside"):
        core.step_one(core.reset_one(0.5, 0.5), 6, 0.5, 0.5)
    with pytest.raises(ValueError, match=r"uniforms of shape \(3, 2\)"):
        core.reset(np.zeros((3, 2)))
    conv = core.reset(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"uniforms of shape \(2, 3\); allowed: \(2, 4\)"):
        core.step(conv, np.zeros(4, dtype=int), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="max_turns=0"):
        conversation_core(compile_model("mixture"), 0)
