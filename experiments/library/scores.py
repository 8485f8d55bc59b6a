"""Aggregate scores as RL reporting asks: normalized scores, IQM across seeds with
stratified bootstrap intervals, and pass^k reliability.

rliable is the reference implementation of IQM with stratified bootstrap; its
dependency ``arch`` fails to import with current pandas, so the same estimator is
written here in a few lines of numpy (percentile bootstrap, resampling runs within
each task, seeded).
"""

from __future__ import annotations

from math import comb

import numpy as np
from scipy import stats

from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.evaluation import oracle_value, random_value


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean of all values (the middle 50%, as rliable's ``aggregate_iqm``)."""
    return float(stats.trim_mean(np.asarray(scores, dtype=float).ravel(), 0.25))


def iqm_ci(
    scores: np.ndarray, reps: int = 2000, confidence: float = 0.95, seed: int = 0,
    stderr: np.ndarray | None = None,
) -> tuple[float, float, float]:
    """IQM of ``scores`` (runs x tasks) with a stratified bootstrap interval.

    Each bootstrap sample redraws the runs of every task with replacement (runs are
    strata within tasks), then takes the IQM of all values. With ``stderr`` (one standard
    error per value, e.g. of a run's Monte Carlo evaluation; 0 where the value is exact),
    each redrawn value also gets its own evaluation noise, ``N(0, stderr)``, so the
    interval covers both the spread across runs and the noise of each run's estimate.

    With one run and no ``stderr`` (or a zero one) the interval is the point itself: the
    caller must say so ("1 seed", "exact") rather than print it as an interval.

    Returns:
        ``(iqm, low, high)``.

    Raises:
        ValueError: for no scores, or a ``stderr`` of another shape or with negative entries.
    """
    x = np.asarray(scores, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    if x.size == 0:
        raise ValueError("iqm_ci needs at least one score")
    noise = None
    if stderr is not None:
        noise = np.asarray(stderr, dtype=float).reshape(x.shape) if np.size(stderr) == x.size else None
        if noise is None:
            raise ValueError(f"stderr has {np.size(stderr)} entries for {x.size} scores; give one per score")
        if np.any(noise < 0) or not np.all(np.isfinite(noise)):
            raise ValueError(f"stderr={noise.ravel().tolist()}; allowed are finite numbers >= 0")
        if not np.any(noise > 0):
            noise = None
    point = iqm(x)
    if x.shape[0] < 2 and noise is None:
        return point, point, point
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.shape[0], size=(reps, x.shape[0], x.shape[1]))
    samples = np.take_along_axis(np.broadcast_to(x, (reps, *x.shape)), idx, axis=1)
    if noise is not None:
        spread = np.take_along_axis(np.broadcast_to(noise, (reps, *x.shape)), idx, axis=1)
        samples = samples + rng.standard_normal(samples.shape) * spread
    values = stats.trim_mean(samples.reshape(reps, -1), 0.25, axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return point, float(min(low, point)), float(max(high, point))


def pass_hat_k(successes: int, n: int, k: int) -> float:
    """Chance that k conversations drawn from n all succeed (unbiased, as tau-bench's pass^k).

    ``C(successes, k) / C(n, k)``; needs ``n >= k``.
    """
    if n < k:
        raise ValueError(f"pass^{k} needs at least {k} conversations, got {n}")
    return comb(successes, k) / comb(n, k)


def reference_values(context: PolicyContext) -> dict[str, float]:
    """Exact expected returns of the random policy and the oracle: the 0 and 1 of normalized scores.

    Every score of the benchmark, the report and the ablations is normalized by these,
    through :func:`normalize` (in ``library.evaluation.score_policy`` and ``score_seeds``).

    Args:
        context: the environment (persona, ablation, turn limit, rewards).
    """
    return {"random": float(random_value(context)), "oracle": float(oracle_value(context))}
