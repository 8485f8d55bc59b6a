"""Sampling from compiled tables by precomputed cumulative distributions.

One :class:`TableSampler` per :class:`~customer_models.Tables` (cached). Every draw is
an inverse-CDF lookup of one uniform ``u`` in [0, 1), returning the first slot whose
cumulative probability exceeds ``u`` (``searchsorted(cum, u, side="right")``). The last
slot with positive probability of every row holds ``inf`` instead of a sum that
rounding may leave just below 1, so a slot of probability 0 is never drawn.

:class:`FlatTransitions` (:attr:`TableSampler.flat`) holds the sparse successors of every
(state, move) and the start distribution as one flat table of slots, searched with a
guide table (the first candidate slot for each of ``G`` equal buckets of ``u``), so a
batched inverse-CDF draw costs a few array gathers instead of a binary search.

Conversations are stepped by the conversation core (:mod:`difficult_customer.envs.core`),
which keeps the flat table's slots but draws with :class:`JointAlias`
(:attr:`TableSampler.joint`): for every row of the flat table, Walker's alias method over
the joint distribution of (successor slot, tone shown in the successor), so one step's
two uniforms settle both draws with a few gathers and no search: ``u[0]`` picks one of
the row's equally likely columns and ``u[1]`` the column's own outcome or its alias.
The core's scalar step applies the same formula to Python floats, which gives the same
outcome.

The sampler's own one-row and batched draws (:meth:`TableSampler.sample_successor`,
:meth:`TableSampler.sample_successor_batch`, ...) are single distributions, not
conversation steps: for tests of the tables and for solvers that sample beliefs.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from difficult_customer.customer_models import Tables

GUIDE_BUCKETS = 32
"""Buckets per row of :attr:`FlatTransitions.guide` (a power of 2, so ``u * G`` is exact)."""

WALK = 8
"""Slots a batched draw looks ahead at once when the guide's first step does not settle it."""
_WINDOW = np.arange(WALK)


def cumulative(prob: np.ndarray) -> np.ndarray:
    """Cumulative sums along the last axis with ``inf`` from each row's last positive slot on.

    Args:
        prob: probabilities ``(..., W)``; every row has a positive entry.

    Returns:
        float64 array of the same shape: ``searchsorted(row, u, side="right")`` of it
        for ``u`` in [0, 1) gives a slot with probability ``prob[..., slot]``.
    """
    cum = np.cumsum(prob, axis=-1, dtype=np.float64)
    width = prob.shape[-1]
    last_positive = width - 1 - np.argmax(prob[..., ::-1] > 0, axis=-1)
    cum[np.arange(width) >= last_positive[..., None]] = np.inf
    return cum


@dataclass(frozen=True, eq=False)
class FlatTransitions:
    """The successor distribution of every (state, move), and the start one, as one flat table.

    Row ``state * (A + 1) + move`` holds the successors of ``(state, move)`` for a move
    ``< A``; row ``state * (A + 1) + A`` (move id ``A``, :attr:`restart`) holds the start
    distribution, whatever the state, so a batch mixing steps and restarts is one draw.
    Each row owns a run of slots: its successors with positive probability, in the
    order of ``Tables.next_state`` (the start rows share one run).
    """

    restart: int
    """Move id of the start-distribution rows (``A``)."""
    cum: np.ndarray
    """(M + WALK,) float64: cumulative probability of each slot within its row (``inf`` for a row's
    last), then ``WALK`` more ``inf`` so that a draw may read ahead past the last row."""
    guide: np.ndarray
    """(rows * G,) int32: for row ``r`` and bucket ``b``, the first slot of the row whose ``cum`` exceeds ``b / G``."""
    buckets: int
    """``G``, a power of 2."""
    next_state: np.ndarray
    """(M,) intp: the state each slot leads to (intp, as all index arrays here: ``take`` needs no cast)."""
    source: np.ndarray
    """(M,) int64: flat index into the (S, A, K) tables of each slot; -1 for start slots."""

    def row(self, states: np.ndarray | int, moves: np.ndarray | int) -> np.ndarray | int:
        """Row ids of ``(states, moves)``; move :attr:`restart` gives a start row."""
        return states * (self.restart + 1) + moves

    def sample(self, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Draw one slot per row.

        Args:
            rows: (n,) integer row ids (see :meth:`row`).
            u: (n,) float64 uniforms in [0, 1), one per row.

        Returns:
            (n,) intp slot ids: the first slot of each row with ``cum > u``.
        """
        slots = self.guide.take(rows * self.buckets + (u * self.buckets).astype(np.intp)).astype(np.intp)
        # The guide's slot is at or before the answer; one step on settles all but a few
        # (those with two slot boundaries in u's bucket), which walk on.
        cum = self.cum
        slots += u >= cum.take(slots)
        behind = (u >= cum.take(slots)).nonzero()[0]
        while behind.size:  # look WALK slots ahead at once (cum ends in WALK infs, so the window never overruns)
            at = slots.take(behind)
            ahead = u.take(behind)[:, None] >= cum.take(at[:, None] + _WINDOW)
            steps = ahead.argmin(1)  # the first slot ahead whose cum exceeds u (the row's inf stops it)
            stuck = ahead.all(1)  # no such slot within the window: walk on from its end
            steps[stuck] = WALK
            slots[behind] = at + steps
            behind = behind[stuck]
        return slots


def _flat_transitions(tables: Tables, initial_cum: np.ndarray, buckets: int) -> FlatTransitions:
    n_states, n_moves, width = tables.next_prob.shape
    n_pairs = n_states * n_moves
    cum = cumulative(tables.next_prob).reshape(n_pairs, width)
    positive = tables.next_prob.reshape(n_pairs, width) > 0
    starts = np.flatnonzero(tables.initial > 0)
    # Successor rows, then one start row, dense and padded with inf, to build the guide from.
    dense_width = max(width, starts.size)
    dense = np.full((n_pairs + 1, dense_width), np.inf)
    dense[:-1, :width] = np.where(positive, cum, np.inf)
    dense[-1, : starts.size] = initial_cum[starts]
    counts = np.isfinite(dense).sum(-1) + 1  # slots per row: the finite ones and the inf one
    # Rows are prefixes: slots with probability 0 come after every positive one.
    assert (positive.sum(-1) == counts[:-1]).all()
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    guide = np.empty((n_pairs + 1, buckets), dtype=np.int32)
    for b in range(buckets):  # G passes over the rows, not a (rows, G, W) temporary
        guide[:, b] = first + (dense <= b / buckets).sum(-1)
    # Row layout (state, move or restart): every state's restart row is the start row.
    by_state = np.empty((n_states, n_moves + 1, buckets), dtype=np.int32)
    by_state[:, :n_moves] = guide[:-1].reshape(n_states, n_moves, buckets)
    by_state[:, n_moves] = guide[-1]
    keep = np.arange(dense_width) < counts[:, None]
    source = np.full(dense.shape, -1, dtype=np.int64)
    source[:-1, :width] = np.arange(n_pairs * width).reshape(-1, width)
    next_state = np.zeros(dense.shape, dtype=np.intp)
    next_state[:-1, :width] = tables.next_state.reshape(-1, width)
    next_state[-1, : starts.size] = starts
    flat = FlatTransitions(
        restart=n_moves,
        cum=np.concatenate([dense[keep], np.full(WALK, np.inf)]),
        guide=by_state.ravel(),
        buckets=buckets,
        next_state=next_state[keep],
        source=source[keep],
    )
    for array in (flat.cum, flat.guide, flat.next_state, flat.source):
        array.setflags(write=False)
    return flat


@dataclass(frozen=True, eq=False)
class JointAlias:
    """Walker alias tables of the joint (successor slot, tone) distribution of every row of a flat table.

    Row ``r`` of :class:`FlatTransitions` (a (state, move) pair or a restart) owns ``W = width[r]``
    columns from ``first[r]`` on, one per outcome (slot, tone) of positive probability
    ``p(slot) * tone_prob[next_state[slot], tone]``, in slot order, then tone order. Each
    column ``c`` holds a threshold and two outcomes, its own (``slot[c, 0]``, ``tone[c, 0]``)
    and an alias (``slot[c, 1]``, ``tone[c, 1]``), built so that drawing a column uniformly
    and then its own outcome with probability ``threshold[c]`` gives every outcome its
    probability (Vose's construction, in float64). With two uniforms ``u0``, ``u1`` in [0, 1)::

        c = first[r] + int(u0 * width[r])      # a column; u0 * width < width for u0 < 1
        k = 1 if u1 >= threshold[c] else 0      # the column's own outcome, or its alias
        outcome = slot[c, k], tone[c, k]

    (:meth:`sample`). The core's batched and scalar steps apply exactly this formula, so
    the same uniforms give the same outcome. Outcomes of probability 0 have no column and
    are never aliased, so they are never drawn.
    """

    first: np.ndarray
    """(rows,) int32: the first column of each row of the flat table (restart rows share the start row's)."""
    width: np.ndarray
    """(rows,) float64: the number of columns of each row (a float, so ``u0 * width`` needs no cast)."""
    threshold: np.ndarray
    """(C,) float64: the chance that column ``c`` gives its own outcome (1.0 where it has no alias)."""
    slot: np.ndarray
    """(C, 2) int32: slot of the flat table of the column's own outcome and of its alias."""
    tone: np.ndarray
    """(C, 2) int8: tone of the column's own outcome and of its alias."""
    prob: np.ndarray
    """(C,) float64: the probability of the column's own outcome within its row (for tests and checks)."""

    def sample(self, rows: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Draw (slot, tone) per row with the uniforms ``u`` (shape ``(2, n)``): the reference formula.

        Returns:
            ``(slot, tone)``, (n,) int32 and int8.
        """
        rows = np.asarray(rows, dtype=np.intp)
        column = self.first.take(rows) + (u[0] * self.width.take(rows)).astype(np.intp)
        alias = (u[1] >= self.threshold.take(column)).astype(np.intp)
        return self.slot[column, alias], self.tone[column, alias]


def _joint_alias(tables: Tables, flat: FlatTransitions) -> JointAlias:
    n_states, n_moves, _ = tables.next_prob.shape
    n_slots = flat.next_state.shape[0]
    from_move = flat.source >= 0
    slot_prob = np.where(
        from_move, tables.next_prob.ravel()[np.maximum(flat.source, 0)], tables.initial[flat.next_state]
    )
    tone_prob = tables.tone_prob[flat.next_state]  # (M, T)
    positive = tone_prob > 0
    slot = np.repeat(np.arange(n_slots), positive.sum(-1))
    tone = np.nonzero(positive)[1]
    prob = slot_prob[slot] * tone_prob[slot, tone]
    # Runs of slots, one per row of successors (in flat order: the (state, move) pairs, then the start row).
    run_end = np.flatnonzero(np.isinf(flat.cum[:n_slots]))
    run_of_slot = np.repeat(np.arange(run_end.size), np.diff(np.concatenate([[-1], run_end])))
    run = run_of_slot[slot]
    run_first = np.searchsorted(run, np.arange(run_end.size))
    run_width = np.diff(np.concatenate([run_first, [run.size]]))
    scaled = (prob / np.bincount(run, prob)[run] * run_width[run]).tolist()
    threshold = [1.0] * len(scaled)
    alias = list(range(len(scaled)))
    for first, count in zip(run_first.tolist(), run_width.tolist(), strict=True):
        if count == 1:
            continue
        small = [c for c in range(first, first + count) if scaled[c] < 1.0]
        large = [c for c in range(first, first + count) if scaled[c] >= 1.0]
        while small and large:
            light, heavy = small.pop(), large[-1]
            threshold[light], alias[light] = scaled[light], heavy
            scaled[heavy] = (scaled[heavy] + scaled[light]) - 1.0
            if scaled[heavy] < 1.0:
                small.append(large.pop())
        # Columns left in either list keep threshold 1: rounding left them a hair from 1.
    alias_index = np.array(alias, dtype=np.intp)
    pairs = run_first.size - 1  # the start row is the last run
    assert pairs == n_states * n_moves
    by_row = np.empty((n_states, n_moves + 1), dtype=np.intp)  # row layout of FlatTransitions
    by_row[:, :n_moves] = np.arange(pairs).reshape(n_states, n_moves)
    by_row[:, n_moves] = pairs
    joint = JointAlias(
        first=run_first[by_row.ravel()].astype(np.int32),
        width=run_width[by_row.ravel()].astype(np.float64),
        threshold=np.array(threshold),
        slot=np.stack([slot, slot[alias_index]], 1).astype(np.int32),
        tone=np.stack([tone, tone[alias_index]], 1).astype(np.int8),
        prob=prob / np.bincount(run, prob)[run],
    )
    for array in (joint.first, joint.width, joint.threshold, joint.slot, joint.tone, joint.prob):
        array.setflags(write=False)
    return joint


class TableSampler:
    """Cumulative tables for drawing initial states, successors and tones.

    Each draw takes one uniform number from the generator it is given (batched draws
    one per row), in the same order in both paths.
    """

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.initial_cum = cumulative(tables.initial)
        self.next_cum = cumulative(tables.next_prob)
        self.tone_cum = cumulative(tables.tone_prob)
        n_states, n_moves, _ = tables.next_prob.shape
        self._n_moves = n_moves
        # Trimmed rows as tuples for bisect, filled on first use.
        self._successor_rows: list[tuple[float, ...] | None] = [None] * (n_states * n_moves)
        self._tone_rows: list[tuple[float, ...] | None] = [None] * n_states
        starts = np.flatnonzero(tables.initial > 0)
        self._initial_row = tuple(self.initial_cum[starts].tolist())
        self._initial_states = tuple(starts.tolist())

    # ------------------------------------------------------------ one at a time
    def sample_initial(self, rng: np.random.Generator) -> int:
        """A start state."""
        return self._initial_states[bisect_right(self._initial_row, rng.random())]

    def sample_successor(self, rng: np.random.Generator, state: int, move: int) -> int:
        """Slot ``k`` of the successor of ``(state, move)``."""
        index = state * self._n_moves + move
        row = self._successor_rows[index]
        if row is None:
            row = self._successor_rows[index] = _trimmed(self.next_cum[state, move])
        return bisect_right(row, rng.random())

    def sample_tone(self, rng: np.random.Generator, state: int) -> int:
        """A :class:`~customer_models.Tone` id shown in ``state``."""
        row = self._tone_rows[state]
        if row is None:
            row = self._tone_rows[state] = _trimmed(self.tone_cum[state])
        return bisect_right(row, rng.random())

    # ------------------------------------------------------------------ batched
    @cached_property
    def flat(self) -> FlatTransitions:
        """The successor and start distributions as one flat guided table (built on first use)."""
        return _flat_transitions(self.tables, self.initial_cum, GUIDE_BUCKETS)

    @cached_property
    def joint(self) -> JointAlias:
        """Alias tables of the joint (successor slot, tone) draw of every flat row (built on first use)."""
        return _joint_alias(self.tables, self.flat)

    @cached_property
    def _tone_columns(self) -> tuple[np.ndarray, ...]:
        return tuple(np.ascontiguousarray(self.tone_cum[:, t]) for t in range(self.tone_cum.shape[1] - 1))

    def add_tones(self, states: np.ndarray, u: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Add to ``out`` the tone ids of ``states`` drawn with one uniform each (batched :meth:`sample_tone`).

        Adding in place lets a caller fold the tone into a code without another pass.
        """
        for column in self._tone_columns:
            out += u >= column.take(states)
        return out

    def sample_initial_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` start states."""
        flat = self.flat
        rows = np.full(n, flat.row(0, flat.restart), dtype=np.intp)
        return flat.next_state.take(flat.sample(rows, rng.random(n)))

    def sample_successor_batch(self, rng: np.random.Generator, states: np.ndarray, moves: np.ndarray) -> np.ndarray:
        """Slots ``k`` of the successors of ``(states[i], moves[i])``."""
        flat = self.flat
        rows = flat.row(np.asarray(states, dtype=np.intp), np.asarray(moves, dtype=np.intp))
        source = flat.source.take(flat.sample(rows, rng.random(rows.shape[0])))
        return source % self.tables.next_prob.shape[-1]

    def sample_tone_batch(self, rng: np.random.Generator, states: np.ndarray) -> np.ndarray:
        """Tone ids for ``states``."""
        states = np.asarray(states, dtype=np.intp)
        return self.add_tones(states, rng.random(states.shape[0]), np.zeros(states.shape[0], dtype=np.intp))


def _trimmed(cum_row: np.ndarray) -> tuple[float, ...]:
    """A cumulative row up to and including its first ``inf`` (the last positive slot)."""
    width = int(np.argmax(np.isinf(cum_row))) + 1
    return tuple(cum_row[:width].tolist())




def sampler_for(tables: Tables) -> TableSampler:
    """The shared sampler of ``tables`` (built once)."""
    sampler = tables.derived.get("sampling.samplers")
    if sampler is None:
        sampler = tables.derived["sampling.samplers"] = TableSampler(tables)
    return sampler
