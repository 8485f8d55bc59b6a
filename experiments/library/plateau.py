"""Where learning stops: the plateau rule, and the steps a learner needs to reach a score.

A learner's curve is its normalized score at checkpoints, one row per seed. The rule is
written once here and every report applies it: a learner has *converged* when the IQM over
seeds gains less than :attr:`PlateauRule.gain` over the last :attr:`PlateauRule.window` of
its budget, with the gain's bootstrap interval (seeds resampled, paired across the two
checkpoints) wholly below that mark; otherwise it is *still improving at N steps*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from difficult_customer.experiments.library.scores import iqm

BOOTSTRAP = 2000
"""Bootstrap resamples of the seeds."""


@dataclass(frozen=True)
class PlateauRule:
    """A learner has converged when the IQM gains less than ``gain`` over the last ``window`` of its steps."""

    gain: float = 0.005
    """The largest IQM gain (normalized) over the window that still counts as no gain."""
    window: float = 0.25
    """The share of the budget at its end that the gain is measured over."""
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if not self.gain > 0:
            raise ValueError(f"gain={self.gain!r}; allowed is a number > 0")
        if not 0 < self.window < 1:
            raise ValueError(f"window={self.window!r}; allowed is a number in (0, 1)")
        if not 0 < self.confidence < 1:
            raise ValueError(f"confidence={self.confidence!r}; allowed is a number in (0, 1)")


RULE = PlateauRule()
"""The plateau rule of every report."""


@dataclass(frozen=True)
class Plateau:
    """What the rule says of one learner's curves."""

    converged: bool
    steps: int
    """The last checkpoint: the budget the verdict is about."""
    gain: float
    """IQM at the last checkpoint minus IQM at the window's first checkpoint."""
    gain_low: float
    gain_high: float
    window_start: int
    """The checkpoint the gain is measured from."""
    plateau_step: int | None
    """The first checkpoint from which the IQM gains less than the rule's mark up to the end (None if not converged)."""

    @property
    def label(self) -> str:
        """``converged`` or ``still improving at N steps``."""
        return "converged" if self.converged else f"still improving at {self.steps:,} steps"


def _check(steps: Sequence[int], scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(steps, dtype=np.int64)
    x = np.asarray(scores, dtype=float)
    if x.ndim != 2 or x.shape[1] != s.size or s.size < 2:
        raise ValueError(f"scores of shape {x.shape} for {s.size} checkpoints; allowed is (seeds, checkpoints) "
                         "with at least 2 checkpoints")
    if np.any(np.diff(s) <= 0):
        raise ValueError(f"steps={s.tolist()}; allowed are increasing checkpoints")
    if not np.all(np.isfinite(x)):
        raise ValueError("scores hold a NaN or an infinity; allowed are finite numbers")
    return s, x


def _gain_interval(x: np.ndarray, a: int, b: int, confidence: float, seed: int) -> tuple[float, float, float]:
    """IQM(x[:, b]) - IQM(x[:, a]) with a bootstrap interval over seeds (paired)."""
    point = iqm(x[:, b]) - iqm(x[:, a])
    n = x.shape[0]
    if n < 2:
        return point, point, point
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(BOOTSTRAP, n))
    gains = stats.trim_mean(x[idx, b], 0.25, axis=1) - stats.trim_mean(x[idx, a], 0.25, axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(gains, [alpha, 1 - alpha])
    return point, float(min(low, point)), float(max(high, point))


def plateau(steps: Sequence[int], scores: np.ndarray, rule: PlateauRule = RULE, seed: int = 0) -> Plateau:
    """Apply ``rule`` to curves ``scores`` (seeds x checkpoints) at checkpoints ``steps``.

    With one seed the gain has no interval; the verdict then rests on the point alone.

    Raises:
        ValueError: for curves of the wrong shape, non-increasing steps or non-finite scores.
    """
    s, x = _check(steps, scores)
    last = s.size - 1
    # the last checkpoint at or before the window's start, so that the gain spans at least the window
    start = int(np.searchsorted(s, s[-1] * (1 - rule.window), side="right")) - 1
    start = min(max(start, 0), last - 1)
    gain, low, high = _gain_interval(x, start, last, rule.confidence, seed)
    converged = high < rule.gain
    plateau_step = None
    if converged:
        for c in range(last):
            if _gain_interval(x, c, last, rule.confidence, seed)[2] < rule.gain:
                plateau_step = int(s[c])
                break
    return Plateau(converged=converged, steps=int(s[-1]), gain=gain, gain_low=low, gain_high=high,
                   window_start=int(s[start]), plateau_step=plateau_step)


@dataclass(frozen=True)
class StepsToReach:
    """How many steps a learner's seeds need to reach a score: an IQM with its interval, over the seeds that did."""

    target: float
    reached: int
    """Seeds whose curve reached the target."""
    seeds: int
    iqm: float | None
    low: float | None
    high: float | None


def steps_to_reach(steps: Sequence[int], scores: np.ndarray, target: float, confidence: float = 0.95,
                   seed: int = 0) -> StepsToReach:
    """The first checkpoint at which each seed's score is at least ``target``; the IQM over the seeds that got there.

    The interval is a bootstrap over those seeds (None with fewer than two of them; no IQM
    when none got there).

    Raises:
        ValueError: as :func:`plateau`.
    """
    s, x = _check(steps, scores)
    hit = x >= target
    first = [int(s[np.argmax(row)]) for row in hit if row.any()]
    if not first:
        return StepsToReach(target, 0, x.shape[0], None, None, None)
    values = np.array(first, dtype=float)
    point = iqm(values)
    if values.size < 2:
        return StepsToReach(target, 1, x.shape[0], point, None, None)
    rng = np.random.default_rng(seed)
    boot = stats.trim_mean(values[rng.integers(0, values.size, size=(BOOTSTRAP, values.size))], 0.25, axis=1)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha])
    return StepsToReach(target, values.size, x.shape[0], point, float(min(low, point)), float(max(high, point)))


__all__ = ["RULE", "Plateau", "PlateauRule", "StepsToReach", "plateau", "steps_to_reach"]
