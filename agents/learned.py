"""Trained stable-baselines3 models as registered policies: ``difficult_customer.agents.make("ppo:path.zip")``.

Prefixes: ``ppo``, ``a2c``, ``dqn`` (stable-baselines3) and ``recurrent_ppo``
(sb3-contrib). The model is loaded on the CPU; its ``predict`` already follows the
interface, including the recurrent state of ``recurrent_ppo``. Needs the ``train``
extra; the import happens only when such a name is asked for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.agents.base import PolicyContext

ALGORITHMS: dict[str, tuple[str, str]] = {
    "ppo": ("stable_baselines3", "PPO"),
    "a2c": ("stable_baselines3", "A2C"),
    "dqn": ("stable_baselines3", "DQN"),
    "recurrent_ppo": ("sb3_contrib", "RecurrentPPO"),
}


def algorithm_class(algo: str) -> Any:
    """The SB3 class of an algorithm name.

    Raises:
        ValueError: for an unknown algorithm name.
        ImportError: with an install hint if the train extra is missing.
    """
    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; allowed: {', '.join(ALGORITHMS)}")
    module_name, class_name = ALGORITHMS[algo]
    try:
        module = __import__(module_name, fromlist=[class_name])
    except ImportError as err:  # pragma: no cover - depends on the install
        raise ImportError(
            f"{algo} needs {module_name}; install the train extra: pip install 'difficult-customer[train]'"
        ) from err
    return getattr(module, class_name)


class LearnedPolicy:
    """A trained model behind the common interface.

    A model trained with ``observation="belief"`` (its ``config.json`` beside it says so)
    is wrapped so that it takes plain observations and tracks the belief itself.
    """

    def __init__(self, algo: str, path: str | Path) -> None:
        path = Path(path)
        if not path.exists() and not path.with_suffix(".zip").exists():
            raise ValueError(f"no trained model at {str(path)!r}")
        self.algo = algo
        self.path = path
        self.model = algorithm_class(algo).load(str(path), device="cpu")
        self.name = f"{algo}:{path}"
        saved = path.parent / "config.json"
        config = json.loads(saved.read_text())["config"] if saved.exists() else {}
        if config.get("observation") == "belief":
            from difficult_customer.agents.exact.belief_input import BeliefInputPolicy
            from difficult_customer.customer_models import compile_model

            self.model = BeliefInputPolicy(self.model, compile_model(config["persona"], config["ablate"]))

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        return self.model.predict(observation, state=state, episode_start=episode_start, deterministic=deterministic)


def loader(algo: str):
    def load(argument: str, context: PolicyContext) -> LearnedPolicy:
        return LearnedPolicy(algo, argument)

    return load
