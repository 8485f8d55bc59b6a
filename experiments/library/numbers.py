"""How the report prints numbers: one format for values, intervals and shares."""

from __future__ import annotations


def fmt(x: float | None, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals (``n/a`` for None; never ``-0.000``). Tests parse it back."""
    if x is None:
        return "n/a"
    return f"{0.0 if abs(x) < 0.5 * 10**-digits else x:.{digits}f}"


def interval(low: float, high: float) -> str:
    """``[low, high]`` with as many decimals (3 to 6) as it takes for the two ends to differ.

    Raises:
        ValueError: for an interval of zero width (print the value as exact instead).
    """
    if not high > low:
        raise ValueError(f"interval [{low!r}, {high!r}] has zero width; print the value as exact, not as an interval")
    for digits in range(3, 7):
        if fmt(low, digits) != fmt(high, digits):
            return f"[{fmt(low, digits)}, {fmt(high, digits)}]"
    return f"[{low:.3e}, {high:.3e}]"


def point_and_interval(point: float, low: float, high: float) -> str:
    """``0.812 [0.790, 0.830]``, or ``0.812 (exact)`` when there is no interval."""
    return f"{fmt(point)} {interval(low, high)}" if high > low else f"{fmt(point)} (exact)"


def percent(share: float, low: float | None = None, high: float | None = None) -> str:
    """``62%``, or ``62% [41%, 80%]`` with an interval."""
    if low is None or high is None:
        return f"{share:.0%}"
    return f"{share:.0%} [{low:.0%}, {high:.0%}]"


__all__ = ["fmt", "interval", "percent", "point_and_interval"]
