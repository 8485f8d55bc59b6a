"""The normalized score: ``(value - random) / (oracle - random)``, 0 random, 1 the oracle.

Every normalized number of the project goes through :func:`normalize`, so a zero span
(an oracle no better than random) has one behaviour everywhere: a ``ValueError``.
"""

from __future__ import annotations

from typing import overload

import numpy as np

MIN_SPAN = 1e-12
"""Smallest ``oracle - random`` the score is defined for."""


@overload
def normalize(value: float, random: float, oracle: float) -> float: ...
@overload
def normalize(value: np.ndarray, random: float, oracle: float) -> np.ndarray: ...


def normalize(value, random, oracle):
    """``(value - random) / (oracle - random)``.

    Args:
        value: a value J (a number) or values (a numpy array or a sequence).
        random: J_random, the value of uniformly random moves.
        oracle: J_oracle, the value of the optimal policy that sees the hidden state.

    Returns:
        A float for a number, a float64 array of the same shape for an array or sequence.

    Raises:
        ValueError: if ``oracle - random <= 1e-12`` (the score is undefined), naming both.
    """
    low, high = float(random), float(oracle)
    if not high - low > MIN_SPAN:
        raise ValueError(f"J_oracle={high!r} is not above J_random={low!r}; the normalized score is undefined")
    if np.ndim(value) == 0 and not isinstance(value, np.ndarray):
        return (float(value) - low) / (high - low)
    return (np.asarray(value, dtype=np.float64) - low) / (high - low)


__all__ = ["MIN_SPAN", "normalize"]
