"""Exact values of memoryless policies, and the search for the best one.

Exact values are checked four ways: against the existing exact evaluation
(``propagate``, an independent implementation), against conversations played in the
real environment (``gym.make``) and through the conversation core (``envs.rollout``),
at z = 3.29 (a 99.9% interval), and for the search, against a fresh evaluation of the
table it returns and, on short horizons, against the observation-only optimum (a belief
lookahead as deep as the conversation, valued exactly). Table keys are the core's codes:
the vectors built from them are the core's.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies)
import difficult_customer.envs  # noqa: F401  (registers DifficultCustomer-v0)
from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact import BeliefPolicy, exact_value, propagate
from difficult_customer.agents.exact.bracket import certified_bracket
from difficult_customer.agents.exact.memoryless_search import TooLarge, improve, local_search, search_memoryless
from difficult_customer.agents.exact.memoryless_value import memoryless_value, reached_table_keys
from difficult_customer.agents.exact.table_keys import (
    N_TABLE_KEYS,
    observation_vectors,
    read_table_keys,
    split_table_key,
    table_key,
)
from difficult_customer.agents.exact.table_policies import TABLE_FORMAT, RandomTablePolicy, SequencePolicy, TablePolicy
from difficult_customer.envs.core import START_HISTORY, conversation_core
from difficult_customer.envs.observation import encode
from difficult_customer.envs.rollout import rollout
from difficult_customer.experiments.commands.memoryless import Config, main

Z = 3.29


def observation_only_optimum(context: PolicyContext) -> float:
    """The best observation-only policy's value, for short horizons: a belief lookahead as deep as the
    conversation (QMDP leaves are exact with one move left), valued exactly by enumerating histories."""
    value = exact_value(BeliefPolicy(context, context.max_turns - 1), context)
    assert value is not None
    return value


def env_mean(policy, context: PolicyContext, episodes: int, seed: int) -> tuple[float, float]:
    """Mean return and its standard error over conversations in the registered environment."""
    env = gym.make("DifficultCustomer-v0", **context.env_kwargs())
    returns = np.zeros(episodes)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            move, _ = policy.predict(obs[None], None, None, True)
            obs, reward, terminated, truncated, _ = env.step(int(np.asarray(move).reshape(-1)[0]))
            returns[i] += float(reward)
            done = terminated or truncated
    env.close()
    return float(returns.mean()), float(returns.std(ddof=1) / math.sqrt(episodes))


@pytest.mark.parametrize("name", ["guide_000", "guide_004", "best_fixed_sequence", "solution_first"])
def test_exact_value_equals_the_existing_exact_evaluation(name):
    context = PolicyContext.create(persona="mixture")
    policy = agents.make(name, context)
    ours = memoryless_value(policy, context)
    theirs = propagate(policy, context)
    assert ours.value == pytest.approx(theirs.value, abs=1e-12)
    assert ours.max_support == theirs.max_support
    for persona, value in theirs.value_by_persona.items():
        assert ours.value_by_persona[persona] == pytest.approx(value, abs=1e-12)


def test_random_table_equals_the_existing_exact_evaluation():
    context = PolicyContext.create(persona="naturally_difficult", max_turns=8)
    policy = RandomTablePolicy(8, seed=5)
    assert memoryless_value(policy, context).value == pytest.approx(propagate(policy, context).value, abs=1e-12)


@pytest.mark.parametrize(
    ("make", "max_turns", "seed"),
    [(lambda c: agents.make("tone_reader", c), 16, 100), (lambda c: RandomTablePolicy(c.max_turns, seed=7), 6, 200)],
    ids=["tone_reader", "random_table"],
)
def test_exact_value_agrees_with_the_environment(make, max_turns, seed):
    context = PolicyContext.create(persona="mixture", max_turns=max_turns)
    policy = make(context)
    exact = memoryless_value(policy, context).value
    mean, stderr = env_mean(policy, context, 1500, seed)
    assert stderr > 0
    assert abs(mean - exact) <= Z * stderr, (mean, stderr, exact)


def test_codes_round_trip_through_observation_vectors():
    rng = np.random.default_rng(0)
    policy = RandomTablePolicy(16, seed=1)
    context = PolicyContext.create(persona="mixture")
    tone_reader = agents.make("tone_reader", context)
    # Codes of observations that really occur: those the exact evaluation queries.
    seen: list[tuple[int, np.ndarray]] = []

    class Recorder:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            turn, codes = read_table_keys(obs, 16)
            seen.append((int(turn[0]), codes))
            return tone_reader.predict(obs, state, episode_start, deterministic)

    memoryless_value(Recorder(), context)
    assert len(seen) >= 10
    for turn, codes in seen:
        assert np.all((codes >= 0) & (codes < N_TABLE_KEYS))
        back_turn, back = read_table_keys(observation_vectors(turn, codes, 16), 16)
        assert np.array_equal(back, codes) and np.all(back_turn == turn)
    turn, codes = seen[int(rng.integers(len(seen)))]
    table = TablePolicy(16, {turn: (codes, policy.moves(turn, codes))}, fallback=3)
    moves, _ = table.predict(observation_vectors(turn, codes, 16))
    assert np.array_equal(moves, policy.moves(turn, codes))
    unknown, _ = table.predict(observation_vectors(turn + 1, codes, 16))
    assert np.all(unknown == 3)


def test_reached_table_keys_carry_the_expected_number_of_turns():
    context = PolicyContext.create(persona="mixture", max_turns=6)
    policy = agents.make("guide_000", context)
    turns, codes, mass = reached_table_keys(policy, context)
    assert mass[turns == 0].sum() == pytest.approx(1.0)
    assert np.all(np.diff(turns) >= 0) and np.all(mass > 0)
    assert memoryless_value(policy, context).observations == codes.shape[0]
    # The chance a conversation is still going shrinks turn by turn.
    alive = np.bincount(turns, mass)
    assert np.all(np.diff(alive) <= 1e-12)


def test_a_saved_table_plays_the_same(tmp_path):
    context = PolicyContext.create(persona="belligerent", max_turns=6)
    result = search_memoryless(context, ("guide_000",), random_starts=0)
    path = str(tmp_path / "table.npz")
    result.policy.save(path)
    loaded = TablePolicy.load(path, fallback=result.policy.fallback)
    assert loaded.size == result.policy.size
    assert memoryless_value(loaded, context).value == pytest.approx(result.value, abs=1e-12)


def test_improvement_sweep_is_exact_and_never_lowers_the_value():
    context = PolicyContext.create(persona="mixture", max_turns=6)
    table = TablePolicy(6, fallback=agents.make("tone_reader", context))
    start = memoryless_value(table, context).value
    before, after, changed = improve(table, context)
    assert before == pytest.approx(start, abs=1e-12)
    assert changed > 0 and after > before
    assert memoryless_value(table, context).value == pytest.approx(after, abs=1e-12)


def test_search_returns_the_exact_value_of_its_table_within_the_bounds():
    context = PolicyContext.create(persona="mixture", max_turns=4)
    result = search_memoryless(context, ("tone_reader", "guide_000"), random_starts=1, kicks=1, seed=3)
    assert result.value == pytest.approx(memoryless_value(result.policy, context).value, abs=1e-12)
    assert result.value == pytest.approx(max(run.values[-1] for run in result.runs), abs=1e-12)
    for run in result.runs:
        assert all(b >= a - 1e-12 for a, b in zip(run.values, run.values[1:], strict=False)), run
    for name in ("tone_reader", "guide_000"):
        policy = agents.make(name, context)
        assert result.value >= memoryless_value(policy, context).value - 1e-12
    # Memoryless policies are observation-history policies: below the exact optimum of those.
    assert result.value <= observation_only_optimum(context) + 1e-12
    assert result.value <= certified_bracket(context, points=8, depth=1).upper + 1e-12


def test_search_is_reproducible_with_a_seed():
    context = PolicyContext.create(persona="belligerent", max_turns=5)
    runs = [search_memoryless(context, (), random_starts=2, kicks=2, seed=11) for _ in range(2)]
    assert runs[0].value == runs[1].value
    assert [r.values for r in runs[0].runs] == [r.values for r in runs[1].runs]
    other = search_memoryless(context, (), random_starts=2, kicks=0, seed=12)
    assert [r.start for r in other.runs] == ["random_sequence_12", "random_sequence_13"]


def test_local_search_stops_at_a_local_optimum():
    context = PolicyContext.create(persona="genuine_grievance", max_turns=5)
    table = TablePolicy(5, fallback=0)
    values, changed, stopped = local_search(table, context, max_sweeps=50)
    assert stopped == ""
    assert changed[-1] == 0 or values[-1] - values[-2] <= 1e-9
    _, after, n = improve(table, context)
    assert after <= values[-1] + 1e-9


def test_a_sweep_too_large_stops_the_run_and_keeps_its_value():
    context = PolicyContext.create(persona="mixture", max_turns=5)
    table = TablePolicy(5, fallback=agents.make("tone_reader", context))
    with pytest.raises(TooLarge, match="max_children=100"):
        improve(table, context, max_children=100)
    values, changed, stopped = local_search(table, context, max_children=100)
    assert "max_children=100" in stopped and changed == []
    assert values == [pytest.approx(memoryless_value(agents.make("tone_reader", context), context).value)]
    result = search_memoryless(context, ("tone_reader",), random_starts=0, max_children=100)
    assert result.runs[0].stopped and result.value == pytest.approx(values[0])


def test_a_sequence_policy_is_valued_like_the_best_fixed_sequence():
    context = PolicyContext.create(persona="mixture")
    fixed = agents.make("best_fixed_sequence", context)
    sequence = SequencePolicy([int(m) for m in fixed.plan.moves])
    assert memoryless_value(sequence, context).value == pytest.approx(memoryless_value(fixed, context).value, abs=1e-12)
    drawn = [SequencePolicy.random(16, seed) for seed in (1, 1, 2)]
    assert np.array_equal(drawn[0].sequence, drawn[1].sequence)
    assert not np.array_equal(drawn[0].sequence, drawn[2].sequence)


def test_bad_input_is_named():
    context = PolicyContext.create(persona="reasonable", max_turns=3)
    with pytest.raises(ValueError, match="fallback=9"):
        TablePolicy(3, fallback=9)
    with pytest.raises(ValueError, match="fallback='listen'"):
        TablePolicy(3, fallback="listen")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_turns=0"):
        TablePolicy(0)
    table = TablePolicy(3)
    with pytest.raises(ValueError, match="2 keys but 1 moves"):
        table.set(0, np.array([1, 2]), np.array([0]))
    with pytest.raises(ValueError, match="allowed: 0-5"):
        table.set(0, np.array([1]), np.array([6]))
    with pytest.raises(ValueError, match="seed=-1"):
        RandomTablePolicy(3, seed=-1)
    with pytest.raises(ValueError, match="moves=\\[7\\]"):
        SequencePolicy([7])
    with pytest.raises(ValueError, match="observation='full'"):
        memoryless_value(table, PolicyContext.create(persona="reasonable", max_turns=3, observation="full"))
    with pytest.raises(ValueError, match="kicks=-1"):
        search_memoryless(context, kicks=-1)
    with pytest.raises(ValueError, match="kick_size=0"):
        search_memoryless(context, kick_size=0)
    with pytest.raises(ValueError, match="start 'nobody'"):
        search_memoryless(context, ("nobody",))

    class Broken:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            return np.full(len(obs), 7), state

    with pytest.raises(ValueError, match="invalid moves"):
        memoryless_value(Broken(), context)


@pytest.mark.parametrize(("persona", "max_turns"), [("mixture", 2), ("naturally_difficult", 3)])
def test_on_short_horizons_the_search_stays_below_the_observation_only_optimum(persona, max_turns):
    context = PolicyContext.create(persona=persona, max_turns=max_turns)
    optimum = observation_only_optimum(context)
    found = search_memoryless(context, ("tone_reader",), random_starts=1, seed=0)
    assert memoryless_value(found.policy, context).value == pytest.approx(found.value, abs=1e-12)
    assert found.value <= optimum + 1e-12
    assert found.value >= memoryless_value(agents.make("tone_reader", context), context).value - 1e-12
    for name in ("guide_000", "solution_first", "best_fixed_sequence"):
        assert memoryless_value(agents.make(name, context), context).value <= optimum + 1e-12, name
    # the optimum is also what full-depth expectimax certifies
    assert certified_bracket(context, points=4, depth=max_turns - 1).upper == pytest.approx(optimum, abs=1e-10)


def test_the_command_prints_the_search_next_to_the_bracket(capsys, tmp_path):
    path = str(tmp_path / "best.npz")
    config = Config(persona="belligerent", max_turns=3, starts=["tone_reader"], random_starts=1, save=path)
    assert main(config) == 0
    out = capsys.readouterr().out
    assert "| tone_reader |" in out and "| random_sequence_0 |" in out
    assert "memoryless optimum in [" in out
    loaded = TablePolicy.load(path)
    context = PolicyContext.create(persona="belligerent", max_turns=3)
    best = float(out.split("best memoryless policy found: ")[1].split(" raw")[0])
    assert memoryless_value(loaded, context).value == pytest.approx(best, abs=5e-5)


def test_the_command_names_bad_settings(capsys):
    from difficult_customer.experiments.cli import main as cli

    assert main(Config(persona="nobody", max_turns=3)) == 2
    assert "unknown persona 'nobody'" in capsys.readouterr().err
    assert main(Config(persona="reasonable", max_turns=3, starts=["nobody"], random_starts=0)) == 2
    assert "start 'nobody'" in capsys.readouterr().err
    assert cli(["memoryless", "--persona", "reasonable", "--max-turns", "2", "--starts", "tone_reader"]) == 0
    assert "| tone_reader |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("make", "persona", "max_turns"),
    [
        (lambda c: agents.make("guide_000", c), "mixture", 16),
        (lambda c: RandomTablePolicy(c.max_turns, seed=4), "belligerent", 8),
    ],
    ids=["guide_000", "random_table"],
)
def test_exact_value_agrees_with_the_core_rollout(make, persona, max_turns):
    context = PolicyContext.create(persona=persona, max_turns=max_turns)
    policy = make(context)
    exact = memoryless_value(policy, context).value
    played = rollout(policy, context.tables, episodes=4000, seed=17, max_turns=max_turns)
    mean = float(played.returns.mean())
    stderr = float(played.returns.std(ddof=1) / math.sqrt(played.n))
    assert stderr > 0
    assert abs(mean - exact) <= Z * stderr, (mean, stderr, exact)
    # Every observation a conversation showed is one the exact enumeration reached.
    turns, keys, _ = reached_table_keys(policy, context)
    reached = set(zip(turns.tolist(), keys.tolist(), strict=True))
    rows, cols = np.nonzero(np.arange(max_turns)[None, :] < played.turns[:, None])
    shown = table_key(played.codes[rows, cols], played.histories[rows, cols])
    assert set(zip(cols.tolist(), shown.tolist(), strict=True)) <= reached


def test_observation_vectors_are_the_cores():
    context = PolicyContext.create(persona="mixture", max_turns=6)
    core = conversation_core(context.tables, 6)
    turns, keys, _ = reached_table_keys(agents.make("tone_reader", context), context)
    for turn in np.unique(turns):
        mine = keys[turns == turn]
        code, history = split_table_key(mine)
        expected = core.observe_codes(code, np.full(code.shape, turn), history)
        np.testing.assert_array_equal(observation_vectors(int(turn), mine, 6), expected)
        back_turn, back = read_table_keys(expected, 6)
        assert np.all(back_turn == turn) and np.array_equal(back, mine)
    assert np.all(split_table_key(keys[turns == 0])[1] == START_HISTORY)


def test_a_table_of_another_format_is_refused(tmp_path):
    zeros = np.zeros(0, np.int64)
    old = tmp_path / "old.npz"  # format 1 had no format entry and one "code" array
    np.savez(old, max_turns=np.int64(3), turn=zeros, code=zeros, move=zeros)
    with pytest.raises(ValueError, match="table format 1; this version reads format 2 only"):
        TablePolicy.load(str(old))


def test_a_table_of_a_newer_format_is_refused(tmp_path):
    path = tmp_path / "future.npz"
    zeros = np.zeros(0, np.int64)
    np.savez(path, format=np.int64(TABLE_FORMAT + 1), max_turns=np.int64(3), turn=zeros, move=zeros)
    with pytest.raises(ValueError, match=f"table format {TABLE_FORMAT + 1}"):
        TablePolicy.load(str(path))


RECORDED_RANDOM_MOVES = [2, 5, 2, 0]


def test_a_random_table_keeps_the_moves_of_its_seed():
    # Moves of RandomTablePolicy(16, seed=5) recorded before the module moved onto the core's codes.
    policy = RandomTablePolicy(16, seed=5)
    obs = encode(
        np.array([0, 1, 3, 2]),
        np.array([0, 4, 7, 11]),
        np.array([0, 0, 1, 0]),
        np.array([0, 2, 5, 15]),
        16,
        np.array([-1, 2, 0, 5]),
        np.array([[0, 0, 0, 0, 0, 0], [1, 0, 1, 0, 0, 0], [3, 0, 0, 2, 0, 0], [3, 3, 3, 3, 3, 3]]),
    )
    assert policy.predict(obs)[0].tolist() == RECORDED_RANDOM_MOVES
