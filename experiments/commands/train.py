"""Train stable-baselines3 agents on the difficult customer, resumably.

``difficult-customer train --algo ppo --persona mixture --steps 100000 --seed 0``

Hyperparameters come from ``experiments/configs/<algo>.yaml`` (versioned with the code)
and are overridden with ``--set key=value``. A run writes, in its own folder
``<out>/<algo>/<persona>[__ablate-C4]/seed<seed>/``: ``model.zip``, ``config.json``
(everything needed to reproduce it, versions included), ``curve.json`` (evaluation
returns against environment steps) and last ``result.json``, atomically. A run whose
``result.json`` matches its settings is skipped, so repeating an interrupted command
continues where it stopped.
"""

from __future__ import annotations

import argparse
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
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.io import atomic_write_json, read_json
from difficult_customer.experiments.library.rollouts import run_episodes

EVAL_SEED_BASE = 900_000_000
"""Evaluation conversations during training use seeds from here (apart from the benchmark's)."""


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
        params = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"configs/{algo}.yaml is not valid YAML: {err}") from err
    if not isinstance(params, dict):
        raise ValueError(f"configs/{algo}.yaml must hold a mapping of hyperparameter -> value")
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
    steps: int = 100_000
    """Environment steps to train for."""
    seed: int = 0
    n_envs: int = 8
    """Environments stepped together (the natively batched env)."""
    observation: str = "partial"
    """What the agent gets: ``partial`` (the env's observation) or ``belief`` (plus the exact Bayes
    filter's marginals over the hidden state, computed from the observation history; see
    ``difficult_customer.agents.exact.belief_input``)."""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    """Overrides of the YAML hyperparameters."""
    eval_every: int = 10_000
    """Steps between evaluations for the learning curve (0: only at the end)."""
    eval_episodes: int = 200
    """Conversations per evaluation."""
    out: str = "runs"
    tensorboard: bool = False
    """Also write TensorBoard logs into the run folder."""

    def validate(self) -> None:
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

    def context(self) -> PolicyContext:
        return PolicyContext.create(persona=self.persona, ablate=self.ablate, max_turns=self.max_turns, seed=self.seed)

    def key(self) -> str:
        settings = {k: v for k, v in asdict(self).items() if k not in ("out", "tensorboard")}
        return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_dir(config: TrainConfig) -> Path:
    tag = config.persona + ("__ablate-" + "-".join(sorted(config.ablate)) if config.ablate else "")
    algo = config.algo + ("-belief" if config.observation == "belief" else "")
    return Path(config.out) / algo / tag / f"seed{config.seed}"


def evaluate_model(model: Any, config: TrainConfig, episodes: int | None = None) -> float:
    """Mean return of the deterministic policy on fixed evaluation seeds."""
    n = episodes or config.eval_episodes
    seeds = range(EVAL_SEED_BASE, EVAL_SEED_BASE + n)
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
        (path), ``wall_seconds``, ``config``.
    """
    config.validate()
    folder = run_dir(config)
    done = read_json(folder / "result.json")
    if done is not None and done.get("key") == config.key():
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
        "policy_name": f"{config.algo}:{model_path}",
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


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="difficult-customer train", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--algo", default=d.algo, choices=list(ALGORITHMS))
    p.add_argument("--persona", default=d.persona)
    p.add_argument("--ablate", nargs="*", default=[])
    p.add_argument("--max-turns", type=int, default=d.max_turns)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--seeds", type=int, nargs="+", default=[d.seed], help="one run per seed")
    p.add_argument("--n-envs", type=int, default=d.n_envs)
    p.add_argument("--observation", default=d.observation, choices=["partial", "belief"],
                   help="belief: append the exact Bayes filter's marginals (from the observation history)")
    p.add_argument("--config", default=None, metavar="FILE", help="YAML file of hyperparameter overrides")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="hyperparameter overrides (YAML values)")
    p.add_argument("--eval-every", type=int, default=d.eval_every)
    p.add_argument("--eval-episodes", type=int, default=d.eval_episodes)
    p.add_argument("--out", default=d.out)
    p.add_argument("--tensorboard", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        overrides = {**(load_config_file(args.config) if args.config else {}), **parse_overrides(args.set)}
        for seed in args.seeds:
            config = TrainConfig(
                algo=args.algo, persona=args.persona, ablate=list(args.ablate), max_turns=args.max_turns,
                steps=args.steps, seed=seed, n_envs=args.n_envs, observation=args.observation,
                hyperparameters=overrides,
                eval_every=args.eval_every, eval_episodes=args.eval_episodes, out=args.out,
                tensorboard=args.tensorboard,
            )
            load_hyperparameters(config.algo, overrides)  # fail before training on a bad key
            result = train(config)
            print(f"{config.algo} seed {seed}: final mean return {result['final_return']:+.3f} "
                  f"({result['wall_seconds']:.0f} s) -> {result['model']}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
