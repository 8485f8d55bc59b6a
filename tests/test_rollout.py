"""The one rollout loop: it records what stepping the env by hand records, seeded per conversation."""

from __future__ import annotations

import numpy as np
import pytest

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies)
from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.customer_models import Abuse, Reaction, Tone
from difficult_customer.envs import CustomerEnv
from difficult_customer.envs import observation as layout
from difficult_customer.envs.rollout import rollout
from difficult_customer.experiments.library.rollouts import Episode, run_episodes


def by_hand(policy, context: PolicyContext, seed: int) -> dict:
    """One conversation stepped through ``CustomerEnv`` with the policy, recorded turn by turn."""
    env = CustomerEnv(**context.env_kwargs())
    obs, info = env.reset(seed=seed)
    out = {key: [] for key in ("obs", "moves", "rewards", "tones", "reactions", "anger", "trust", "abuse", "solved")}
    memory, start = None, np.ones(1, dtype=bool)
    while True:
        hidden = info["hidden_state"]
        out["obs"].append(obs)
        out["tones"].append(int(Tone[info["tone"]]))
        out["reactions"].append(int(Reaction[info["reaction"]]))
        out["anger"].append(hidden["anger"])
        out["trust"].append(hidden["trust"])
        out["abuse"].append(int(Abuse[hidden["abuse"]]))
        out["solved"].append(hidden["solved"])
        if info["outcome"] != "ongoing":
            break
        action, memory = policy.predict(obs[None], memory, start, True)
        start = np.zeros(1, dtype=bool)
        move = int(np.asarray(action).reshape(-1)[0])
        obs, reward, terminated, truncated, info = env.step(move)
        out["moves"].append(move)
        out["rewards"].append(reward)
    out.update(outcome=info["outcome"], ret=info["return"], turns=info["turn"])
    return out


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("guide_004", {}),
        ("qmdp", {"persona": "mixture"}),
        ("solution_first", {"persona": "belligerent", "max_turns": 5}),
        ("oracle", {"observation": "full", "ablate": ["C4"]}),
    ],
)
def test_rollout_records_what_stepping_the_env_by_hand_records(name, kwargs):
    context = PolicyContext.create(**kwargs)
    seeds = list(range(30))
    played = rollout(
        agents.make(name, context),
        context.tables,
        seeds=seeds,
        max_turns=context.max_turns,
        observation=context.observation,
    )
    outcomes = played.outcome_names()
    for i, seed in enumerate(seeds):
        hand = by_hand(agents.make(name, context), context, seed)
        end = hand["turns"]
        assert played.turns[i] == end == len(hand["moves"])
        assert played.moves[i, :end].tolist() == hand["moves"] and (played.moves[i, end:] == -1).all()
        assert played.rewards[i, :end].tolist() == hand["rewards"]
        assert played.returns[i] == hand["ret"] and outcomes[i] == hand["outcome"]
        np.testing.assert_array_equal(played.observations(i), np.array(hand["obs"]))
        np.testing.assert_array_equal(played.observations()[i, : end + 1], np.array(hand["obs"]))
        assert played.tones[i, : end + 1].tolist() == hand["tones"]
        assert played.reactions[i, : end + 1].tolist() == hand["reactions"]
        for factor in ("anger", "trust", "abuse", "solved"):
            assert played.hidden(factor)[i, : end + 1].tolist() == hand[factor], factor
        assert (played.hidden("anger")[i, end + 1 :] == -1).all()
    assert len(set(outcomes)) >= 2  # the check saw different endings


@pytest.mark.parametrize("render_hidden", [False, True])
def test_transcripts_are_what_the_env_renders(render_hidden):
    context = PolicyContext.create(persona="mixture")
    seeds = [2, 8, 13]
    played = rollout(agents.make("guide_001", context), context.tables, seeds=seeds)
    env = CustomerEnv(render_mode="ansi", render_hidden=render_hidden)
    policy = agents.make("guide_001", context)
    for episode, seed in enumerate(seeds):  # one env, conversation after conversation, as a report renders them
        obs, info = env.reset(seed=seed)
        while info["outcome"] == "ongoing":
            obs, _, _, _, info = env.step(int(policy.predict(obs)[0]))
        assert played.transcript(episode, render_hidden, episode=episode) == env.render()
    assert "--- outcome:" in env.render() and ("(hidden: anger" in env.render()) == render_hidden


def test_a_conversation_does_not_depend_on_the_rest_of_the_batch():
    context = PolicyContext.create()
    policy = agents.make("belief_lookahead", context)
    alone = rollout(policy, context.tables, seeds=[7])
    batch = rollout(policy, context.tables, seeds=[3, 7, 11, 7])
    for row in (1, 3):
        assert batch.turns[row] == alone.turns[0]
        np.testing.assert_array_equal(batch.moves[row], alone.moves[0])
        np.testing.assert_array_equal(batch.states[row], alone.states[0])
        np.testing.assert_array_equal(batch.codes[row], alone.codes[0])


def test_same_seed_same_conversations_other_seed_others():
    context = PolicyContext.create(seed=0)
    tables = context.tables

    def play(seed):
        return rollout(agents.make("random", context), tables, episodes=300, seed=seed)

    a, b, c = play(4), play(4), play(5)
    for x, y in ((a.states, b.states), (a.moves, b.moves), (a.returns, b.returns)):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a.states, c.states)
    d = rollout(agents.make("guide_000", context), tables, seeds=range(50))
    e = rollout(agents.make("guide_000", context), tables, seeds=range(50))
    np.testing.assert_array_equal(d.codes, e.codes)


class Recorder:
    """A policy that checks SB3's recurrent convention: ``episode_start`` exactly at openings, state passed back."""

    def __init__(self, max_turns: int) -> None:
        self.max_turns = max_turns
        self.calls = 0
        self.starts = 0

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        turn = np.rint(layout.decode(observation).turn_fraction * self.max_turns)
        assert episode_start is not None and np.array_equal(episode_start, turn == 0)
        assert (state is None) == (self.calls == 0) and (state is None or state == self.calls)
        self.calls += 1
        self.starts += int(episode_start.sum())
        return np.full(observation.shape[0], 3), self.calls  # always offer options


def test_restarted_rows_show_the_policy_fresh_openings_with_episode_start():
    context = PolicyContext.create(max_turns=6)
    recorder = Recorder(6)
    played = rollout(recorder, context.tables, episodes=200, seed=1, max_turns=6)
    assert recorder.calls == int(played.turns.max())
    assert recorder.starts > 200  # the openings, then restarts of rows that ended early
    assert (played.moves[played.moves >= 0] == 3).all()


def test_progress_is_called_once_per_conversation():
    context = PolicyContext.create()
    ticks = []
    rollout(agents.make("guide_000", context), context.tables, seeds=range(25), progress=ticks.append)
    assert ticks == [1] * 25


class Broken:
    def __init__(self, answer):
        self.answer = answer

    def predict(self, observation, state=None, episode_start=None, deterministic=True):
        return self.answer(observation.shape[0]), state


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seeds": [1, 2], "episodes": 2}, "exactly one of them"),
        ({}, "exactly one of them"),
        ({"seeds": []}, "0 conversations"),
        ({"episodes": 0}, "0 conversations"),
        ({"seeds": [3, -1]}, "seed -1 is negative"),
        ({"episodes": 2, "observation": "pixels"}, "observation='pixels'"),
        ({"episodes": 2, "max_turns": 0}, "max_turns=0"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, message):
    context = PolicyContext.create()
    with pytest.raises(ValueError, match=message):
        rollout(agents.make("guide_000", context), context.tables, **kwargs)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda n: np.zeros(n + 1, dtype=int), "returned 3 actions for 2 conversations"),
        (lambda n: np.full(n, 7), "action 7 is outside"),
        (lambda n: np.full(n, 0.5), "dtype float64"),
    ],
)
def test_a_policy_returning_bad_moves_is_named(answer, message):
    context = PolicyContext.create()
    with pytest.raises(ValueError, match=message):
        rollout(Broken(answer), context.tables, episodes=2)


# ------------------------------------------------------------------ run_episodes
def old_run_episodes(name: str, context: PolicyContext, seeds) -> list[Episode]:
    """``run_episodes`` as it was before the rollout function: one env, one seed at a time."""
    policy = agents.make(name, context)
    env = CustomerEnv(**context.env_kwargs())
    episodes = []
    for seed in seeds:
        obs, info = env.reset(seed=int(seed))
        state, start = None, np.ones((1,), dtype=bool)
        hidden = info["hidden_state"]
        ep = Episode(seed=int(seed), persona=str(hidden["persona"]), outcome="", ret=0.0, turns=0)
        while True:
            ep.reactions.append(int(Reaction[info["reaction"]]))
            ep.tones.append(int(Tone[info["tone"]]))
            ep.anger.append(int(hidden["anger"]))
            ep.trust.append(int(hidden["trust"]))
            ep.abusive.append(hidden["abuse"] == "abusive")
            ep.solved_before.append(bool(hidden["solved"]))
            if ep.outcome:
                break
            action, state = policy.predict(obs[None], state=state, episode_start=start, deterministic=True)
            start = np.zeros((1,), dtype=bool)
            move = int(np.asarray(action).reshape(-1)[0])
            obs, reward, terminated, truncated, info = env.step(move)
            hidden = info["hidden_state"]
            ep.moves.append(move)
            ep.ret += float(reward)
            ep.turns += 1
            if terminated or truncated:
                ep.outcome = info["outcome"]
        episodes.append(ep)
    return episodes


@pytest.mark.parametrize(
    ("name", "persona"), [("guide_002", "mixture"), ("qmdp", "belligerent"), ("tone_reader", "mixture")]
)
def test_run_episodes_keeps_its_episodes(name, persona):
    """The thin layer over rollout gives the episodes the old one-env loop gave, field by field."""
    context = PolicyContext.create(persona=persona)
    seeds = [0, 5, 17, 3, 99, 12, 40]
    new = run_episodes(name, context, seeds)
    assert new == old_run_episodes(name, context, seeds)
    assert all(isinstance(e.persona, str) and isinstance(e.abusive[0], bool) for e in new)
    assert run_episodes(name, context, []) == []
