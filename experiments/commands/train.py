"""Train agents on the difficult customer: stable-baselines3 (resumably), or the compiled JAX PPO.

Example: difficult-customer train --algo ppo --persona mixture --steps 100000 --seeds 0 1 2

``--algo ppo_jax`` (an MLP) and ``--algo gru_ppo_jax`` (a GRU over the observation history)
train every seed at once in one compiled JAX program (the ``jax`` extra); ``--set`` then
sets the fields of ``JaxPPOConfig`` (e.g. ``--set lr=3e-4 minibatches=4``), and each seed's
``model.npz`` loads as a policy like a ``model.zip``.

Hyperparameters come from experiments/configs/<algo>.yaml (rl-baselines3-zoo's format,
versioned with the code), then a --config FILE of overrides, then --set key=value. Each
run writes model.zip, config.json, curve.json and result.json into
<out>/<algo>/<persona>[__ablate-C4]/seed<seed>/; a run that already finished with the
same settings is skipped, so repeating an interrupted command continues where it stopped.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields
from typing import Any, Literal

from difficult_customer.agents.jax_models import JAX_ALGORITHMS
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.training import (
    TrainConfig,
    load_config_file,
    load_hyperparameters,
    parse_overrides,
    run_dir,
    train,
)

__all__ = ["Config", "TrainConfig", "load_hyperparameters", "main", "run_dir", "train"]


@dataclass
class Config:
    """Settings of ``difficult-customer train``: one run per seed."""

    algo: Literal["ppo", "a2c", "dqn", "recurrent_ppo", "ppo_jax", "gru_ppo_jax"] = "ppo"
    """Algorithm: ppo, a2c, dqn (stable-baselines3), recurrent_ppo (sb3-contrib), or the compiled JAX PPO with
    an MLP (ppo_jax) or a GRU (gru_ppo_jax), all seeds trained at once."""
    persona: str = "mixture"
    """Persona or mixture to train on."""
    ablate: list[str] = field(default_factory=list)
    """Claims (C1-C10) or other switches of the customer model to turn off, e.g. C4 C6."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of each conversation."""
    steps: int = 100_000
    """Environment steps per run."""
    seeds: list[int] = field(default_factory=lambda: [0])
    """Training seeds: one run per seed."""
    n_envs: int = 8
    """Environments stepped together (the natively batched env)."""
    observation: Literal["partial", "belief"] = "partial"
    """What the agent gets: partial (the env's observation) or belief (plus the exact Bayes filter's marginals,
    computed from the observation history)."""
    config: str | None = None
    """YAML file of hyperparameter overrides (key: value lines, or a zoo file nested under DifficultCustomer-v0)."""
    set: list[str] = field(default_factory=list)
    """Hyperparameter overrides as KEY=VALUE (values parsed as YAML), applied after --config."""
    eval_every: int = 10_000
    """Steps between learning-curve evaluations (0: only at the start and the end)."""
    eval_episodes: int = 200
    """Conversations per learning-curve evaluation."""
    out: str = "runs"
    """Folder of the run folders."""
    tensorboard: bool = False
    """Also write TensorBoard logs into each run folder."""
    progress: bool = True
    """Show SB3's progress bar (when stderr is a terminal)."""

    def overrides(self) -> dict[str, Any]:
        """The settings of --config, then --set (later wins).

        Raises:
            ValueError: for a bad file or override.
        """
        return {**(load_config_file(self.config) if self.config else {}), **parse_overrides(self.set)}

    def runs(self) -> list[TrainConfig]:
        """The run settings, one per seed, with the overrides of --config and --set.

        Raises:
            ValueError: for a bad setting, file, override or hyperparameter name, before training.
        """
        overrides = self.overrides()
        if not self.seeds:
            raise ValueError("seeds=[]; allowed is one or more integers")
        runs = [TrainConfig(algo=self.algo, persona=self.persona, ablate=list(self.ablate), max_turns=self.max_turns,
                            steps=self.steps, seed=seed, n_envs=self.n_envs, observation=self.observation,
                            hyperparameters=overrides, eval_every=self.eval_every,
                            eval_episodes=self.eval_episodes, out=self.out, tensorboard=self.tensorboard)
                for seed in self.seeds]
        for run in runs:
            run.validate()
        load_hyperparameters(self.algo, overrides)  # an unknown key is named before anything trains
        return runs


    def jax_config(self) -> Any:
        """The ``JaxPPOConfig`` of a JAX algorithm, with --config and --set applied to its fields.

        Raises:
            ValueError: for a field it does not have, naming the allowed ones, or a bad value.
        """
        from difficult_customer.experiments.library.jax_ppo import JaxPPOConfig  # needs the jax extra

        overrides = self.overrides()
        allowed = {f.name for f in fields(JaxPPOConfig)} - {"algo", "persona", "ablate", "max_turns", "steps"}
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise ValueError(f"unknown setting {unknown[0]!r} for {self.algo}; allowed: {', '.join(sorted(allowed))}")
        overrides.setdefault("curve_every", self.eval_every or self.steps)
        jax_config = JaxPPOConfig(algo=self.algo, persona=self.persona, ablate=tuple(self.ablate),
                                  max_turns=self.max_turns, steps=self.steps, **overrides)
        jax_config.validate()
        if not self.seeds:
            raise ValueError("seeds=[]; allowed is one or more integers")
        return jax_config


def train_jax(config: Config) -> None:
    """Train every seed of a JAX algorithm at once and save each seed's run folder."""
    from difficult_customer.experiments.library.jax_ppo import save_runs, train_seeds  # needs the jax extra

    result = train_seeds(config.jax_config(), config.seeds)
    for seed, path in zip(result.seeds, save_runs(result, config.out), strict=True):
        print(f"{config.algo} seed {seed}: {result.steps} steps -> {path}")
    print(f"{len(result.seeds)} seeds at {result.steps_per_second:,.0f} steps/s after {result.compile_seconds:.1f} s "
          "of compiling")


def main(config: Config) -> int:
    """Train every run (skipping finished ones) and print where the models are; 2 on bad settings."""
    try:
        if config.algo in JAX_ALGORITHMS:
            train_jax(config)
            return 0
        for run in config.runs():
            result = train(run, progress=config.progress)
            print(f"{run.algo} seed {run.seed}: final mean return {result['final_return']:+.3f} "
                  f"({result['wall_seconds']:.0f} s) -> {result['model']}")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
