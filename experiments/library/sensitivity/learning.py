"""``sensitivity --learn``: retrain a learned policy on sampled models and score it exactly beside the optimum."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from difficult_customer import agents
from difficult_customer.agents.exact.evaluation import oracle_value, random_value
from difficult_customer.agents.exact.memoryless_value import memoryless_value
from difficult_customer.agents.exact.normalize import MIN_SPAN, normalize
from difficult_customer.customer_models.space import Space, space_for
from difficult_customer.experiments.library.conformance import conformance
from difficult_customer.experiments.library.rollouts import run_episodes
from difficult_customer.experiments.library.sensitivity.design import Design, draw
from difficult_customer.experiments.library.stats import wilson_ci
from difficult_customer.experiments.library.sweep.trainings import run_trainings
from difficult_customer.experiments.library.training import TrainConfig


@dataclass(frozen=True)
class LearnSettings:
    """How ``sensitivity --learn`` retrains a policy on sampled models."""

    algo: str = "ppo"
    """An SB3 algorithm whose plain-observation policy is memoryless (ppo, a2c, dqn): scored exactly."""
    samples: int = 8
    """Sampled models to retrain on (the first LHS samples), besides the built-in model."""
    steps: int = 30_000
    """Environment steps per training."""
    seeds: int = 1
    """Training seeds per model."""
    conformance_episodes: int = 500
    """Conversations of each learned policy for its conformance rates."""


def learn_configs(space: Space, xs: Sequence[tuple[float, ...]], learn: LearnSettings, seed: int,
                  max_turns: int) -> list[TrainConfig]:
    """The trainings of ``sensitivity --learn``: one per sampled model and training seed, model-major."""
    return [
        TrainConfig(algo=learn.algo, steps=learn.steps, seed=seed + s, max_turns=max_turns, eval_every=0,
                    eval_episodes=50, sample={"variant": space.variant, "x": list(map(float, x))})
        for x in xs
        for s in range(learn.seeds)
    ]


def score_learned(result: dict[str, Any], config: TrainConfig, episodes: int, seed: int) -> dict[str, Any]:
    """A trained model on its own sampled model: exact value, normalized, and conformance with Wilson intervals.

    ``normalized`` is None where the model's oracle is no better than random (the score
    is undefined there); the summary leaves such models out.
    """
    context = config.context()
    policy = agents.make(result["policy"], context)
    value = memoryless_value(policy, context).value
    oracle, rand = oracle_value(context), random_value(context)
    table = conformance(run_episodes(result["policy"], context, range(seed, seed + episodes)))
    rates = {}
    for rule, row in table.items():
        if row["rate"] is None:
            rates[rule] = None
            continue
        kept = round(row["rate"] * row["applicable"])
        rates[rule] = list(wilson_ci(kept, row["applicable"]))
    scaled = normalize(value, rand, oracle) if oracle - rand > MIN_SPAN else None
    return {"value": value, "normalized": scaled, "conformance": rates}


def run_learning(
    variant: str,
    design: Design,
    learn: LearnSettings,
    out: Path,
    max_turns: int = 16,
    address: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Retrain a learned policy on sampled models (through the sweep engine, on Ray) and score it exactly.

    Uses the same models as ``study.run_study`` (the built-in one, then the first LHS
    samples), so each learned policy sits beside its model's exact optimum.

    Returns:
        ``variant``, ``algo``, ``steps`` and ``rows``: per model and training seed, the
        model's key, the seed, the run id, the learned policy's exact value and normalized
        score, and its conformance rates with Wilson intervals.
    """
    space = space_for(variant)
    samples = [s for s in draw(space.problem_for(design.group_by), design) if s.design == "lhs"][: learn.samples]
    keys = ["default", *(s.key for s in samples)]
    xs = [space.default_x(), *(s.x for s in samples)]
    configs = learn_configs(space, xs, learn, design.seed, max_turns)
    results = run_trainings(configs, out / "runs", address=address, progress=progress, study=f"sensitivity-{variant}")
    rows = []
    for i, (config, result) in enumerate(zip(configs, results, strict=True)):
        rows.append({"model": keys[i // learn.seeds], "seed": config.seed, "run_id": result["run_id"],
                     **score_learned(result, config, learn.conformance_episodes, design.seed)})
    return {"variant": variant, "algo": learn.algo, "steps": learn.steps, "rows": rows}


__all__ = ["LearnSettings", "learn_configs", "run_learning", "score_learned"]
