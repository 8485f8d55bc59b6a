"""Baseline policies: what the guides are measured against."""

from __future__ import annotations

from typing import Any

import numpy as np

from difficult_customer.agents.base import ObservationPolicy, PolicyContext
from difficult_customer.customer_models import Move
from difficult_customer.envs.observation import Observed


class RandomPolicy:
    """Uniformly random moves, seeded by the context's seed. The 0 of the normalized score."""

    name = "random"

    def __init__(self, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        shape = np.asarray(observation).shape[:-1]
        return self.rng.integers(0, len(Move), size=shape), state


class SolutionFirst(ObservationPolicy):
    """Offers options at once and again after every rejection; follows up once solved.

    The opposite of "feelings first" (C3): what an agent who skips the guides does.
    """

    name = "solution_first"
    cites = "C3 (its opposite), C5, C7"

    def act(self, seen: Observed) -> Move:
        return Move.follow_up if seen.solved else Move.offer_options


class ApologySpam(ObservationPolicy):
    """Apologizes every turn until the customer gives up (C4's "overused" apology)."""

    name = "apology_spam"
    cites = "C4 (its opposite)"

    def act(self, seen: Observed) -> Move:
        return Move.apologize


def make_random(context: PolicyContext) -> RandomPolicy:
    return RandomPolicy(context.seed)
