"""Named reward terms and their weights.

A step's reward is ``sum(weight[name] * term[name])``. Terms are computed from the hidden
state before and after a step by :func:`reward_terms`, which the compiler calls for the
tables; the environment's ``info["reward_terms"]`` reads them from the tables.
"""

from __future__ import annotations

import numbers
from dataclasses import asdict, dataclass, fields

import numpy as np

from difficult_customer.customer_models.vocabulary import FACTORS, Outcome

_STATUS = FACTORS.index("status")
_SOLVED = FACTORS.index("solved")
_TRUST = FACTORS.index("trust")


@dataclass(frozen=True)
class Rewards:
    """Weights of the reward terms. Unknown names are an error (see :meth:`from_mapping`)."""

    turn: float = -0.02
    """Each turn costs a little, so that among equally good conversations the shorter wins."""
    solved: float = 0.6
    """Solving the problem is the point of the conversation (C5)."""
    followed_up: float = 0.2
    """A follow-up after the solution raises satisfaction and loyalty (C7)."""
    trust: float = 0.1
    """Per trust level (0-3) when a solved conversation ends: loyalty beyond this call (C2, C4, C7)."""
    walked_away: float = -0.6
    """A customer who walks away is lost, worse than an unsolved but kept conversation (C10)."""
    ended_after_abuse: float = -0.4
    """Ending a dialogue after abuse protects the agent but loses the customer (C6)."""

    @classmethod
    def from_mapping(cls, weights: dict[str, float]) -> Rewards:
        """Build from a partial mapping of term name -> weight.

        Raises:
            ValueError: for an unknown term name or a non-numeric weight.
        """
        known = {f.name for f in fields(cls)}
        for name, value in weights.items():
            if name not in known:
                raise ValueError(f"unknown reward term {name!r}; allowed: {', '.join(sorted(known))}")
            if not isinstance(value, numbers.Real) or isinstance(value, (bool, np.bool_)) or not np.isfinite(value):
                raise ValueError(f"reward weight {name}={value!r} must be a finite number")
        return cls(**{**asdict(cls()), **weights})

    def vector(self) -> np.ndarray:
        """Weights in the order of :data:`REWARD_TERMS`."""
        return np.array([getattr(self, name) for name in REWARD_TERMS], dtype=np.float64)


REWARD_TERMS: tuple[str, ...] = tuple(f.name for f in fields(Rewards))


def reward_terms(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Term values for steps from hidden state ``before`` to ``after``.

    Args:
        before: factor values, shape ``(..., len(FACTORS))``, of non-terminal states.
        after: factor values of the successors, same shape.

    Returns:
        Array of shape ``(..., len(REWARD_TERMS))``.
    """
    before = np.asarray(before)
    after = np.asarray(after)
    status = after[..., _STATUS]
    ended_solved = (status == Outcome.solved) | (status == Outcome.solved_and_followed_up)
    terms = np.stack(
        [
            np.ones(status.shape),
            ((after[..., _SOLVED] == 1) & (before[..., _SOLVED] == 0)).astype(float),
            (status == Outcome.solved_and_followed_up).astype(float),
            np.where(ended_solved, after[..., _TRUST], 0).astype(float),
            (status == Outcome.walked_away).astype(float),
            (status == Outcome.ended_after_abuse).astype(float),
        ],
        axis=-1,
    )
    return terms
