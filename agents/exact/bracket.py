"""A certified bracket on the best observation-only policy, and where a score lies in it.

:func:`certified_bracket` returns two exact numbers, neither sampled, with
``lower <= best observation-only policy <= upper``: ``lower`` is the exact value of an
actual observation-history policy (PBVI's plans, optionally behind ``lower_depth`` turns
of expectimax), ``upper`` is ``depth`` turns of exact expectimax over observations with
the fast informed bound at the leaves. Memoryless policies are observation-history
policies, so ``upper`` bounds them too. :func:`locate` says where a value J lies relative
to a bracket. ``difficult-customer bracket`` prints it for every persona. Why the bounds
hold, and the measured settings: ``docs/exact.md``, "The certified bracket".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.belief import SparseBeliefs
from difficult_customer.agents.exact.evaluation import _random_values
from difficult_customer.agents.exact.fib import solve_fib
from difficult_customer.agents.exact.lookahead import observation_branches
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.agents.exact.oracle import solve_oracle
from difficult_customer.agents.exact.pbvi import PBVISolution, opening_beliefs, solve_pbvi
from difficult_customer.customer_models import Tables
from difficult_customer.customer_models.vocabulary import N_MOVES

DEFAULT_POINTS = 64
"""PBVI belief points per turn at the default (fast) setting."""
DEFAULT_DEPTH = 2
"""Expectimax depth in front of the upper bound at the default setting."""
PRECISE = {"points": 512, "depth": 3, "lower_depth": 0}
"""The setting used for the report (about 15 processor seconds for the mixture)."""
DEEPEST = {"points": 512, "depth": 4, "lower_depth": 0}
"""The tightest setting measured (upper bound 0.012 lower on the mixture than ``PRECISE``;
about 80 processor seconds and 1 GB for the mixture)."""
MAX_DEPTH = 4
"""Deepest expectimax allowed (its cost grows about a hundredfold per turn)."""

Leaf = Callable[[SparseBeliefs, np.ndarray], np.ndarray]
"""Values of a batch of (unnormalized) beliefs given moves left: (n_rows,)."""


@dataclass(frozen=True)
class Location:
    """Where a value J lies relative to a :class:`Bracket`.

    Attributes:
        value: J, raw.
        normalized: ``(J - J_random) / (J_oracle - J_random)``.
        position: ``"below"`` (J < lower: a better observation-only policy exists, for
            sure), ``"within"`` (lower <= J <= upper: it may be optimal) or ``"above"``
            (J > upper: impossible for a policy that reads only the observations; it
            peeks, or J is a noisy estimate).
        share_of_optimum: ``(low, high)``: J's share of the way from random to the best
            observation-only policy, ``(J - J_random) / (upper - J_random)`` and
            ``(J - J_random) / (lower - J_random)``; the true share lies in between.
        gap: ``(low, high)``: how far J is below the best observation-only policy, raw:
            at least ``max(lower - J, 0)``, at most ``upper - J``.
        normalized_gap: the same gap in normalized units (divided by J_oracle - J_random).
    """

    value: float
    normalized: float
    position: str
    share_of_optimum: tuple[float, float]
    gap: tuple[float, float]
    normalized_gap: tuple[float, float]

    def __str__(self) -> str:
        low, high = self.share_of_optimum
        return (
            f"J={self.value:.4f} (normalized {self.normalized:.3f}), {self.position} the bracket; "
            f"{low:.1%}-{high:.1%} of the way from random to the observation-only optimum, "
            f"{self.normalized_gap[0]:.3f}-{self.normalized_gap[1]:.3f} normalized below it"
        )


@dataclass(frozen=True)
class Bracket:
    """A certified bracket ``lower <= best observation-only policy <= upper``.

    Attributes:
        lower: exact value of an actual observation-history policy (PBVI plans with
            ``lower_depth`` turns of expectimax in front).
        upper: ``depth`` turns of expectimax with FIB leaves: an upper bound on every
            observation-only policy, memoryless ones included.
        oracle: J_oracle (hidden state visible).
        random: J_random.
        pbvi_lower: PBVI's own certified bound (no expectimax), at most ``lower``.
        fib: the plain fast informed bound, at least ``upper``.
        points: PBVI belief points per turn.
        depth: expectimax depth in front of the upper bound.
        lower_depth: expectimax depth in front of the lower bound.
        max_turns: the turn limit.
        seconds: wall time (PBVI, FIB, expectimax; compiling the tables excluded).
        cpu_seconds: processor time of the same (what the wall time would be on an idle
            core; the two differ when other processes share the machine).
    """

    lower: float
    upper: float
    oracle: float
    random: float
    pbvi_lower: float
    fib: float
    points: int
    depth: int
    lower_depth: int
    max_turns: int
    seconds: float
    cpu_seconds: float

    @property
    def width(self) -> float:
        """``upper - lower``, raw."""
        return self.upper - self.lower

    def normalize(self, value: float) -> float:
        """``(value - J_random) / (J_oracle - J_random)``.

        Raises:
            ValueError: if the oracle is no better than random.
        """
        return normalize(value, self.random, self.oracle)

    @property
    def normalized(self) -> tuple[float, float]:
        """(lower, upper) normalized."""
        return self.normalize(self.lower), self.normalize(self.upper)

    def locate(self, value: float) -> Location:
        """Where ``value`` lies relative to this bracket (see :class:`Location`)."""
        return locate(value, self)

    def __str__(self) -> str:
        low, high = self.normalized
        return (
            f"[{self.lower:.4f}, {self.upper:.4f}] raw, [{low:.3f}, {high:.3f}] normalized "
            f"(oracle {self.oracle:.4f}, random {self.random:.4f}; points={self.points}, depth={self.depth}, "
            f"lower_depth={self.lower_depth}, "
            f"{self.seconds:.2f} s)"
        )


def locate(value: float, bracket: Bracket) -> Location:
    """Where a policy's value J lies relative to the bracket, raw and normalized both ways.

    Args:
        value: J, e.g. an exact value or a Monte Carlo mean.
        bracket: from :func:`certified_bracket` on the same context.

    Raises:
        ValueError: if ``value`` is not a finite number.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"value={value!r}; allowed is a finite number")
    j = float(value)
    if not np.isfinite(j):
        raise ValueError(f"value={value!r}; allowed is a finite number")
    tolerance = 1e-9
    position = "below" if j < bracket.lower - tolerance else "above" if j > bracket.upper + tolerance else "within"
    share_low = _share(j, bracket.random, bracket.upper)
    share_high = _share(j, bracket.random, bracket.lower)
    gap = (max(bracket.lower - j, 0.0), bracket.upper - j)
    span = bracket.oracle - bracket.random
    return Location(
        value=j,
        normalized=bracket.normalize(j),
        position=position,
        share_of_optimum=(share_low, share_high),
        gap=gap,
        normalized_gap=(gap[0] / span, gap[1] / span),
    )


def _share(value: float, zero: float, one: float) -> float:
    """``value``'s share of the way from ``zero`` to ``one`` (:func:`normalize`; raises on a zero span)."""
    return normalize(value, zero, one)


def certified_bracket(
    context: PolicyContext | Tables,
    points: int = DEFAULT_POINTS,
    depth: int = DEFAULT_DEPTH,
    seed: int = 0,
    max_turns: int | None = None,
    lower_depth: int = 0,
) -> Bracket:
    """Certified lower and upper bounds on the best observation-only policy.

    Args:
        context: the environment, or compiled tables (then give ``max_turns``).
        points: PBVI belief points per turn (>= 1). 64 levels off within about 0.02 of
            256 on the mixture; see ``docs/exact.md`` for the curve.
        depth: turns of exact expectimax in front of the FIB upper bound, 0 to
            ``MAX_DEPTH``; on the mixture 2 costs about 0.01 s, 3 about 0.3-1 s, 4 about a
            minute (each turn multiplies the cost by 50-100).
        seed: seed of PBVI's simulated conversations (which beliefs become points);
            the bounds are certified whatever it is.
        max_turns: the turn limit; required with tables, must match a context's.
        lower_depth: turns of exact expectimax in front of the PBVI lower bound (0: PBVI's
            own bound, at most the PBVI policy's value); it gains little for its cost
            (+0.006 on the mixture at 3, for about a second), points gain more.

    Returns:
        The :class:`Bracket`.

    Raises:
        ValueError: for ``points`` < 1, a depth outside 0-``MAX_DEPTH``, a missing or
            inconsistent ``max_turns``, or a context of another type.
    """
    tables, horizon = _tables_and_horizon(context, max_turns)
    for name, value in (("depth", depth), ("lower_depth", lower_depth)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value <= MAX_DEPTH:
            raise ValueError(f"{name}={value!r}; allowed: an integer from 0 to {MAX_DEPTH}")
    if isinstance(points, bool) or not isinstance(points, (int, np.integer)) or points < 1:
        raise ValueError(f"points={points!r}; allowed is an integer >= 1")
    start, cpu = time.perf_counter(), time.process_time()
    oracle = solve_oracle(tables, horizon)
    random = _random_value(tables, horizon)
    pbvi = solve_pbvi(tables, horizon, int(points), int(seed))
    fib_q = solve_fib(tables, horizon)
    openings = opening_beliefs(tables)
    moves_left = np.full(openings.n_rows, horizon)
    upper_leaf = fib_leaf(fib_q)
    lower_leaf = pbvi_leaf(pbvi)
    fib = float(upper_leaf(openings, moves_left).sum())
    upper = float(expectimax(tables, openings, moves_left, int(depth), upper_leaf).sum())
    lower = float(expectimax(tables, openings, moves_left, int(lower_depth), lower_leaf).sum())
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return Bracket(
        lower=lower,
        upper=min(upper, fib),
        oracle=oracle.value,
        random=random,
        pbvi_lower=pbvi.lower_bound,
        fib=fib,
        points=int(points),
        depth=int(depth),
        lower_depth=int(lower_depth),
        max_turns=horizon,
        seconds=seconds,
        cpu_seconds=cpu,
    )


def _random_value(tables: Tables, max_turns: int) -> float:
    """J_random from the tables: uniform moves, Bellman backups averaged over moves."""
    return float(tables.initial @ _random_values(tables, max_turns))


def _tables_and_horizon(context: PolicyContext | Tables, max_turns: int | None) -> tuple[Tables, int]:
    if isinstance(context, PolicyContext):
        if max_turns is not None and max_turns != context.max_turns:
            raise ValueError(f"max_turns={max_turns!r} differs from the context's {context.max_turns}; give one")
        return context.tables, context.max_turns
    if isinstance(context, Tables):
        if isinstance(max_turns, bool) or not isinstance(max_turns, (int, np.integer)) or max_turns < 1:
            raise ValueError(f"max_turns={max_turns!r}; with tables, allowed is an integer >= 1")
        return context, int(max_turns)
    raise ValueError(f"context={context!r}; allowed: a PolicyContext or compiled Tables")


def fib_leaf(q: np.ndarray) -> Leaf:
    """Leaf values ``max_a Σ_s b(s) q[h, s, a]`` (an upper bound for FIB's ``q``)."""

    def leaf(beliefs: SparseBeliefs, moves_left: np.ndarray) -> np.ndarray:
        values = q[moves_left[beliefs.row], beliefs.state] * beliefs.weight[:, None]  # (E, A)
        out = np.zeros((beliefs.n_rows, N_MOVES))
        for a in range(N_MOVES):
            out[:, a] = np.bincount(beliefs.row, values[:, a], minlength=beliefs.n_rows)
        return out.max(-1)

    return leaf


def pbvi_leaf(solution: PBVISolution) -> Leaf:
    """Leaf values ``max_alpha b · alpha``: what committing to the best PBVI plan earns."""

    def leaf(beliefs: SparseBeliefs, moves_left: np.ndarray) -> np.ndarray:
        return solution.values(beliefs, moves_left)[0]

    return leaf


def expectimax(tables: Tables, beliefs: SparseBeliefs, moves_left: np.ndarray, depth: int, leaf: Leaf) -> np.ndarray:
    """Value of each belief row by exact expectimax over observations, ``leaf`` at depth 0.

    Beliefs may be unnormalized (values scale with them). Terminal successors and
    successors with no move left are worth 0. With a leaf that is a lower (upper) bound
    on the optimal value of any belief, the result is a lower (upper) bound too.

    Returns:
        (n_rows,) values.
    """
    moves_left = np.asarray(moves_left, dtype=np.int64).reshape(-1)
    if depth == 0 or beliefs.row.shape[0] == 0:
        return leaf(beliefs, moves_left) if beliefs.row.shape[0] else np.zeros(beliefs.n_rows)
    n = beliefs.n_rows
    q = np.zeros((n, N_MOVES))
    for a in range(N_MOVES):
        br = observation_branches(tables, beliefs, moves_left, a)
        q[:, a] = br.reward
        if br.keys is not None:
            values = expectimax(tables, br.child(tables.n_states), br.left[br.first], depth - 1, leaf)
            q[:, a] += br.to_rows(values, n)
    return q.max(-1)


@dataclass(frozen=True)
class CurvePoint:
    """One setting of the points curve: PBVI's certified bound and its wall time."""

    points: int
    lower: float
    alphas: int
    """Alpha vectors at the opening (distinct plans kept)."""
    seconds: float
    cpu_seconds: float


def points_curve(
    context: PolicyContext, points: Sequence[int] = (8, 16, 32, 64, 128, 256, 512), seed: int = 0
) -> list[CurvePoint]:
    """PBVI's certified lower bound against belief points per turn, with wall times.

    Each setting is solved afresh (the cache is bypassed), so the seconds are comparable.

    Raises:
        ValueError: for a number of points < 1.
    """
    out = []
    for p in points:
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1:
            raise ValueError(f"points={p!r}; allowed are integers >= 1")
        start, cpu = time.perf_counter(), time.process_time()
        solution = solve_pbvi(context.tables, context.max_turns, int(p), seed, cache=False)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        out.append(CurvePoint(int(p), solution.lower_bound, int(solution.alphas[-1].shape[0]), seconds, cpu))
    return out


__all__ = [
    "DEFAULT_DEPTH",
    "DEEPEST",
    "DEFAULT_POINTS",
    "MAX_DEPTH",
    "PRECISE",
    "Bracket",
    "CurvePoint",
    "Location",
    "certified_bracket",
    "expectimax",
    "fib_leaf",
    "locate",
    "pbvi_leaf",
    "points_curve",
]

