"""Aggregate scores as RL reporting asks: normalized scores, IQM across seeds with
stratified bootstrap intervals, and pass^k reliability.

rliable is the reference implementation of IQM with stratified bootstrap; its
dependency ``arch`` fails to import with current pandas, so the same estimator is
written here in a few lines of numpy (percentile bootstrap, resampling runs within
each task, seeded).
"""

from __future__ import annotations

from math import comb
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

if TYPE_CHECKING:
    from difficult_customer.agents import PolicyContext


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all values (the middle 50%, as rliable's ``aggregate_iqm``)."""
    return float(stats.trim_mean(np.asarray(scores, dtype=float).ravel(), 0.25))


def iqm_ci(
    scores: np.ndarray, reps: int = 2000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float, float]:
    """IQM of ``scores`` (runs x tasks) with a stratified bootstrap interval.

    Each bootstrap sample redraws the runs of every task with replacement (runs are
    strata within tasks), then takes the IQM of all values.

    Returns:
        ``(iqm, low, high)``.
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    point = iqm(x)
    if x.shape[0] < 2:
        return point, point, point
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[0], size=(reps, x.shape[0], x.shape[1]))
    samples = np.take_along_axis(np.broadcast_to(x, (reps, *x.shape)), idx, axis=1)
    values = stats.trim_mean(samples.reshape(reps, -1), 0.25, axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return point, float(low), float(high)


def pass_hat_k(successes: int, n: int, k: int) -> float:
    """Chance that k conversations drawn from n all succeed (unbiased, as tau-bench's pass^k).

    ``C(successes, k) / C(n, k)``; needs ``n >= k``.
    """
    if n < k:
        raise ValueError(f"pass^{k} needs at least {k} conversations, got {n}")
    return comb(successes, k) / comb(n, k)


def normalize(value: float, random_value: float, oracle_value: float) -> float:
    """``(J - J_random) / (J_oracle - J_random)``: 0 is random, 1 the oracle."""
    span = oracle_value - random_value
    if span <= 0:
        raise ValueError(f"oracle value {oracle_value} is not above random's {random_value}; cannot normalize")
    return (value - random_value) / span


def reference_values(context: PolicyContext) -> dict[str, float]:
    """Exact expected returns of the random policy and the oracle: the 0 and 1 of normalized scores.

    Every score of the benchmark, the report and the ablations is normalized by these,
    through :func:`normalize` (in ``library.evaluation.score_policy`` and ``score_seeds``).

    Args:
        context: the environment (persona, ablation, turn limit, rewards).
    """
    from difficult_customer.agents.exact.evaluation import oracle_value, random_value

    return {"random": float(random_value(context)), "oracle": float(oracle_value(context))}
