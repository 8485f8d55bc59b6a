"""Training with stable-baselines3: learns, saves, loads, resumes, rejects bad settings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from difficult_customer import agents
from difficult_customer.agents import PolicyContext
from difficult_customer.envs.customer_env import CustomerEnv
from difficult_customer.experiments.library.rollouts import run_episodes
from difficult_customer.experiments.library.stats import mean_ci
from difficult_customer.experiments.library.training import (
    TrainConfig,
    curve_source,
    evaluate_model,
    load_config_file,
    load_hyperparameters,
    parse_overrides,
    train,
)

pytest.importorskip("stable_baselines3")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    config = TrainConfig(algo="ppo", persona="mixture", steps=12_288, seed=0, eval_every=0, eval_episodes=50,
                         out=str(out))
    return config, train(config, progress=False)


@pytest.mark.slow
def test_a_quick_ppo_run_improves_on_random(quick_run):
    config, result = quick_run
    context = PolicyContext.create(persona="mixture", seed=0)
    seeds = range(77_000, 77_400)
    learned = [e.ret for e in run_episodes(result["policy"], context, seeds)]
    random = [e.ret for e in run_episodes("random", context, seeds)]
    _, learned_low, _ = mean_ci(learned)
    _, _, random_high = mean_ci(random)
    assert learned_low > random_high


@pytest.mark.slow
def test_a_saved_model_loads_as_a_policy_with_the_same_actions(quick_run):
    config, result = quick_run
    from stable_baselines3 import PPO

    original = PPO.load(result["model"], device="cpu")
    loaded = agents.make(result["policy"])
    env = CustomerEnv()
    obs = np.stack([env.reset(seed=s)[0] for s in range(64)])
    assert np.array_equal(original.predict(obs, deterministic=True)[0], loaded.predict(obs)[0])


@pytest.mark.slow
def test_a_memoryless_learners_curve_is_exact_and_a_memory_learners_is_sampled(quick_run, tmp_path):
    from difficult_customer.agents.exact.memoryless_value import memoryless_value

    config, result = quick_run
    assert result["curve_source"] == "exact"
    exact = memoryless_value(agents.make(result["policy"]), config.context()).value
    assert result["curve"][-1] == [config.steps, pytest.approx(exact, abs=1e-12)]
    assert result["final_return"] == pytest.approx(exact, abs=1e-12)
    # the same model played on its evaluation conversations lands near, not on, the exact value
    assert evaluate_model(agents.make(result["policy"]), config, episodes=50) != pytest.approx(exact, abs=1e-12)
    recurrent = TrainConfig(algo="recurrent_ppo", steps=256, eval_every=0, eval_episodes=8, out=str(tmp_path),
                            hyperparameters={"n_steps": 32, "batch_size": 64, "n_epochs": 1})
    assert curve_source(recurrent) == "sampled on 8 conversations"


@pytest.mark.slow
def test_a_finished_run_is_skipped_and_a_changed_one_reruns(quick_run, monkeypatch):
    config, result = quick_run
    assert train(config, progress=False) == result  # same settings: read back, not retrained
    curve = result["curve"]
    assert curve[0][0] == 0 and curve[-1][0] >= config.steps


def test_hyperparameters_come_from_yaml_and_overrides_are_checked():
    params = load_hyperparameters("ppo", {"learning_rate": 0.001})
    assert params["learning_rate"] == 0.001 and params["gamma"] == 1.0 and params["policy"] == "MlpPolicy"
    assert load_hyperparameters("recurrent_ppo")["policy"] == "MlpLstmPolicy"
    with pytest.raises(ValueError, match=r"unknown hyperparameter 'learning_rat' for ppo; allowed: .*learning_rate"):
        load_hyperparameters("ppo", {"learning_rat": 0.1})
    with pytest.raises(ValueError, match=r"unknown algorithm 'sac'"):
        load_hyperparameters("sac")
    assert parse_overrides(["n_steps=64", "policy_kwargs={net_arch: [32]}"]) == {
        "n_steps": 64, "policy_kwargs": {"net_arch": [32]}}
    with pytest.raises(ValueError, match="not key=value"):
        parse_overrides(["n_steps"])


@pytest.mark.parametrize("change, message", [({"algo": "sac"}, "unknown algorithm 'sac'"),
                                             ({"persona": "x"}, "unknown persona 'x'"),
                                             ({"steps": 0}, "steps=0"), ({"ablate": ["C0"]}, "unknown switch id")])
def test_bad_training_settings_are_named(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        train(TrainConfig(out=str(tmp_path), **change), progress=False)


def test_a_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="no trained model at"):
        agents.register_model(tmp_path / "nothing.zip", algo="ppo")
    with pytest.raises(ValueError, match=r"unknown policy '.*nothing\.zip'; allowed: random.*path of a trained model"):
        agents.make(str(tmp_path / "nothing.zip"))


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn", "recurrent_ppo"])
def test_every_algorithm_trains_saves_and_loads(tmp_path, algo):
    pytest.importorskip("sb3_contrib")
    config = TrainConfig(algo=algo, steps=600, n_envs=2, eval_every=0, eval_episodes=5, out=str(tmp_path))
    result = train(config, progress=False)
    saved = json.loads((tmp_path / algo / "mixture" / "seed0" / "config.json").read_text())
    assert saved["config"]["algo"] == algo and "torch" in saved["versions"]
    spec = agents.spec(result["policy"])
    assert (spec.kind, spec.algo, spec.decides_on) == ("learned", algo, "partial")
    assert spec.memory == (algo == "recurrent_ppo") and spec.path == tmp_path / algo / "mixture" / "seed0" / "model.zip"
    policy = agents.make(result["policy"])
    obs = np.stack([CustomerEnv().reset(seed=s)[0] for s in range(4)])
    actions, _ = policy.predict(obs, state=None, episode_start=np.ones(4, dtype=bool))
    assert actions.shape == (4,) and set(actions.tolist()) <= set(range(6))


def test_tensorboard_logs_on_request(tmp_path):
    pytest.importorskip("tensorboard")
    config = TrainConfig(steps=512, n_envs=2, eval_every=0, eval_episodes=3, out=str(tmp_path), tensorboard=True)
    train(config, progress=False)
    logs = list((tmp_path / "ppo" / "mixture" / "seed0" / "tensorboard").rglob("events.out.tfevents.*"))
    assert logs and logs[0].stat().st_size > 0


def test_belief_input_training_loads_as_an_observation_only_policy(tmp_path):
    from difficult_customer.agents.exact.belief_input import BeliefFeatures, BeliefInputPolicy

    config = TrainConfig(steps=512, n_envs=2, eval_every=0, eval_episodes=3, out=str(tmp_path), observation="belief")
    result = train(config, progress=False)
    assert "ppo-belief" in result["model"]
    spec = agents.spec(result["policy"])
    assert spec.decides_on == "belief" and spec.memory and spec.kind == "learned"
    policy = agents.make(result["policy"])
    assert isinstance(policy.model, BeliefInputPolicy)
    env = CustomerEnv()
    obs, _ = env.reset(seed=0)
    action, state = policy.predict(obs[None], state=None, episode_start=np.ones(1, dtype=bool))
    beliefs, moves = state
    assert moves.tolist() == action.tolist() and abs(float(beliefs[0].probs.sum()) - 1.0) < 1e-9
    obs, *_ = env.step(int(action[0]))
    action2, state2 = policy.predict(obs[None], state=state, episode_start=np.zeros(1, dtype=bool))
    features = BeliefFeatures(env.tables)
    assert features.features(state2[0][0]).shape == (features.size,)
    assert action2.shape == (1,)


def test_belief_vec_env_appends_the_filters_marginals():
    from difficult_customer.agents.exact.belief_input import BeliefFeatures, make_belief_vec_env
    from difficult_customer.customer_models import compile_model
    from difficult_customer.envs.sb3_vec_env import CustomerSB3VecEnv

    tables = compile_model("mixture")
    venv = make_belief_vec_env(CustomerSB3VecEnv(3), tables)
    venv.seed(0)
    obs = venv.reset()
    width = BeliefFeatures(tables).size
    assert obs.shape == (3, 30 + width)
    persona = obs[:, 30:33]
    assert np.allclose(persona.sum(1), 1.0)
    for _ in range(40):
        obs, _, dones, infos = venv.step(np.full(3, 4))  # set_boundary over and over: conversations end
        for i in np.flatnonzero(dones):
            assert infos[i]["terminal_observation"].shape == (30 + width,)
        assert np.allclose(obs[:, 30:33].sum(1), 1.0)


def test_belief_observation_is_refused_for_recurrent_ppo(tmp_path):
    with pytest.raises(ValueError, match="observation='belief' with recurrent_ppo"):
        train(TrainConfig(algo="recurrent_ppo", observation="belief", out=str(tmp_path)), progress=False)


def test_config_files_and_overrides_report_malformed_input(tmp_path, capsys):
    from difficult_customer.experiments import cli

    good = tmp_path / "good.yaml"
    good.write_text("learning_rate: 0.002\nn_epochs: 3\n")
    assert load_config_file(good) == {"learning_rate": 0.002, "n_epochs": 3}
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rate: [0.1\n")
    with pytest.raises(ValueError, match=r"bad\.yaml' is not valid YAML"):
        load_config_file(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="must hold a mapping"):
        load_config_file(listed)
    with pytest.raises(ValueError, match="does not exist"):
        load_config_file(tmp_path / "missing.yaml")
    with pytest.raises(ValueError, match="not valid YAML"):
        parse_overrides(["policy_kwargs={net_arch: [32"])
    assert cli.main(["train", "--config", str(bad), "--out", str(tmp_path)]) == 2
    assert "bad.yaml' is not valid YAML" in capsys.readouterr().err
    assert cli.main(["train", "--set", "learning_rat=0.1", "--out", str(tmp_path)]) == 2
    assert "unknown hyperparameter 'learning_rat' for ppo" in capsys.readouterr().err
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("learning_rate: 0.002\nlerning_rate: 0.1\n")
    assert cli.main(["train", "--config", str(unknown), "--out", str(tmp_path)]) == 2
    assert "unknown hyperparameter 'lerning_rate' for ppo" in capsys.readouterr().err
    assert not list(tmp_path.rglob("model.zip"))  # nothing was trained


def test_a_config_file_and_set_reach_the_run(tmp_path):
    from difficult_customer.experiments import cli

    overrides = tmp_path / "over.yaml"
    overrides.write_text("learning_rate: 0.002\nn_epochs: 3\n")
    config = cli.parse("train", ["--config", str(overrides), "--set", "n_epochs=2", "--seeds", "4", "5",
                                 "--steps", "256", "--out", str(tmp_path)])
    runs = config.runs()
    assert [r.seed for r in runs] == [4, 5] and all(r.steps == 256 for r in runs)
    assert runs[0].hyperparameters == {"learning_rate": 0.002, "n_epochs": 2}  # --set wins over --config


def test_a_zoo_format_file_is_read_as_overrides(tmp_path):
    zoo = tmp_path / "zoo.yml"
    zoo.write_text("DifficultCustomer-v0:\n  n_envs: 4\n  n_timesteps: !!float 1e4\n  learning_rate: 0.003\n")
    assert load_config_file(zoo) == {"learning_rate": 0.003}


def test_trained_policies_are_named_in_words_on_the_progress_bars(tmp_path, monkeypatch):
    from difficult_customer.experiments.library.budgets import Budget
    from difficult_customer.experiments.library.sweep import trainings

    descriptions = []

    class Bar:
        def update(self, n: int = 1) -> None: ...

        def set_description(self, text: str) -> None:
            descriptions.append(text)

        def close(self) -> None: ...

    monkeypatch.setattr(trainings, "_ray_installed", lambda: False)  # the in-process path, which has the bar
    monkeypatch.setattr(trainings, "progress_bar", lambda *args, **kwargs: Bar())
    budget = Budget({"ppo": (128, 1)}, eval_episodes=4, curve_every=128, curve_episodes=4)
    results = trainings.train_all(budget, out=tmp_path, persona="belligerent", ablate=["C4"], n_envs=2)
    (result,) = results["ppo"]
    name = "ppo seed 0 on belligerent with C4 off"
    assert descriptions == [f"training {name}"]
    assert result["policy"] == name and agents.spec(name).name == name  # what an evaluation's bar shows
    assert agents.spec(name).path == Path(result["model"]) and agents.spec(name).learned
    again = trainings.train_all(budget, out=tmp_path, persona="belligerent", ablate=["C4"], n_envs=2)
    assert again["ppo"][0]["policy"] == name  # the same model keeps its name
    elsewhere = trainings.train_all(budget, out=tmp_path / "other", persona="belligerent", ablate=["C4"], n_envs=2)
    assert elsewhere["ppo"][0]["policy"] == f"{name} #2"  # another model never takes a name in use


def test_policy_names_say_the_learner_seed_persona_switches_and_sample():
    from difficult_customer.experiments.library.training import policy_name

    assert policy_name(TrainConfig(algo="a2c", seed=3)) == "a2c seed 3"
    assert policy_name(TrainConfig(observation="belief", seed=1, ablate=["C6", "A1"])) == \
        "ppo_belief seed 1 with A1, C6 off"
    sampled = TrainConfig(sample={"variant": "guide_only", "x": []})
    assert policy_name(sampled) == f"ppo seed 0 on sampled model {sampled.key()[:8]}"
