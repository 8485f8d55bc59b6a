"""Checkpoints of the JAX trainer and their scores: at the curve's steps, the MLP's exact, the GRU's sampled.

Tiny budgets (a few updates): these check contracts, not scores. Needs the jax extra.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("optax")
pytestmark = pytest.mark.timeout(300)  # a hung XLA run fails the test instead of the whole CI run

from difficult_customer.agents.exact.evaluation import monte_carlo  # noqa: E402
from difficult_customer.agents.exact.memoryless_value import memoryless_value  # noqa: E402
from difficult_customer.agents.jax_policy import JaxPolicy  # noqa: E402
from difficult_customer.experiments.library.jax_curves import (  # noqa: E402
    EPISODES,
    context_of,
    score_checkpoints,
)
from difficult_customer.experiments.library.jax_ppo import (  # noqa: E402
    JaxPPOConfig,
    checkpoint_updates,
    save_runs,
    train_seeds,
)
from difficult_customer.experiments.library.plateau import plateau, steps_to_reach  # noqa: E402

BATCH = 8 * 16
TINY = JaxPPOConfig(algo="ppo_jax", persona="mixture", steps=5 * BATCH, n_envs=8, n_steps=16, epochs=2,
                    minibatches=4, hidden=(16, 16), gru_size=8, curve_every=2 * BATCH)
"""5 updates, a checkpoint every 2: at updates 2, 4 and 5 (the last window is short)."""
TINY_GRU = replace(TINY, algo="gru_ppo_jax")


def leaves(params: dict) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(params)]


@pytest.fixture(scope="module")
def mlp_pair():
    return train_seeds(TINY, seeds=[0, 1])


@pytest.fixture(scope="module")
def gru_pair():
    return train_seeds(TINY_GRU, seeds=[0, 1])


@pytest.fixture(scope="module")
def mlp_scores(mlp_pair):
    return score_checkpoints(mlp_pair)


@pytest.fixture(scope="module")
def gru_scores(gru_pair):
    return score_checkpoints(gru_pair)


@pytest.mark.parametrize("pair", ["mlp_pair", "gru_pair"])
def test_checkpoints_are_at_the_curve_steps_and_the_last_is_the_trained_parameters(pair, request):
    assert checkpoint_updates(TINY) == [2, 4, 5]
    assert checkpoint_updates(replace(TINY, steps=4 * BATCH)) == [2, 4]
    assert checkpoint_updates(replace(TINY, curve_every=9 * BATCH)) == [5]  # one window, shorter than asked
    for result in (request.getfixturevalue(pair),):
        assert result.checkpoint_steps == [2 * BATCH, 4 * BATCH, 5 * BATCH]
        for index in range(2):
            assert [point[0] for point in result.curve(index)] == result.checkpoint_steps
            kept = result.checkpoint_params(index)
            assert [steps for steps, _ in kept] == result.checkpoint_steps
            for a, b in zip(leaves(kept[-1][1]), leaves(result.seed_params(index)), strict=True):
                np.testing.assert_array_equal(a, b)
            # the checkpoints differ: training moved the parameters between them
            assert any(not np.array_equal(a, b) for a, b in zip(leaves(kept[0][1]), leaves(kept[1][1]), strict=True))


@pytest.mark.parametrize("algo", ["ppo_jax", "gru_ppo_jax"])
def test_a_checkpoint_is_the_parameters_of_a_run_stopped_there(algo, mlp_pair, gru_pair):
    """The first checkpoint (after 2 updates) is what a 2-update run of the same seed ends with."""
    together = mlp_pair if algo == "ppo_jax" else gru_pair
    short = train_seeds(replace(together.config, steps=2 * BATCH), seeds=[1])
    for a, b in zip(leaves(together.checkpoint_params(1)[0][1]), leaves(short.seed_params(0)), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_from_params_is_the_policy_of_the_saved_file(mlp_pair, gru_pair, tmp_path):
    obs = np.random.default_rng(0).random((20, 30)).astype(np.float32)
    for result in (mlp_pair, gru_pair):
        path = save_runs(result, out=tmp_path)[1]
        loaded = JaxPolicy(path)
        built = JaxPolicy.from_params(result.config.algo, result.seed_params(1), loaded.meta)
        assert built.path is None and loaded.path == path and built.recurrent == loaded.recurrent
        start = np.ones(20, bool)
        a, state_a = loaded.predict(obs, None, start)
        b, state_b = built.predict(obs, None, start)
        np.testing.assert_array_equal(a, b)
        if result.config.algo == "gru_ppo_jax":
            np.testing.assert_array_equal(state_a, state_b)
    with pytest.raises(ValueError, match="allowed"):
        JaxPolicy.from_params("ppo", mlp_pair.seed_params(0))
    with pytest.raises(ValueError, match="differs"):
        JaxPolicy.from_params("ppo_jax", mlp_pair.seed_params(0), {"algo": "gru_ppo_jax"})


def test_mlp_checkpoints_are_scored_exactly(mlp_pair, mlp_scores, tmp_path):
    assert mlp_scores.source == "exact" and mlp_scores.episodes == 0
    assert mlp_scores.steps == mlp_pair.checkpoint_steps and mlp_scores.values.shape == (2, 3)
    assert (mlp_scores.stderr == 0).all()
    context = context_of(TINY)
    paths = save_runs(mlp_pair, out=tmp_path)
    for index, path in enumerate(paths):
        assert mlp_scores.values[index, -1] == memoryless_value(JaxPolicy(path), context).value
    first = JaxPolicy.from_params("ppo_jax", mlp_pair.checkpoint_params(0)[0][1])
    assert mlp_scores.values[0, 0] == memoryless_value(first, context).value
    refs = mlp_scores.references
    np.testing.assert_allclose(mlp_scores.normalized, (mlp_scores.values - refs["random"])
                               / (refs["oracle"] - refs["random"]))
    low, high = mlp_scores.interval()
    np.testing.assert_array_equal(low, high)


def test_gru_checkpoints_are_sampled_with_an_interval(gru_pair, gru_scores, tmp_path):
    assert gru_scores.source == "monte carlo" and gru_scores.episodes == EPISODES >= 2000
    assert gru_scores.steps == gru_pair.checkpoint_steps and gru_scores.values.shape == (2, 3)
    assert (gru_scores.stderr > 0).all()
    low, high = gru_scores.interval()
    assert (low < gru_scores.normalized).all() and (gru_scores.normalized < high).all()
    path = save_runs(gru_pair, out=tmp_path)[0]
    mc = monte_carlo(JaxPolicy(path), context_of(TINY_GRU), EPISODES, seed=0)
    assert gru_scores.values[0, -1] == mc.mean and gru_scores.stderr[0, -1] == mc.stderr


def test_the_summary_applies_the_plateau_rule_and_steps_to_reach(mlp_scores, gru_scores):
    for scores in (mlp_scores, gru_scores):
        summary = scores.summary()
        verdict = plateau(scores.steps, scores.normalized)
        assert summary["verdict"] == verdict.label and summary["gain_high"] == verdict.gain_high
        assert summary["final_low"] <= summary["final_iqm"] <= summary["final_high"]
        assert summary["best_score"] == scores.normalized[:, -1].max()
        assert summary["best_seed"] == scores.seeds[int(np.argmax(scores.normalized[:, -1]))]
        for target in ("0.80", "0.85"):
            expected = steps_to_reach(scores.steps, scores.normalized, float(target))
            assert summary["steps_to_reach"][target]["reached"] == expected.reached
        assert set(scores.to_dict()) >= {"values", "stderr", "normalized", "summary"}
    # a sampled final IQM carries each seed's evaluation noise: its interval is not a point
    assert gru_scores.summary()["final_low"] < gru_scores.summary()["final_high"]


def test_every_scores_a_subset_ending_at_the_last_checkpoint(mlp_pair, mlp_scores):
    some = score_checkpoints(mlp_pair, every=2)
    assert some.steps == [2 * BATCH, 5 * BATCH]
    np.testing.assert_array_equal(some.values, mlp_scores.values[:, [0, 2]])
    with pytest.raises(ValueError, match="every"):
        score_checkpoints(mlp_pair, every=0)
