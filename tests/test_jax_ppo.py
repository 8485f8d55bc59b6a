"""The JAX PPO trainer (``ppo_jax``, ``gru_ppo_jax``) and its policies: seeded, vmap-exact, saved and loaded, learning.

Tiny budgets (a few updates): these check contracts, not scores. Needs the jax extra.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("optax")
pytestmark = pytest.mark.timeout(300)  # a hung XLA run fails the test instead of the whole CI run

from difficult_customer.agents.jax_models import load_model, save_model  # noqa: E402
from difficult_customer.agents.jax_policy import JaxPolicy, gru_sequence, init_gru, mlp_apply  # noqa: E402
from difficult_customer.agents.learned import run_config  # noqa: E402
from difficult_customer.customer_models import compile_model  # noqa: E402
from difficult_customer.envs import jax_core as jc  # noqa: E402
from difficult_customer.envs.customer_env import CustomerEnv  # noqa: E402
from difficult_customer.experiments.library.jax_ppo import (  # noqa: E402
    JaxPPOConfig,
    initial_params,
    make_train,
    save_runs,
    train_seeds,
)

TINY = JaxPPOConfig(algo="ppo_jax", persona="mixture", steps=3 * 8 * 16, n_envs=8, n_steps=16, epochs=2,
                    minibatches=4, hidden=(16, 16), gru_size=8, curve_every=8 * 16)
TINY_GRU = replace(TINY, algo="gru_ppo_jax")


def leaves(params: dict) -> list[np.ndarray]:
    return [np.asarray(x) for x in jax.tree_util.tree_leaves(params)]


@pytest.fixture(scope="module")
def mlp_pair():
    return train_seeds(TINY, seeds=[0, 1])


@pytest.fixture(scope="module")
def gru_pair():
    return train_seeds(TINY_GRU, seeds=[0, 1])


def test_config_is_validated():
    with pytest.raises(ValueError, match="unknown algorithm"):
        JaxPPOConfig(algo="ppo").validate()
    with pytest.raises(ValueError, match="minibatches"):
        replace(TINY_GRU, minibatches=3).validate()
    with pytest.raises(ValueError, match="persona"):
        replace(TINY, persona="nobody").validate()


@pytest.mark.parametrize("algo", ["ppo_jax", "gru_ppo_jax"])
def test_the_compiled_trainer_holds_no_qr_decomposition(algo):
    """The orthogonal initializer's QR runs outside the vmapped program: batched inside it, it deadlocked XLA's pool."""
    config = replace(TINY, algo=algo)
    keys = jax.numpy.stack([jax.random.PRNGKey(s) for s in range(3)])
    core = jc.jax_core(compile_model(config.persona, []), config.max_turns)
    trainer = jax.jit(jax.vmap(make_train(config), in_axes=(None, 0, 0)))
    lowered = trainer.lower(core, keys, initial_params(config, keys))
    text = lowered.as_text()
    assert "geqrf" not in text and "orgqr" not in text  # LAPACK's QR kernels, which the initializer calls


def test_same_seed_same_parameters(mlp_pair):
    again = train_seeds(TINY, seeds=[0, 1])
    for a, b in zip(leaves(mlp_pair.params), leaves(again.params), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(mlp_pair.metrics.return_sum, again.metrics.return_sum)
    # the two seeds differ
    assert any(not np.array_equal(a[0], a[1]) for a in leaves(mlp_pair.params))


@pytest.mark.parametrize("algo", ["ppo_jax", "gru_ppo_jax"])
def test_vmapped_seeds_equal_seeds_one_at_a_time(algo, mlp_pair, gru_pair):
    together = mlp_pair if algo == "ppo_jax" else gru_pair
    config = together.config
    for index, seed in enumerate(together.seeds):
        alone = train_seeds(config, seeds=[seed])
        for a, b in zip(leaves(together.seed_params(index)), leaves(alone.seed_params(0)), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(together.metrics.episodes[index], alone.metrics.episodes[0])


def test_curve_counts_ended_training_conversations(mlp_pair):
    curve = mlp_pair.curve(0)
    assert [point[0] for point in curve] == [128, 256, 384]
    assert mlp_pair.metrics.episodes.shape == (2, 3) and (mlp_pair.metrics.episodes > 0).all()
    assert all(np.isfinite(point[1]) for point in curve)


def test_saved_mlp_predicts_the_moves_of_the_network_in_the_loop(mlp_pair, tmp_path):
    paths = save_runs(mlp_pair, out=tmp_path)
    assert [p.parent.name for p in paths] == ["seed0", "seed1"]
    saved = run_config(paths[1])
    assert saved["algo"] == "ppo_jax" and saved["seed"] == 1 and saved["observation"] == "partial"
    assert json.loads((paths[1].parent / "curve.json").read_text()) == mlp_pair.curve(1)
    policy = JaxPolicy(paths[1])
    rng = np.random.default_rng(0)
    obs = rng.random((50, 30)).astype(np.float32)
    logits, _ = mlp_apply(mlp_pair.seed_params(1), obs)
    moves, state = policy.predict(obs, None, None, True)
    np.testing.assert_array_equal(moves, np.asarray(logits).argmax(-1))
    assert state is None
    one, _ = policy.predict(obs[3])
    assert one.shape == () and one == moves[3]
    sampled, _ = policy.predict(obs, deterministic=False)
    assert sampled.shape == (50,) and ((sampled >= 0) & (sampled < 6)).all()


def test_saved_gru_predicts_the_moves_of_the_network_in_the_loop(gru_pair, tmp_path):
    path = save_runs(gru_pair, out=tmp_path)[0]
    params, meta = load_model(path)
    assert meta["algo"] == "gru_ppo_jax" and meta["gru_size"] == 8
    policy = JaxPolicy(path)
    rng = np.random.default_rng(1)
    obs = rng.random((6, 5, 30)).astype(np.float32)  # (T, n, D)
    start = np.zeros((6, 5), dtype=bool)
    start[0] = True
    start[3, [1, 4]] = True  # two conversations restart at t=3
    _, logits, _ = gru_sequence(gru_pair.seed_params(0), np.zeros((5, 8), np.float32), obs, start)
    state = None
    for t in range(6):
        moves, state = policy.predict(obs[t], state, start[t], True)
        np.testing.assert_array_equal(moves, np.asarray(logits[t]).argmax(-1))
    assert state.shape == (5, 8)


def test_gru_state_resets_at_episode_start(tmp_path):
    params = init_gru(jax.random.PRNGKey(3), (16, 16), 8)
    path = save_model(tmp_path / "model.npz", params, {"algo": "gru_ppo_jax"})
    policy = JaxPolicy(path)
    obs = np.random.default_rng(2).random((4, 30)).astype(np.float32)
    _, fresh = policy.predict(obs, None, np.ones(4, bool))
    _, carried = policy.predict(obs, fresh, np.zeros(4, bool))
    assert not np.allclose(carried, fresh)  # the state carries memory
    _, restarted = policy.predict(obs, carried, np.ones(4, bool))
    np.testing.assert_array_equal(restarted, fresh)  # ... and is blank again at a conversation's start
    some = np.array([True, False, True, False])
    _, mixed = policy.predict(obs, carried, some)
    np.testing.assert_array_equal(mixed[some], fresh[some])
    _, kept = policy.predict(obs, carried, np.zeros(4, bool))
    np.testing.assert_array_equal(mixed[~some], kept[~some])


def test_a_bad_model_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="no JAX model"):
        JaxPolicy(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a JAX model"):
        JaxPolicy(tmp_path / "other.npz")


def test_ppo_learns_the_reasonable_customer():
    """On an easy customer, the mean training return rises well above where it starts (a property, not a score).

    60k steps, a few seconds; the margin is a fifth of the random-to-oracle gap (the rise is about half of it).
    """
    from difficult_customer.agents import PolicyContext
    from difficult_customer.agents.exact.memoryless_value import memoryless_value
    from difficult_customer.experiments.library.scores import reference_values

    config = JaxPPOConfig(algo="ppo_jax", persona="reasonable", steps=60_000, n_envs=32, n_steps=32,
                          curve_every=4096)
    result = train_seeds(config, seeds=[0])
    curve = np.array(result.curve(0))
    context = PolicyContext.create(persona="reasonable", max_turns=config.max_turns)
    refs = reference_values(context)
    margin = 0.2 * (refs["oracle"] - refs["random"])
    assert curve[-3:, 1].mean() > curve[0, 1] + margin
    import tempfile

    with tempfile.TemporaryDirectory() as out:
        policy = JaxPolicy(save_runs(result, out)[0])
        value = memoryless_value(policy, context).value
    assert value > refs["random"] + margin


def test_a_saved_jax_model_registers_like_any_policy_and_the_mlp_is_scored_exactly(tmp_path):
    from difficult_customer import agents
    from difficult_customer.agents.base import PolicyContext
    from difficult_customer.experiments.library.evaluation import is_memoryless, policy_value

    paths = {}
    for algo in ("ppo_jax", "gru_ppo_jax"):
        result = train_seeds(replace(TINY, algo=algo), seeds=[0])
        paths[algo] = save_runs(result, out=tmp_path)[0]
    mlp, gru = (agents.register_model(paths[a]) for a in ("ppo_jax", "gru_ppo_jax"))
    assert (mlp.algo, mlp.memory, mlp.kind) == ("ppo_jax", False, "learned")
    assert (gru.algo, gru.memory) == ("gru_ppo_jax", True)
    assert is_memoryless(mlp.name) and not is_memoryless(gru.name)
    context = PolicyContext.create(persona="mixture")
    assert policy_value(mlp.name, context)["source"] == "exact"
    sampled = policy_value(gru.name, context, mc_episodes=50)
    assert sampled["source"] == "monte carlo" and sampled["return_low"] < sampled["return_high"]
    obs = np.stack([CustomerEnv().reset(seed=s)[0] for s in range(8)])
    assert np.array_equal(agents.make(mlp.name, context).predict(obs)[0], JaxPolicy(paths["ppo_jax"]).predict(obs)[0])


def test_the_train_command_trains_jax_seeds_at_once_and_names_a_bad_setting(tmp_path, capsys):
    from difficult_customer.experiments.commands.train import Config, main

    tiny = ["n_envs=8", "n_steps=16", "epochs=1", "minibatches=2", "hidden=[16, 16]"]
    assert main(Config(algo="ppo_jax", steps=256, seeds=[0, 1], out=str(tmp_path), set=tiny)) == 0
    for seed in (0, 1):
        model = tmp_path / "ppo_jax" / "mixture" / f"seed{seed}" / "model.npz"
        assert load_model(model)[1]["seed"] == seed
    assert "2 seeds at" in capsys.readouterr().out
    assert main(Config(algo="gru_ppo_jax", out=str(tmp_path), set=["colour=3"])) == 2
    assert "unknown setting 'colour' for gru_ppo_jax; allowed: anneal_lr" in capsys.readouterr().err
