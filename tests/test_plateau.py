"""The plateau rule and steps-to-reach, fed curves on both sides of each verdict."""

from __future__ import annotations

import numpy as np
import pytest

from difficult_customer.experiments.library.plateau import RULE, PlateauRule, plateau, steps_to_reach

STEPS = [10_000 * k for k in range(1, 21)]  # 20 checkpoints to 200k steps


def _curves(final: np.ndarray, rise_until: int, seeds: int = 10, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """Curves that rise linearly to ``final`` (one per seed) at checkpoint ``rise_until``, then stay."""
    rng = np.random.default_rng(seed)
    t = np.minimum(np.arange(1, len(STEPS) + 1) / rise_until, 1.0)
    return final[:seeds, None] * t[None, :] + rng.normal(0, noise, (seeds, len(STEPS)))


FINAL = np.linspace(0.84, 0.87, 10)


def test_a_curve_that_stopped_rising_early_is_converged_with_its_plateau_step():
    verdict = plateau(STEPS, _curves(FINAL, rise_until=8, noise=0.001))
    assert verdict.converged and verdict.label == "converged"
    assert verdict.gain_high < RULE.gain
    assert verdict.window_start == 150_000 and verdict.steps == 200_000
    assert 80_000 <= verdict.plateau_step <= 100_000


def test_a_curve_still_rising_in_the_last_quarter_is_still_improving():
    verdict = plateau(STEPS, _curves(FINAL, rise_until=20))
    assert not verdict.converged and verdict.plateau_step is None
    assert verdict.gain > RULE.gain
    assert verdict.label == "still improving at 200,000 steps"


def test_a_flat_point_with_a_wide_interval_is_not_called_converged():
    # the mean gain is about zero, but the seeds are so noisy the interval reaches past the mark
    noisy = _curves(FINAL, rise_until=2, seeds=4, noise=0.05, seed=3)
    verdict = plateau(STEPS, noisy)
    assert verdict.gain_high >= RULE.gain and not verdict.converged


def test_a_looser_rule_can_call_the_same_curves_converged():
    curves = _curves(FINAL, rise_until=17)
    assert not plateau(STEPS, curves).converged
    assert plateau(STEPS, curves, PlateauRule(gain=0.2)).converged


def test_steps_to_reach_takes_the_first_checkpoint_per_seed_and_counts_who_never_got_there():
    curves = np.array([[0.5, 0.8, 0.9], [0.81, 0.82, 0.83], [0.1, 0.2, 0.3]])
    got = steps_to_reach([1, 2, 3], curves, 0.80)
    assert (got.reached, got.seeds) == (2, 3)
    assert got.low <= got.iqm <= got.high and 1 <= got.iqm <= 2
    assert steps_to_reach([1, 2, 3], curves, 0.95).iqm is None
    one = steps_to_reach([1, 2, 3], curves, 0.85)
    assert (one.reached, one.iqm, one.low) == (1, 3.0, None)


@pytest.mark.parametrize("steps, scores, message", [
    ([1], [[0.5]], "at least 2 checkpoints"),
    ([2, 1], [[0.5, 0.6]], "increasing checkpoints"),
    ([1, 2], [[0.5, np.nan]], "finite numbers"),
])
def test_bad_curves_are_named(steps, scores, message):
    with pytest.raises(ValueError, match=message):
        plateau(steps, np.array(scores))


def test_a_bad_rule_is_named():
    with pytest.raises(ValueError, match=r"window=1.5; allowed is a number in \(0, 1\)"):
        PlateauRule(window=1.5)


def test_the_gain_spans_at_least_the_last_quarter_when_the_last_checkpoint_is_off_the_grid():
    steps = [0, 4_000, 8_000, 12_000, 16_000, 16_384]
    curves = np.array([[0.1, 0.3, 0.5, 0.6, 0.7, 0.7], [0.1, 0.3, 0.5, 0.62, 0.72, 0.72]])
    verdict = plateau(steps, curves)
    assert verdict.window_start == 12_000  # not 16,000, whose gain spans 384 steps
    assert not verdict.converged
