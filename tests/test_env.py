"""The single environment: API checkers, seeding, info keys, observations, rendering, ends."""

from __future__ import annotations

import copy
import pickle
import re
import warnings
from collections import Counter

import gymnasium as gym
import numpy as np
import pytest
from conftest import run_episode
from gymnasium.utils.env_checker import check_env as gym_check_env
from scipy.stats import chisquare
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from difficult_customer import envs
from difficult_customer.customer_models import (
    FACTORS,
    PERSONA_NAMES,
    REWARD_TERMS,
    Move,
    Outcome,
    Reaction,
    Rewards,
    Tone,
    compile_model,
)
from difficult_customer.envs import ENV_ID, CustomerEnv
from difficult_customer.envs import observation as layout
from difficult_customer.envs.core import START_HISTORY, conversation_core

MODES = ("partial", "full")
CYCLE = [Move.listen, Move.empathize, Move.apologize, Move.offer_options, Move.set_boundary, Move.follow_up]


def make(persona="mixture", **kwargs):
    return gym.make(ENV_ID, persona=persona, **kwargs)


def random_policy(seed):
    rng = np.random.default_rng(seed)
    return lambda obs: int(rng.integers(len(Move)))


def cycle_policy():
    moves = iter(CYCLE * 10)
    return lambda obs: int(next(moves))


# ----------------------------------------------------------------- checkers
@pytest.mark.parametrize("render_mode", [None, "ansi"])
@pytest.mark.parametrize("observation", MODES)
@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_gymnasium_check_env(persona, observation, render_mode):
    env = make(persona, observation=observation, render_mode=render_mode).unwrapped  # keeps the spec
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gym_check_env(env)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("render_mode", [None, "ansi"])
@pytest.mark.parametrize("observation", MODES)
@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_sb3_check_env(persona, observation, render_mode):
    env = CustomerEnv(persona, observation=observation, render_mode=render_mode)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sb3_check_env(env, warn=True, skip_render_check=render_mode is None)
    assert [str(w.message) for w in caught] == []


def test_gym_make_after_import_envs():
    assert ENV_ID in gym.registry
    assert gym.registry[ENV_ID].entry_point == "difficult_customer.envs.customer_env:CustomerEnv"
    env = gym.make(ENV_ID)
    assert isinstance(env.unwrapped, CustomerEnv)
    assert env.unwrapped.tables.mixture.name == "mixture"
    assert env.action_space == gym.spaces.Discrete(6)
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    env.step(Move.listen)
    custom = gym.make(ENV_ID, persona="belligerent", ablate=["C4"], max_turns=5, render_mode="ansi")
    assert custom.unwrapped.tables.persona_names == ("belligerent",)
    assert custom.unwrapped.tables.ablate == frozenset({"C4"})
    assert custom.unwrapped.max_turns == 5
    custom.reset(seed=0)
    assert isinstance(custom.render(), str)
    assert CustomerEnv().max_turns == envs.DEFAULT_MAX_TURNS


# ------------------------------------------------------------------ seeding
def assert_same_steps(a, b):
    assert len(a) == len(b)
    for (obs_a, *rest_a), (obs_b, *rest_b) in zip(a, b, strict=True):
        np.testing.assert_array_equal(obs_a, obs_b)
        assert rest_a == rest_b


@pytest.mark.parametrize("persona", ["mixture", "belligerent"])
def test_same_seed_same_conversations(persona):
    for seed in range(8):
        one, two = CustomerEnv(persona, observation="full"), CustomerEnv(persona, observation="full")
        assert_same_steps(run_episode(one, cycle_policy(), seed=seed), run_episode(two, cycle_policy(), seed=seed))
        a = run_episode(one, random_policy(seed), seed=seed)
        b = run_episode(two, random_policy(seed), seed=seed)
        assert_same_steps(a, b)
        # Later resets without a seed continue the same stream.
        assert_same_steps(run_episode(one, random_policy(99)), run_episode(two, random_policy(99)))


def test_same_seed_same_transcript():
    one, two = CustomerEnv(render_mode="ansi"), CustomerEnv(render_mode="ansi")
    run_episode(one, random_policy(3), seed=3)
    run_episode(two, random_policy(3), seed=3)
    assert one.render() == two.render()


def conversations(env, seed, n=10):
    """``n`` conversations after one seeded reset, as comparable tuples."""
    out = []
    for i in range(n):
        steps = run_episode(env, random_policy(i), seed=seed if i == 0 else None)
        out.append([(obs.tobytes(), reward, info["state_index"]) for obs, reward, _, _, info in steps])
    return out


def test_different_seeds_different_conversations():
    env = CustomerEnv()
    runs = [conversations(env, seed) for seed in range(4)]
    for i in range(len(runs)):
        for j in range(i):
            assert runs[i] != runs[j]


def test_partial_and_full_observation_tell_the_same_conversation():
    partial, full = CustomerEnv(), CustomerEnv(observation="full")
    a = run_episode(partial, random_policy(5), seed=5)
    b = run_episode(full, random_policy(5), seed=5)
    assert len(a) == len(b)
    for (obs_a, *_), (obs_b, *_, info) in zip(a, b, strict=True):
        np.testing.assert_array_equal(obs_b[: layout.PARTIAL_SIZE], obs_a)
        hidden = layout.hidden_one_hot(full.tables.factors[info["state_index"]], full.n_personas)
        np.testing.assert_array_equal(obs_b[layout.PARTIAL_SIZE :], hidden)


# --------------------------------------------------------------------- info
def documented_info_keys() -> set[str]:
    doc = CustomerEnv.__doc__
    section = doc[doc.index("## Information") : doc.index("## Arguments")]
    return set(re.findall(r'``"(\w+)"``', section))


def test_documented_info_keys_are_returned():
    documented = documented_info_keys()
    assert {"hidden_state", "state_index", "turn", "reward_terms", "outcome"} <= documented
    env = CustomerEnv()
    seen = set()
    for seed in range(5):
        steps = run_episode(env, random_policy(seed), seed=seed)
        keys = set(steps[0][4])
        assert {"hidden_state", "state_index", "turn", "outcome", "return"} <= keys
        for _, _, _, _, info in steps[1:]:
            assert set(info) == keys  # the same keys at every step, reset's included (replay buffers need it)
            seen |= set(info)
        assert steps[-1][4]["outcome"] != "ongoing"
        assert all(info["outcome"] == "ongoing" for *_, info in steps[:-1])
    assert documented <= seen, f"documented but never returned: {documented - seen}"


def test_every_returned_info_key_is_documented():
    env = CustomerEnv()
    seen = set()
    for seed in range(5):
        for *_, info in run_episode(env, random_policy(seed), seed=seed):
            seen |= set(info)
    assert seen <= documented_info_keys(), f"returned but not documented: {seen - documented_info_keys()}"


def test_info_values_describe_the_hidden_state():
    env = CustomerEnv()
    t = env.tables
    weights = Rewards().vector()
    for seed in range(10):
        steps = run_episode(env, random_policy(seed), seed=seed)
        for turn, (_, reward, terminated, truncated, info) in enumerate(steps):
            hidden = info["hidden_state"]
            assert list(hidden) == list(FACTORS)
            assert hidden == t.hidden_state(info["state_index"])
            assert hidden["persona"] in t.persona_names
            assert hidden["status"] in [o.name for o in Outcome]
            assert 0 <= hidden["anger"] <= 4 and 0 <= hidden["trust"] <= 3
            assert info["turn"] == turn
            assert info["tone"] in [tone.name for tone in Tone]
            if turn == 0:
                continue
            assert info["reaction"] in [r.name for r in Reaction]
            terms = info["reward_terms"]
            assert list(terms) == list(REWARD_TERMS)
            assert reward == pytest.approx(np.dot([terms[n] for n in REWARD_TERMS], weights))
            assert terminated == (hidden["status"] != "ongoing")
            if terminated:
                assert info["outcome"] == hidden["status"]
            elif truncated:
                assert info["outcome"] == "timed_out"


def test_reward_weights_by_name():
    weights = Rewards(turn=-1.0, solved=0.0)
    cheap = CustomerEnv("genuine_grievance", rewards={"turn": -1.0, "solved": 0.0})
    default = CustomerEnv("genuine_grievance")
    assert cheap.tables.rewards == weights
    for seed in range(5):
        a = run_episode(cheap, random_policy(seed), seed=seed)
        b = run_episode(default, random_policy(seed), seed=seed)
        for (_, reward, *_, info), (_, default_reward, *_, default_info) in zip(a[1:], b[1:], strict=True):
            terms = info["reward_terms"]
            assert terms == default_info["reward_terms"]
            assert terms["turn"] == 1.0
            assert reward == pytest.approx(sum(getattr(weights, n) * terms[n] for n in REWARD_TERMS))
            assert reward - default_reward == pytest.approx(
                (weights.turn - Rewards().turn) - Rewards().solved * terms["solved"]
            )


# -------------------------------------------------------------- observation
def visible_replay(steps, actions, max_turns):
    """Rebuild each partial observation from what a person at the desk sees."""
    counts = np.zeros(len(Move), dtype=np.int64)
    solved = 0
    last = -1
    expected = []
    for turn, (_, _, _, _, info) in enumerate(steps):
        if turn:
            last = actions[turn - 1]
            counts[last] += 1
        reaction = Reaction[info["reaction"]] if "reaction" in info else None
        if turn == 0:
            reaction = Reaction(layout.decode(steps[0][0]).reaction)
            assert reaction in (Reaction.complains, Reaction.insults)
        solved = solved or reaction == Reaction.accepts_offer
        expected.append(layout.encode(Tone[info["tone"]], reaction, solved, turn, max_turns, last, counts))
    return expected


@pytest.mark.parametrize("persona", PERSONA_NAMES)
def test_partial_observation_is_a_function_of_the_visible_history(persona):
    env = CustomerEnv(persona, max_turns=10)
    for seed in range(10):
        actions = [int(a) for a in np.random.default_rng(seed).integers(len(Move), size=10)]
        steps = run_episode(env, actions, seed=seed)
        observations = [obs for obs, *_ in steps]
        assert all(obs.shape == (layout.PARTIAL_SIZE,) and obs.dtype == np.float32 for obs in observations)
        assert all(env.observation_space.contains(obs) for obs in observations)
        for got, want in zip(observations, visible_replay(steps, actions, 10), strict=True):
            np.testing.assert_array_equal(got, want)


def test_decode_round_trips_tone_reaction_and_counts():
    env = CustomerEnv(max_turns=12)
    for seed in range(10):
        actions = [int(a) for a in np.random.default_rng(seed).integers(len(Move), size=12)]
        steps = run_episode(env, actions, seed=seed)
        for turn, (obs, _, _, _, info) in enumerate(steps):
            seen = layout.decode(obs)
            assert Tone(int(seen.tone)).name == info["tone"]
            assert Reaction(int(seen.reaction)).name == info["reaction"]
            assert seen.turn_fraction == pytest.approx(turn / 12)
            assert layout.turn_of(obs, 12) == turn
            assert int(seen.last_move) == (actions[turn - 1] if turn else -1)
            counts = np.bincount(actions[:turn], minlength=len(Move))
            np.testing.assert_array_equal(seen.counts, np.minimum(counts, layout.COUNT_CAP))
            assert bool(seen.solved) == bool(info["hidden_state"]["solved"])


def test_mixture_draws_every_persona_and_hides_it():
    env = CustomerEnv("mixture")
    personas = Counter()
    by_obs: dict[bytes, set[str]] = {}
    n = 900
    for seed in range(n):
        obs, info = env.reset(seed=seed)
        name = info["hidden_state"]["persona"]
        personas[name] += 1
        by_obs.setdefault(obs.tobytes(), set()).add(name)
    mixture = env.tables.mixture
    assert set(personas) == set(mixture.persona_names)
    observed = [personas[name] for name in mixture.persona_names]
    assert chisquare(observed, np.asarray(mixture.weights) * n).pvalue > 1e-3
    # The same first observation is shown by customers of different personas (the
    # belligerent one shows itself only by its insults, which the agent does see).
    assert any({"genuine_grievance", "naturally_difficult"} <= names for names in by_obs.values())


def test_opening_reactions():
    for seed in range(20):
        obs, info = CustomerEnv("belligerent").reset(seed=seed)
        assert Reaction(int(layout.decode(obs).reaction)) == Reaction.insults
        assert info["reaction"] == "insults"
        obs, info = CustomerEnv("genuine_grievance").reset(seed=seed)
        assert Reaction(int(layout.decode(obs).reaction)) == Reaction.complains


# --------------------------------------------------------------------- ends
@pytest.mark.parametrize("max_turns", [1, 7, 16, 100])
def test_turn_of_reads_the_turn_of_one_observation_or_a_batch(max_turns):
    core = conversation_core(compile_model("mixture"), max_turns)
    turns = np.arange(max_turns + 1)
    n = turns.size
    obs = core.observe_codes(np.zeros(n, np.intp), turns, np.full(n, START_HISTORY))
    np.testing.assert_array_equal(layout.turn_of(obs, max_turns), turns)
    assert layout.turn_of(obs[-1], max_turns) == max_turns and isinstance(layout.turn_of(obs[0], max_turns), int)
    full = core.observe_codes(np.zeros(n, np.intp), turns, np.full(n, START_HISTORY), np.zeros(n, np.intp))
    np.testing.assert_array_equal(layout.turn_of(full.reshape(1, n, -1), max_turns), turns[None])
    with pytest.raises(ValueError, match="at least"):
        layout.turn_of(obs[:, :5], max_turns)


def test_truncation_at_max_turns_is_timed_out():
    env = CustomerEnv("genuine_grievance", ablate=["C10"], max_turns=5)
    steps = run_episode(env, [Move.follow_up] * 10, seed=0)
    assert len(steps) == 6
    _, _, terminated, truncated, info = steps[-1]
    assert truncated and not terminated
    assert info["outcome"] == Outcome.timed_out.name
    assert info["hidden_state"]["status"] == "ongoing"
    assert layout.decode(steps[-1][0]).turn_fraction == 1.0
    assert not any(t or u for _, _, t, u, _ in steps[:-1])


def test_no_conversation_outlasts_max_turns():
    env = CustomerEnv(max_turns=3)
    outcomes = Counter()
    for seed in range(60):
        steps = run_episode(env, random_policy(seed), seed=seed)
        assert len(steps) - 1 <= 3
        _, _, terminated, truncated, info = steps[-1]
        assert terminated != truncated
        assert (info["outcome"] == "timed_out") == truncated
        outcomes[info["outcome"]] += 1
    assert outcomes["timed_out"] > 0 and len(outcomes) > 1


def test_reset_mid_conversation_starts_over():
    env = CustomerEnv()
    env.reset(seed=0)
    env.step(Move.listen)
    obs, info = env.reset(seed=0)
    assert info["turn"] == 0
    assert layout.decode(obs).last_move == -1
    fresh_obs, fresh_info = CustomerEnv().reset(seed=0)
    np.testing.assert_array_equal(obs, fresh_obs)
    assert info == fresh_info


def _play_on(env, steps: int, seed: int) -> list[tuple]:
    """``steps`` random moves from where ``env`` is, resetting (without a seed) after each end."""
    out, rng = [], np.random.default_rng(seed)
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(int(rng.integers(len(Move))))
        out.append((obs.tolist(), reward, terminated, truncated, info))
        if terminated or truncated:
            obs, info = env.reset()
            out.append((obs.tolist(), None, False, False, info))
    return out


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
@pytest.mark.parametrize("wrapped", [False, True])
@pytest.mark.parametrize("kwargs", [{}, {"persona": "belligerent", "observation": "full", "render_mode": "ansi"}])
def test_a_copy_mid_conversation_goes_on_with_the_same_conversation(how, wrapped, kwargs):
    """Outside trainers copy and pickle envs: a copy continues the conversation and the random stream."""
    env = make(**kwargs) if wrapped else CustomerEnv(**kwargs)
    for seed in range(50):  # the first seed whose conversation goes on after three moves
        env.reset(seed=seed)
        ended = False
        for move in (Move.empathize, Move.listen, Move.set_boundary):
            ended = ended or any(env.step(int(move))[2:4])
        if not ended:
            break
    assert not ended
    twin = copy.deepcopy(env) if how == "deepcopy" else pickle.loads(pickle.dumps(env))
    assert twin.unwrapped.state_index == env.unwrapped.state_index
    assert twin.unwrapped.tables is env.unwrapped.tables  # rebuilt from the (cached) compiled model
    copied = _play_on(twin, 60, seed=1)  # the copy first: the original must not share its state
    original = _play_on(env, 60, seed=1)
    assert copied == original
    assert sum(step[1] is None for step in original) >= 3  # crossed several conversation ends
    if kwargs.get("render_mode") == "ansi":
        assert twin.render() == env.render()


def test_a_copy_is_independent_of_the_original():
    env = CustomerEnv()
    env.reset(seed=5)
    env.step(int(Move.listen))
    twin = copy.deepcopy(env)
    a = env.step(int(Move.offer_options))
    b = twin.step(int(Move.listen))
    assert a[4]["turn"] == b[4]["turn"] == 2
    assert layout.decode(a[0]).last_move == Move.offer_options and layout.decode(b[0]).last_move == Move.listen


@pytest.mark.parametrize("action", [np.int64(3), np.array(3), 3])
def test_integer_like_actions_are_accepted(action):
    env = CustomerEnv()
    env.reset(seed=4)
    *_, info = env.step(action)
    ref = CustomerEnv()
    ref.reset(seed=4)
    *_, ref_info = ref.step(Move.offer_options)
    assert info == ref_info


# ------------------------------------------------------------------- render
def test_ansi_render_shows_agent_and_customer_lines():
    env = CustomerEnv("mixture", render_mode="ansi")
    steps = run_episode(env, cycle_policy(), seed=1)
    text = env.render()
    turns = len(steps) - 1
    assert len(re.findall(r"Agent \((\w+)\):", text)) == turns
    assert re.findall(r"Agent \((\w+)\):", text) == [m.name for m in (CYCLE * 10)[:turns]]
    assert len(re.findall(r"Customer \[\w+, \w+\]:", text)) == turns + 1
    assert f"outcome: {steps[-1][4]['outcome']}" in text
    assert "hidden:" not in text
    assert "persona hidden" in text
    assert steps[-1][4]["hidden_state"]["persona"] not in text.split("\n")[0]


def test_ansi_render_hidden_shows_anger():
    env = CustomerEnv("genuine_grievance", render_mode="ansi", render_hidden=True)
    _, info = env.reset(seed=2)
    assert f"anger {info['hidden_state']['anger']}/4" in env.render()
    for move in (Move.listen, Move.empathize):
        *_, terminated, truncated, info = env.step(move)
        last_hidden = [line for line in env.render().splitlines() if "(hidden:" in line][-1]
        assert f"anger {info['hidden_state']['anger']}/4" in last_hidden
        assert f"trust {info['hidden_state']['trust']}/3" in last_hidden
        if terminated or truncated:
            break
    assert "genuine_grievance" in env.render().splitlines()[0]


def test_human_render_prints_each_turn(capsys):
    env = CustomerEnv("belligerent", render_mode="human")
    env.reset(seed=0)
    first = capsys.readouterr().out
    assert "Customer [" in first and "insults" in first
    env.step(Move.set_boundary)
    second = capsys.readouterr().out
    assert "Agent (set_boundary)" in second
    assert "conversation 1" not in second, "human mode prints only the new turn"


def test_render_without_mode_warns_and_returns_none():
    env = CustomerEnv()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None
