"""rl-baselines3-zoo: the hyperparameter files are in the zoo's format, and the zoo trains with them."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import numpy as np
import pytest

from difficult_customer import agents
from difficult_customer.agents.learned import ALGORITHMS
from difficult_customer.envs import ENV_ID
from difficult_customer.envs.customer_env import CustomerEnv

yaml = pytest.importorskip("yaml")
pytest.importorskip("stable_baselines3")

ZOO_ALGO = {"ppo": "ppo", "a2c": "a2c", "dqn": "dqn", "recurrent_ppo": "ppo_lstm"}
"""Our algorithm names -> the zoo's --algo names."""


def config_file(algo: str):
    return resources.files("difficult_customer.experiments").joinpath("configs", f"{algo}.yaml")


@pytest.mark.parametrize("algo", list(ALGORITHMS))
def test_every_hyperparameter_file_is_in_the_zoos_format(algo):
    from difficult_customer.experiments.library.training import ZOO_ONLY_KEYS, load_hyperparameters

    data = yaml.safe_load(config_file(algo).read_text(encoding="utf-8"))
    assert list(data) == [ENV_ID], "one entry, under the env id, as in the zoo's hyperparams/<algo>.yml"
    entry = data[ENV_ID]
    assert isinstance(entry["n_timesteps"], float | int) and entry["n_timesteps"] > 0  # the zoo requires it
    assert isinstance(entry["policy"], str)
    params = load_hyperparameters(algo)  # every other key is a keyword argument of the algorithm
    assert params == {k: v for k, v in entry.items() if k not in ZOO_ONLY_KEYS}
    assert params["gamma"] == 1.0


@pytest.mark.slow
def test_the_zoo_trains_with_the_shipped_file(tmp_path):
    pytest.importorskip("rl_zoo3")
    command = [sys.executable, "-m", "rl_zoo3.train", "--algo", ZOO_ALGO["ppo"], "--env", ENV_ID,
               "--gym-packages", "difficult_customer.envs", "-conf", str(config_file("ppo")),
               "-n", "2048", "-f", str(tmp_path), "--eval-freq", "-1", "--seed", "0", "--num-threads", "1",
               "--device", "cpu", "--verbose", "0"]
    subprocess.run(command, check=True, capture_output=True, text=True, timeout=600)
    run = tmp_path / "ppo" / f"{ENV_ID}_1"
    used = yaml.unsafe_load((run / ENV_ID / "config.yml").read_text())  # the zoo saves an OrderedDict
    assert dict(used)["learning_rate"] == 0.001 and dict(used)["gamma"] == 1.0  # our file, not the zoo's defaults
    spec = agents.register_model(run / f"{ENV_ID}.zip", algo="ppo", name=f"zoo-{tmp_path.name}")
    assert spec.kind == "learned"
    obs = np.stack([CustomerEnv().reset(seed=s)[0] for s in range(8)])
    actions, _ = agents.make(spec.name).predict(obs)
    assert actions.shape == (8,) and set(actions.tolist()) <= set(range(6))
