"""Imitation: demonstrations from a dataset, behaviour cloning into SB3's policy, exact scores, CQL, the command."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("minari")
pytest.importorskip("stable_baselines3")

from difficult_customer import agents  # noqa: E402
from difficult_customer.agents.base import PolicyContext  # noqa: E402
from difficult_customer.agents.exact.evaluation import monte_carlo  # noqa: E402
from difficult_customer.experiments.commands import imitate  # noqa: E402
from difficult_customer.experiments.library import datasets, imitation  # noqa: E402

SETTING = datasets.Setting("naturally_difficult", (), 10)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("imitation")
    datasets.write_played(root, SETTING, "guide_000", 150, seed=1, progress=False)
    return root


@pytest.fixture(scope="module")
def demos(root):
    return imitation.demonstrations(datasets.load(datasets.dataset_id(SETTING, "guide_000"), root), seed=0)


def test_demonstrations_hold_every_step_with_its_return_to_go_and_split_by_episode(root, demos):
    ds = datasets.load(datasets.dataset_id(SETTING, "guide_000"), root)
    episodes = list(ds.iterate_episodes())
    assert demos.size == sum(len(e.actions) for e in episodes) and demos.episodes == 150
    assert demos.setting == SETTING
    first = np.flatnonzero(np.r_[True, np.diff(demos.episode) != 0])
    np.testing.assert_allclose(demos.returns_to_go[first], [float(np.sum(e.rewards)) for e in episodes])
    held = set(demos.episode[demos.held_out])
    assert held and not held & set(demos.episode[~demos.held_out])
    assert len(held) == 15  # 10% of 150 episodes
    again = imitation.demonstrations(ds, seed=0)
    np.testing.assert_array_equal(again.held_out, demos.held_out)
    other = imitation.demonstrations(ds, seed=1)
    assert not np.array_equal(other.held_out, demos.held_out)
    with pytest.raises(ValueError, match="held_out=0.9"):
        imitation.demonstrations(ds, held_out=0.9)


def test_accuracy_is_the_share_of_demonstrated_moves_a_policy_repeats(demos):
    guide = agents.make("guide_000")
    assert imitation.accuracy(guide, demos) == 1.0  # the guide made these moves
    listen = agents.make("solution_first")
    expected = float(np.mean(listen.predict(demos.observations, None, None, True)[0] == demos.actions))
    assert imitation.accuracy(listen, demos) == pytest.approx(expected) and expected < 1.0


def test_behaviour_cloning_learns_the_demonstrated_moves_and_is_scored_exactly(demos):
    model = imitation.ppo_model(SETTING, seed=0)
    before = imitation.accuracy(model, demos.part(False))
    stats = imitation.clone(model, demos, imitation.BCConfig(epochs=40), seed=0)
    assert stats["train_accuracy"] > before and stats["train_accuracy"] >= 0.9
    assert 0.0 <= stats["held_out_accuracy"] <= 1.0
    score = imitation.exact_score(model, SETTING)
    context = PolicyContext.create(SETTING.persona, SETTING.ablate, SETTING.max_turns)
    mc = monte_carlo(model, context, episodes=3000, seed=0)
    assert abs(mc.mean - score["return"]) < 4 * mc.stderr + 1e-9


def test_cloning_is_seeded(demos):
    a, b = (imitation.ppo_model(SETTING, seed=3) for _ in range(2))
    config = imitation.BCConfig(epochs=2)
    assert imitation.clone(a, demos, config, seed=3) == imitation.clone(b, demos, config, seed=3)
    obs = demos.observations[:50]
    np.testing.assert_array_equal(a.predict(obs, deterministic=True)[0], b.predict(obs, deterministic=True)[0])


@pytest.mark.parametrize(("field", "value"), [("epochs", 0), ("batch_size", 0), ("learning_rate", 0.0),
                                              ("ent_weight", -1.0)])
def test_bad_cloning_settings_are_named(field, value):
    with pytest.raises(ValueError, match=f"{field}="):
        imitation.BCConfig(**{field: value}).validate()


class _Fixed:
    """A stand-in for a d3rlpy algorithm: predicts move (row index mod 6)."""

    def predict(self, x):
        return np.arange(len(x)) % 6


def test_argmax_q_takes_one_observation_or_a_batch():
    policy = imitation.ArgmaxQ(_Fixed())
    moves, _ = policy.predict(np.zeros((4, 30)))
    np.testing.assert_array_equal(moves, [0, 1, 2, 3])
    one, _ = policy.predict(np.zeros(30))
    assert one == 0


def test_conservative_q_learning_on_one_policys_data_stays_with_its_moves(demos):
    """With a large conservative weight, CQL's Q is lowest off the data, so its argmax repeats the data's moves."""
    policy = imitation.offline_cql(demos, imitation.CQLConfig(steps=600, alpha=20.0, batch_size=128), seed=0)
    assert imitation.accuracy(policy, demos) >= 0.9
    assert np.isfinite(imitation.exact_score(policy, SETTING)["normalized"])


def test_imitate_clones_a_dataset_and_saves_models_benchmark_can_load(root, tmp_path, capsys):
    ident = datasets.dataset_id(SETTING, "guide_000")
    config = imitate.Config(dataset=ident, data=str(root), out=str(tmp_path), seeds=1,
                            bc=imitation.BCConfig(epochs=5))
    assert imitate.main(config) == 0
    out = capsys.readouterr().out
    assert "behaviour cloning" in out and "exact" in out and "IQM" in out and "(1 seed)" in out
    model = next(tmp_path.glob("bc/*/seed0/model.zip"))
    policy = agents.make(str(model))
    context = PolicyContext.create(SETTING.persona, SETTING.ablate, SETTING.max_turns)
    from difficult_customer.agents.exact.memoryless_value import memoryless_value

    result = imitate.clone_dataset(config)  # the same seed again: the same clone and score
    assert memoryless_value(policy, context).value == pytest.approx(result["runs"][0]["bc"]["return"])


@pytest.mark.parametrize(("change", "named"), [({}, "exactly one of"), ({"dataset": "x-v0", "study": True},
                                                                        "exactly one of"),
                                               ({"dataset": "difficult-customer/mixture/none-v0"}, "none-v0")])
def test_bad_imitate_settings_are_named(tmp_path, capsys, change, named):
    assert imitate.main(imitate.Config(data=str(tmp_path), out=str(tmp_path), **change)) == 2
    assert named in capsys.readouterr().err
