"""Seeds and budgets, in one place: what the report, the ablations and the benchmark train and play.

A :class:`Budget` says which learners are trained (steps and number of seeds each) and
how many conversations are played to evaluate; :data:`BUDGETS` names the presets every
command chooses from. Seeds are derived from one base seed by the functions below, so
training, learning-curve evaluation, the report's evaluation and the benchmark never
share environment seeds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

TRAIN_EVAL_SEED_BASE = 900_000_000
"""Learning-curve conversations during training use seeds from here."""
EVAL_SEED_BASE = 500_000_000
"""The report's and the ablations' evaluation conversations use seeds from here."""
SEED_STRIDE = 100_003
"""Distance between the evaluation seeds of consecutive base seeds."""
BENCHMARK_SEED_STRIDE = 1_000_003
"""The benchmark's conversation i with base seed s uses environment seed ``s * stride + i``."""


def eval_seeds(seed: int, episodes: int) -> list[int]:
    """Environment seeds of the report's and the ablations' evaluation cells."""
    start = EVAL_SEED_BASE + seed * SEED_STRIDE
    return list(range(start, start + episodes))


def benchmark_seeds(seed: int, episodes: int) -> list[int]:
    """Environment seeds of the benchmark's cells (the same for every policy: common random numbers)."""
    return [seed * BENCHMARK_SEED_STRIDE + i for i in range(episodes)]


def train_eval_seeds(episodes: int) -> range:
    """Environment seeds of the learning-curve evaluations during training."""
    return range(TRAIN_EVAL_SEED_BASE, TRAIN_EVAL_SEED_BASE + episodes)


def training_seeds(seed: int, runs: int) -> list[int]:
    """Training seeds of ``runs`` runs of one learner: ``seed, seed + 1, ...``."""
    return list(range(seed, seed + runs))


@dataclass(frozen=True)
class Budget:
    """What a study trains and how many conversations it plays."""

    learners: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Learner -> (environment steps, number of seeds). A learner is an algorithm name, or
    ``<algo>_belief`` for that algorithm trained with belief features (``observation="belief"``)."""
    eval_episodes: int = 500
    """Conversations per (policy, persona) cell."""
    curve_every: int = 15_000
    """Steps between learning-curve evaluations."""
    curve_episodes: int = 200
    """Conversations per learning-curve point."""
    mc_episodes: int = 4000
    """Conversations (played in lockstep) for the score of a scripted or exact policy that cannot be evaluated
    exactly (the belief-based ones)."""
    learned_mc_episodes: int = 2000
    """Conversations for the score of each seed of a learner with memory (recurrent, or given belief features);
    learners without memory are scored exactly."""

    def __post_init__(self) -> None:
        for name in ("eval_episodes", "curve_every", "curve_episodes", "mc_episodes", "learned_mc_episodes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"budget {name}={value!r}; allowed is an integer >= 1")
        for learner, pair in self.learners.items():
            if len(pair) != 2 or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in pair):
                raise ValueError(f"budget learner {learner!r}: {pair!r}; allowed is (steps >= 1, seeds >= 1)")

    def only(self, *learners: str) -> Budget:
        """This budget training only ``learners``.

        Raises:
            ValueError: for a learner the budget does not train.
        """
        for learner in learners:
            if learner not in self.learners:
                raise ValueError(f"learner {learner!r} is not in this budget; allowed: {', '.join(self.learners)}")
        return replace(self, learners={k: self.learners[k] for k in learners})


BudgetName = Literal["default", "quick", "tiny"]
"""The names of the presets (``--budget``)."""

BUDGETS: dict[str, Budget] = {
    "default": Budget(
        {"ppo": (60_000, 5), "ppo_belief": (40_000, 5), "a2c": (60_000, 5), "dqn": (60_000, 5),
         "recurrent_ppo": (12_000, 5)},
        eval_episodes=500, curve_every=10_000, curve_episodes=200, mc_episodes=4000, learned_mc_episodes=2000,
    ),
    "quick": Budget(
        {"ppo": (16_000, 3), "ppo_belief": (8_000, 3), "a2c": (16_000, 3), "dqn": (16_000, 3),
         "recurrent_ppo": (3_000, 3)},
        eval_episodes=200, curve_every=4_000, curve_episodes=100, mc_episodes=2000, learned_mc_episodes=2000,
    ),
    "tiny": Budget(
        {"ppo": (2_048, 2), "ppo_belief": (1_024, 1)},
        eval_episodes=24, curve_every=1_024, curve_episodes=16, mc_episodes=200, learned_mc_episodes=200,
    ),
}
"""The named budgets. ``default``: every learner on 5 seeds (intervals across seeds need
them), with the steps cut to fit the report in minutes on two cores (the README states the
measured time); ``quick``: 3 seeds, fewer steps; ``tiny``: for tests (its Monte Carlo counts
are below the report's 2,000 and it has a one-seed learner, to exercise that path)."""


def budget(name: str) -> Budget:
    """The preset ``name``.

    Raises:
        ValueError: for an unknown name, listing the presets.
    """
    if name not in BUDGETS:
        raise ValueError(f"unknown budget {name!r}; allowed: {', '.join(BUDGETS)}")
    return BUDGETS[name]
