"""Training stable-baselines3 agents as library code: one run (:func:`train`) or a budget's worth (:func:`train_all`).

Hyperparameters come from ``experiments/configs/<algo>.yaml``, written in
rl-baselines3-zoo's format (nested under the env id, so the zoo trains with the same
file), and are overridden per run. A run writes, in its own folder
``<out>/<algo>/<persona>[__ablate-C4]/seed<seed>/``: ``model.zip``, ``config.json``
(everything needed to reproduce it, versions included), ``curve.json`` (evaluation
returns against environment steps) and last ``result.json``, atomically. A run whose
``result.json`` matches its settings is skipped, so repeating an interrupted command
continues where it stopped.
"""

from __future__ import annotations

import copy
import hashlib
import json
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.agents import PolicyContext
from difficult_customer.agents.learned import ALGORITHMS, algorithm_class
from difficult_customer.customer_models import PERSONA_NAMES, check_ablate
from difficult_customer.envs import ENV_ID
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.budgets import Budget, train_eval_seeds, training_seeds
from difficult_customer.experiments.library.io import atomic_write_json, read_json
from difficult_customer.experiments.library.progress import progress_bar
from difficult_customer.experiments.library.rollouts import run_episodes

ZOO_ONLY_KEYS = ("n_envs", "n_timesteps", "normalize", "env_wrapper", "vec_env_wrapper", "frame_stack", "callback",
                 "env_kwargs", "monitor_kwargs")
"""Keys of a zoo hyperparameter entry that configure the zoo's run, not the algorithm."""


def load_hyperparameters(algo: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The versioned YAML hyperparameters of ``algo`` with ``overrides`` applied.

    Raises:
        ValueError: for an unknown algorithm, a malformed file, or an override key the
            algorithm does not take (listing the keys it takes).
    """
    import inspect

    import yaml

    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; allowed: {', '.join(ALGORITHMS)}")
    text = resources.files("difficult_customer.experiments").joinpath("configs", f"{algo}.yaml").read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"configs/{algo}.yaml is not valid YAML: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get(ENV_ID), dict):
        raise ValueError(f"configs/{algo}.yaml must hold {ENV_ID}: a mapping of hyperparameter -> value "
                         "(rl-baselines3-zoo's format)")
    params = {k: v for k, v in data[ENV_ID].items() if k not in ZOO_ONLY_KEYS}
    params.update(overrides or {})
    allowed = set(inspect.signature(algorithm_class(algo).__init__).parameters) - {"self", "env"}
    for key in params:
        if key not in allowed:
            raise ValueError(f"unknown hyperparameter {key!r} for {algo}; allowed: {', '.join(sorted(allowed))}")
    return params


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["learning_rate=1e-3", "policy_kwargs={net_arch: [32]}"]`` -> dict (values parsed as YAML)."""
    import yaml

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ValueError(f"override {item!r}: the value is not valid YAML ({err})") from err
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Hyperparameter overrides from a YAML file of ``key: value`` lines.

    A file in rl-baselines3-zoo's format (one entry, the env id, holding the mapping) is
    read too; the zoo's own keys (``n_envs``, ``n_timesteps``, ...) are left out.

    Raises:
        ValueError: naming the file if it is missing, malformed, or not a mapping.
    """
    import yaml

    path = Path(path)
    if not path.exists():
        raise ValueError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"config file {str(path)!r} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of hyperparameter -> value, "
                         f"not {type(data).__name__}")
    if list(data) == [ENV_ID] and isinstance(data[ENV_ID], dict):
        data = {k: v for k, v in data[ENV_ID].items() if k not in ZOO_ONLY_KEYS}
    return data


@dataclass
class TrainConfig:
    """One training run."""

    algo: str = "ppo"
    """One of ppo, a2c, dqn, recurrent_ppo."""
    persona: str = "mixture"
    """Persona or mixture to train on."""
    ablate: list[str] = field(default_factory=list)
    """Claim ids switched off in the customer model."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of each conversation."""
    steps: int = 100_000
    """Environment steps to train for."""
    seed: int = 0
    """Seed of the model, its environments and its policy."""
    n_envs: int = 8
    """Environments stepped together (the natively batched env)."""
    observation: str = "partial"
    """What the agent gets: ``partial`` (the env's observation) or ``belief`` (plus the exact Bayes
    filter's marginals over the hidden state, computed from the observation history; see
    ``difficult_customer.agents.exact.belief_input``)."""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    """Overrides of the YAML hyperparameters."""
    sample: dict[str, Any] = field(default_factory=dict)
    """A model drawn by the sensitivity analysis instead of the named persona: ``{"variant": "default" or
    "guide_only", "x": [one value per sampled parameter]}`` (``experiments.library.sensitivity.space_for``)."""
    eval_every: int = 10_000
    """Steps between evaluations for the learning curve (0: only at the end)."""
    eval_episodes: int = 200
    """Conversations per evaluation."""
    out: str = "runs"
    """Folder of the run folders."""
    tensorboard: bool = False
    """Also write TensorBoard logs into the run folder."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        if self.algo not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algo!r}; allowed: {', '.join(ALGORITHMS)}")
        if self.persona not in PERSONA_NAMES:
            raise ValueError(f"unknown persona {self.persona!r}; allowed: {', '.join(PERSONA_NAMES)}")
        check_ablate(self.ablate)
        if self.observation not in ("partial", "belief"):
            raise ValueError(f"observation={self.observation!r}; allowed: partial, belief")
        if self.observation == "belief" and self.algo == "recurrent_ppo":
            raise ValueError("observation='belief' with recurrent_ppo; allowed: ppo, a2c, dqn (the belief is the memory)")
        for name in ("steps", "n_envs", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}; allowed is an integer >= 1")
        if self.sample:
            self.sampled_model()  # names a bad variant, a wrong number of values or a value out of range

    def sampled_model(self) -> Any:
        """The :class:`~difficult_customer.customer_models.Mixture` of :attr:`sample`.

        Raises:
            ValueError: for missing keys, an unknown variant, or values that do not fit its parameters.
        """
        from difficult_customer.experiments.library.sensitivity import space_for

        missing = {"variant", "x"} - set(self.sample)
        if missing:
            raise ValueError(f"sample={self.sample!r} lacks {sorted(missing)}; allowed: {{'variant': ..., 'x': [...]}}")
        space = space_for(self.sample["variant"])
        if len(self.sample["x"]) != len(space.specs):
            raise ValueError(f"sample has {len(self.sample['x'])} values; variant {self.sample['variant']!r} "
                             f"samples {len(space.specs)} parameters")
        return space.model(self.sample["x"], name=f"sample-{self.key()}")

    def context(self) -> PolicyContext:
        """The environment the run trains in."""
        persona = self.sampled_model() if self.sample else self.persona
        return PolicyContext.create(persona=persona, ablate=self.ablate, max_turns=self.max_turns, seed=self.seed)

    def key(self) -> str:
        """A digest of every setting that changes the result (not the output folder)."""
        settings = {k: v for k, v in asdict(self).items() if k not in ("out", "tensorboard")}
        return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_dir(config: TrainConfig) -> Path:
    """The folder of one run."""
    tag = (f"sample-{config.key()}" if config.sample else config.persona) + (
        "__ablate-" + "-".join(sorted(config.ablate)) if config.ablate else "")
    algo = config.algo + ("-belief" if config.observation == "belief" else "")
    return Path(config.out) / algo / tag / f"seed{config.seed}"


def evaluate_model(model: Any, config: TrainConfig, episodes: int | None = None) -> float:
    """Mean return of the deterministic policy on fixed evaluation seeds."""
    seeds = train_eval_seeds(episodes or config.eval_episodes)
    if config.observation == "belief":
        from difficult_customer.agents.exact.belief_input import BeliefInputPolicy

        model = BeliefInputPolicy(model, config.context().tables)
    eps = run_episodes(model, config.context(), seeds)
    return float(np.mean([e.ret for e in eps]))


def make_training_env(config: TrainConfig) -> Any:
    """The SB3 VecEnv to train on: the natively batched env through its SB3 adapter.

    One env or many, the customers are stepped together with numpy
    (``difficult_customer.envs.sb3_vec_env.CustomerSB3VecEnv``); the model seeds it.
    """
    from difficult_customer.envs.sb3_vec_env import CustomerSB3VecEnv

    context = config.context()
    env = CustomerSB3VecEnv(config.n_envs, **context.env_kwargs())
    if config.observation == "belief":
        from difficult_customer.agents.exact.belief_input import make_belief_vec_env

        env = make_belief_vec_env(env, context.tables)
    return env


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on."""
    import gymnasium
    import stable_baselines3
    import torch

    out = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "torch": torch.__version__,
    }
    try:
        import sb3_contrib

        out["sb3_contrib"] = sb3_contrib.__version__
    except ImportError:
        pass
    return out


def train(config: TrainConfig, progress: bool = True) -> dict[str, Any]:
    """Train one run, or return its saved result if it already finished with these settings.

    Returns:
        The result: ``final_return``, ``curve`` ([(steps, mean return), ...]), ``model``
        (path), ``policy`` (the name ``agents.make`` builds it by: the model's path),
        ``wall_seconds``, ``config``.
    """
    config.validate()
    folder = run_dir(config)
    done = read_json(folder / "result.json")
    if done is not None and done.get("key") == config.key():
        done.setdefault("policy", done["model"])  # result files written before policies were named by path
        return done

    import torch
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.utils import set_random_seed

    torch.set_num_threads(1)  # reproducible, and leaves the other core to a parallel run
    set_random_seed(config.seed)
    params = load_hyperparameters(config.algo, config.hyperparameters)
    policy = params.pop("policy")
    env = make_training_env(config)
    algo_cls = algorithm_class(config.algo)
    tb = str(folder / "tensorboard") if config.tensorboard else None
    model = algo_cls(policy, env, seed=config.seed, device="cpu", verbose=0, tensorboard_log=tb,
                     **copy.deepcopy(params))  # SB3 may add classes to policy_kwargs in place
    curve: list[list[float]] = []

    class Curve(BaseCallback):
        def _on_step(self) -> bool:
            if config.eval_every and self.num_timesteps % config.eval_every < env.num_envs:
                curve.append([int(self.num_timesteps), evaluate_model(self.model, config)])
                atomic_write_json(folder / "curve.json", curve)
            return True

    atomic_write_json(folder / "config.json", {"config": asdict(config), "hyperparameters": {**params, "policy": policy},
                                                "versions": versions()})
    started = time.perf_counter()
    curve.append([0, evaluate_model(model, config)])
    model.learn(total_timesteps=config.steps, callback=Curve(), progress_bar=progress and _has_progress_bar())
    final = evaluate_model(model, config)
    if not curve or curve[-1][0] != model.num_timesteps:
        curve.append([int(model.num_timesteps), final])
    wall = time.perf_counter() - started
    model_path = folder / "model.zip"
    tmp = folder / "model.tmp.zip"
    model.save(str(tmp))
    tmp.replace(model_path)
    env.close()
    result = {
        "key": config.key(),
        "config": asdict(config),
        "final_return": final,
        "curve": curve,
        "model": str(model_path),
        "policy": str(model_path),
        "wall_seconds": wall,
    }
    atomic_write_json(folder / "curve.json", curve)
    atomic_write_json(folder / "result.json", result)
    return result


def _has_progress_bar() -> bool:
    try:
        import rich  # noqa: F401
        import tqdm  # noqa: F401
    except ImportError:
        return False
    return sys.stderr.isatty()


def split_learner(learner: str) -> tuple[str, str]:
    """``"ppo_belief"`` -> ``("ppo", "belief")``; ``"ppo"`` -> ``("ppo", "partial")``."""
    if learner.endswith("_belief"):
        return learner[: -len("_belief")], "belief"
    return learner, "partial"


def _train_one(config: TrainConfig) -> dict[str, Any]:
    return train(config, progress=False)


def budget_runs(budget: Budget, *, out: str | Path, seed: int = 0, persona: str = "mixture",
                ablate: Sequence[str] = (), max_turns: int = DEFAULT_MAX_TURNS,
                n_envs: int = 8) -> list[tuple[str, TrainConfig]]:
    """Every training run of ``budget``, as (learner, run settings) pairs, seeds from :func:`training_seeds`."""
    runs = []
    for learner, (steps, n_seeds) in budget.learners.items():
        algo, observation = split_learner(learner)
        for run_seed in training_seeds(seed, n_seeds):
            runs.append((learner, TrainConfig(
                algo=algo, observation=observation, persona=persona, ablate=list(ablate), max_turns=max_turns,
                steps=steps, seed=run_seed, n_envs=n_envs, eval_every=budget.curve_every,
                eval_episodes=budget.curve_episodes, out=str(Path(out) / "runs"),
            )))
    return runs


def train_all(budget: Budget, *, out: str | Path, seed: int = 0, persona: str = "mixture",
              ablate: Sequence[str] = (), max_turns: int = DEFAULT_MAX_TURNS, n_envs: int = 8,
              workers: int = 2, progress: bool = True) -> dict[str, list[dict[str, Any]]]:
    """Train (or reuse) every run of ``budget``; returns learner -> run results.

    The runs go through the sweep engine (:func:`~experiments.library.sweep.run_trainings`):
    results and models are kept in the study store ``<out>/runs`` (SQLite rows plus
    artifacts), one Ray task per run with ``workers`` CPUs, and a run already in the store
    is not trained again, so an interrupted command resumes. Without Ray installed (the
    ``sweep`` extra) the runs are trained one after the other in this process, into the
    same run folders :func:`train` uses.

    Args:
        workers: CPUs the runs are spread over (1: one run at a time).

    Returns:
        Per learner, one dict per seed with ``final_return``, ``curve``, ``config``,
        ``model`` and ``policy`` (the model's path, the name ``agents.make`` builds it by)
        and ``wall_seconds``.

    Raises:
        ValueError: for bad settings, before anything is trained.
    """
    import importlib.util

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers={workers!r}; allowed is an integer >= 1")
    runs = budget_runs(budget, out=out, seed=seed, persona=persona, ablate=ablate, max_turns=max_turns, n_envs=n_envs)
    for _, config in runs:
        config.validate()
    results: dict[str, list[dict[str, Any]]] = {learner: [] for learner in budget.learners}
    if importlib.util.find_spec("ray") is not None:
        from difficult_customer.experiments.library.sweep import run_trainings

        done = run_trainings([config for _, config in runs], Path(out) / "runs", num_cpus=workers,
                             progress=progress, study="report")
        for (learner, _), result in zip(runs, done, strict=True):
            results[learner].append({**result, "policy": result["model"]})
        return results
    bar = progress_bar(len(runs), "training", enabled=progress)
    try:
        for learner, config in runs:
            results[learner].append(_train_one(config))
            bar.update(1)
    finally:
        bar.close()
    return results
