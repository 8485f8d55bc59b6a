"""How fast the learners train here: SB3 against the compiled JAX trainer, MLP and recurrent, in one run.

Each measurement trains for a fixed number of environment steps and divides by the wall
time of learning alone (SB3: ``model.learn``; JAX: the compiled program's run, all seeds
together, compilation timed apart). SB3 needs the ``train`` extra, JAX the ``jax`` extra;
a learner whose extra is missing is reported as not measured.
"""

from __future__ import annotations

import multiprocessing
import time
from dataclasses import dataclass

from difficult_customer.agents.learned import algorithm_class
from difficult_customer.experiments.library.training import load_hyperparameters

JAX_SEEDS = 10
"""Seeds the JAX trainer runs at once (vmapped), as a study of ten seeds would."""


@dataclass(frozen=True)
class TrainingSpeed:
    """Environment steps per second of one learner (``None`` when its extra is missing)."""

    name: str
    steps_per_second: float | None
    seeds: int = 1
    compile_seconds: float = 0.0
    note: str = ""


def sb3_speed(algo: str, n_envs: int, steps: int, seed: int = 0) -> TrainingSpeed:
    """SB3 ``learn`` steps/s of ``algo`` (its YAML hyperparameters) on ``n_envs`` batched customers."""
    name = f"SB3 {algo}, {n_envs} envs"
    try:
        import torch  # the train extra

        from difficult_customer.envs.sb3_vec_env import CustomerSB3VecEnv  # needs the train extra too
    except ImportError:
        return TrainingSpeed(name, None, note="not measured: the train extra is missing")
    torch.set_num_threads(1)
    params = load_hyperparameters(algo, {})
    policy = params.pop("policy")
    if "n_steps" in params:
        params["n_steps"] = max(8, min(params["n_steps"], steps // n_envs))
        params["batch_size"] = min(params.get("batch_size", 64), params["n_steps"] * n_envs)
    model = algorithm_class(algo)(policy, CustomerSB3VecEnv(n_envs), seed=seed, device="cpu", verbose=0, **params)
    started = time.perf_counter()
    model.learn(steps)
    return TrainingSpeed(name, model.num_timesteps / (time.perf_counter() - started))


def _jax_run(algo: str, steps_per_seed: int, seeds: int) -> TrainingSpeed:
    name = f"JAX {algo}, {seeds} seeds at once"
    try:
        from difficult_customer.experiments.library.jax_ppo import JaxPPOConfig, train_seeds  # the jax extra
    except ImportError:
        return TrainingSpeed(name, None, seeds, note="not measured: the jax extra is missing")
    # one curve point per run: the loop's shape does not depend on where the curve is read
    result = train_seeds(JaxPPOConfig(algo=algo, steps=steps_per_seed, curve_every=steps_per_seed), range(seeds))
    return TrainingSpeed(name, result.steps_per_second, seeds, result.compile_seconds)


def jax_speed(algo: str, steps_per_seed: int, seeds: int = JAX_SEEDS) -> TrainingSpeed:
    """The compiled JAX PPO's steps/s over ``seeds`` vmapped seeds (compilation timed apart).

    Measured in a fresh process, a fair start for each learner (no compiled programs or
    thread pools left by the SB3 rows).
    """
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_jax_run, (algo, steps_per_seed, seeds))


__all__ = ["JAX_SEEDS", "TrainingSpeed", "jax_speed", "sb3_speed"]
