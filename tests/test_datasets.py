"""Minari datasets of conversations: round trip, replay in the recovered env, exact normalization."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

minari = pytest.importorskip("minari")

from difficult_customer.agents.base import PolicyContext  # noqa: E402
from difficult_customer.agents.exact.evaluation import normalized, oracle_value, random_value  # noqa: E402
from difficult_customer.customer_models import FACTORS  # noqa: E402
from difficult_customer.experiments.commands import datasets as command  # noqa: E402
from difficult_customer.experiments.library import datasets  # noqa: E402
from difficult_customer.experiments.library.evaluation import policy_value  # noqa: E402
from difficult_customer.experiments.library.recordings import save_recording  # noqa: E402
from difficult_customer.experiments.teaching.session import Session  # noqa: E402

SMALL = datasets.Setting("belligerent", ("C4",), 8)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    """A small dataset of guide_004 in a non-default setting, and the rollout it was made from."""
    root = tmp_path_factory.mktemp("datasets")
    played = datasets.play("guide_004", SMALL, datasets.dataset_seeds(3, 40))
    w = datasets.write_dataset(root, SMALL, "guide_004", [played], seed=3)
    return root, w, played


def test_a_dataset_round_trips(written):
    root, w, played = written
    ds = datasets.load(w.dataset_id, root)
    assert w.dataset_id == "difficult-customer/belligerent-ablate-C4-turns-8/guide_004-v0"
    assert ds.total_episodes == 40 and ds.total_steps == int(played.turns.sum()) == w.steps
    seeds = [m["seed"] for m in ds.storage.get_episode_metadata(range(40))]
    assert seeds == [int(s) for s in played.seeds] == datasets.dataset_seeds(3, 40)
    for i, e in enumerate(ds.iterate_episodes()):
        t = int(played.turns[i])
        np.testing.assert_array_equal(e.observations, played.observations(i))
        np.testing.assert_array_equal(e.actions, played.moves[i, :t])
        np.testing.assert_allclose(e.rewards, played.rewards[i, :t])
        timed_out = played.outcome_names()[i] == "timed_out"
        assert bool(e.truncations[-1]) == timed_out and bool(e.terminations[-1]) == (not timed_out)
        assert not e.terminations[:-1].any() and not e.truncations[:-1].any()
        state = e.infos["state"]
        assert state.shape == (t + 1, len(datasets.STATE_COLUMNS))
        np.testing.assert_array_equal(state[:, 0], played.states[i, : t + 1])
        np.testing.assert_array_equal(state[:, 2 + FACTORS.index("anger")], played.hidden("anger")[i, : t + 1])
        np.testing.assert_allclose(e.infos["return"][-1], played.returns[i])
    meta = ds.storage.metadata
    assert meta["algorithm_name"] == "guide_004"
    assert "the current observation only" in meta["description"]
    ours = json.loads(meta["difficult_customer"])
    assert ours["seed"] == 3 and ours["episodes"] == 40 and ours["ablate"] == ["C4"]
    assert datasets.setting_of(ds) == SMALL


def test_replaying_actions_in_the_recovered_env_gives_the_same_conversation(written):
    root, w, _ = written
    ds = datasets.load(w.dataset_id, root)
    env = ds.recover_environment()
    assert env.unwrapped.max_turns == 8 and env.unwrapped.tables.persona_names == ("belligerent",)
    seeds = [m["seed"] for m in ds.storage.get_episode_metadata(range(ds.total_episodes))]
    for e, seed in zip(ds.iterate_episodes(), seeds, strict=True):
        obs, info = env.reset(seed=seed)
        np.testing.assert_array_equal(obs, e.observations[0])
        assert info["state_index"] == e.infos["state"][0, 0]
        for t, action in enumerate(e.actions):
            obs, reward, terminated, truncated, info = env.step(int(action))
            np.testing.assert_array_equal(obs, e.observations[t + 1])
            assert reward == pytest.approx(e.rewards[t], abs=1e-12)
            assert (terminated, truncated) == (bool(e.terminations[t]), bool(e.truncations[t]))
            assert info["state_index"] == e.infos["state"][t + 1, 0]


def test_an_ablated_env_differs_from_the_default_so_the_spec_matters(written):
    """The recovered env must carry the switch: the same seed and moves give other rewards without it."""
    root, w, _ = written
    ds = datasets.load(w.dataset_id, root)
    plain = gym.make("DifficultCustomer-v0", persona="belligerent", max_turns=8)
    recovered = ds.recover_environment()
    assert "C4" in recovered.unwrapped.tables.ablate and "C4" not in plain.unwrapped.tables.ablate
    seeds = [m["seed"] for m in ds.storage.get_episode_metadata(range(ds.total_episodes))]
    differ = 0
    for seed in seeds:
        rets = []
        for env in (plain, recovered):
            env.reset(seed=seed)
            total, done = 0.0, False
            while not done:
                _, r, term, trunc, _ = env.step(2)  # apologize, whose effect C4 switches off
                total, done = total + r, term or trunc
            rets.append(total)
        differ += rets[0] != rets[1]
    assert differ > 0


def test_minari_normalized_score_is_the_projects(written):
    root, w, played = written
    ds = datasets.load(w.dataset_id, root)
    context = SMALL.context()
    low, high = random_value(context), oracle_value(context)
    guide = policy_value("guide_004", PolicyContext.create(SMALL.persona, SMALL.ablate, SMALL.max_turns))
    assert guide["source"] == "exact"
    got = minari.get_normalized_score(ds, np.array([low, high, guide["return"]]))
    np.testing.assert_allclose(got, [0.0, 1.0, normalized(guide["return"], context)], atol=1e-12)
    assert ds.storage.metadata["ref_min_score"] == low and ds.storage.metadata["ref_max_score"] == high
    # the data agree with the model: the dataset's mean return is within sampling error of the exact value
    returns = played.returns
    assert abs(returns.mean() - guide["return"]) < 4 * returns.std(ddof=1) / np.sqrt(returns.size) + 1e-9


def test_the_same_command_writes_the_same_datasets_and_keeps_them(tmp_path):
    for out in ("a", "b"):
        config = command.Config(out=str(tmp_path / out), episodes=12, policies=["random", "tone_reader"], seed=5,
                                progress=False)
        assert command.main(config) == 0
    for name in ("random", "tone_reader", "mixed"):
        ident = f"difficult-customer/mixture/{name}-v0"
        a, b = (datasets.load(ident, tmp_path / out) for out in ("a", "b"))
        for x, y in zip(a.iterate_episodes(), b.iterate_episodes(), strict=True):
            np.testing.assert_array_equal(x.actions, y.actions)
            np.testing.assert_array_equal(x.observations, y.observations)
    summary = json.loads((tmp_path / "a" / "datasets.json").read_text())
    assert [d["dataset_id"].split("/")[-1] for d in summary["datasets"]] == ["random-v0", "tone_reader-v0", "mixed-v0"]
    again = datasets.write_dataset(tmp_path / "a", datasets.Setting(), "random",
                                   [datasets.play("random", datasets.Setting(), datasets.dataset_seeds(5, 12), 5)], 5)
    assert again.reused
    other = datasets.write_dataset(tmp_path / "a", datasets.Setting(), "random",
                                   [datasets.play("random", datasets.Setting(), datasets.dataset_seeds(6, 12), 6)], 6)
    assert not other.reused
    reread = datasets.load("difficult-customer/mixture/random-v0", tmp_path / "a")
    assert [m["seed"] for m in reread.storage.get_episode_metadata([0])] == [6 * 1_000_003]


def test_the_mixed_dataset_holds_equal_parts_of_each_policy_on_new_seeds(tmp_path):
    config = command.Config(out=str(tmp_path), episodes=7, policies=["random", "guide_000", "tone_reader"],
                            progress=False)
    assert command.main(config) == 0
    ds = datasets.load("difficult-customer/mixture/mixed-v0", tmp_path)
    plan = json.loads(ds.storage.metadata["difficult_customer"])["mixed_policies"]
    assert [(p["policy"], p["episodes"]) for p in plan] == [("random", 3), ("guide_000", 2), ("tone_reader", 2)]
    seeds = [m["seed"] for m in ds.storage.get_episode_metadata(range(7))]
    assert len(set(seeds)) == 7 and not set(seeds) & set(datasets.dataset_seeds(0, 7))
    episodes = list(ds.iterate_episodes())
    for part in plan:  # each part's episodes are that policy's conversations on those seeds
        rows = range(part["first_episode"], part["first_episode"] + part["episodes"])
        again = datasets.play(part["policy"], datasets.Setting(), [seeds[i] for i in rows])
        for k, i in enumerate(rows):
            np.testing.assert_array_equal(episodes[i].actions, again.moves[k, : again.turns[k]])


def test_recordings_become_a_human_dataset_and_bad_ones_are_named(tmp_path, capsys):
    folder = tmp_path / "rec"
    for seed in (1, 2):
        session = Session(persona="naturally_difficult", seed=seed)
        while not session.done:
            session.move(0 if session.turn < 2 else 3 if session.turn < 4 else 5)
        save_recording(session, folder)
    (folder / "broken.json").write_text("{not json")
    assert command.main(command.Config(out=str(tmp_path / "out"), from_recordings=folder, progress=False)) == 0
    assert "broken.json" in capsys.readouterr().err
    ds = datasets.load("difficult-customer/naturally_difficult/human-v0", tmp_path / "out")
    assert ds.total_episodes == 2
    assert sorted(m["seed"] for m in ds.storage.get_episode_metadata([0, 1])) == [1, 2]
    assert "people playing the agent" in ds.storage.metadata["description"]


@pytest.mark.parametrize(
    ("change", "named"),
    [({"episodes": 0}, "episodes=0"), ({"personas": ["grumpy"]}, "grumpy"), ({"policies": ["nobody"]}, "nobody"),
     ({"ablate": ["C99"]}, "C99"), ({"seed": -1}, "seed=-1")],
)
def test_bad_settings_are_named(tmp_path, capsys, change, named):
    config = command.Config(out=str(tmp_path), progress=False, **change)
    assert command.main(config) == 2
    assert named in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_a_missing_dataset_lists_the_ones_there(written):
    root, w, _ = written
    with pytest.raises(ValueError, match="guide_004-v0"):
        datasets.load("difficult-customer/mixture/nothing-v0", root)


def test_a_relative_root_works(tmp_path, monkeypatch):
    """minari 0.5.4 resolves a relative MINARI_DATASETS_PATH wrongly when it sizes a dataset; ours is made absolute."""
    monkeypatch.chdir(tmp_path)
    w = datasets.write_played("rel/data", datasets.Setting(), "random", 5, progress=False)
    assert w.path == tmp_path / "rel" / "data" / "difficult-customer" / "mixture" / "random-v0"
    assert datasets.load(w.dataset_id, "rel/data").total_episodes == 5
