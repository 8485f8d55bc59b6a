"""Alias tables to draw a conversation step's successor and tone from compiled tables.

:class:`FlatTransitions` lays out the sparse successors of every (state, move), and the
start distribution, as one flat table of slots, so a batch mixing steps and restarts is
one lookup. :class:`JointAlias` holds, for every row of that table, Walker's alias tables
of the joint distribution of (successor slot, tone shown in the successor): two uniforms
``u[0]``, ``u[1]`` settle both draws with a few gathers and no search (``u[0]`` picks one
of the row's equally likely columns, ``u[1]`` the column's own outcome or its alias).

Both are built once per :class:`~difficult_customer.customer_models.Tables`
(:func:`alias_tables`, cached) and read by the conversation core
(:mod:`difficult_customer.envs.core`), whose batched and scalar steps apply the draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from difficult_customer.customer_models import Tables


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
    run_length: np.ndarray
    """(S * A + 1,) intp: the slots of each run, in slot order: the (state, move) pairs, then the start run."""
    prob: np.ndarray
    """(M,) float64: the probability of each slot within its run."""
    next_state: np.ndarray
    """(M,) intp: the state each slot leads to (intp, as all index arrays here: ``take`` needs no cast)."""
    source: np.ndarray
    """(M,) int64: flat index into the (S, A, K) tables of each slot; -1 for start slots."""

    def row(self, states: np.ndarray | int, moves: np.ndarray | int) -> np.ndarray | int:
        """Row ids of ``(states, moves)``; move :attr:`restart` gives a start row."""
        return states * (self.restart + 1) + moves


def _flat_transitions(tables: Tables) -> FlatTransitions:
    n_states, n_moves, width = tables.next_prob.shape
    n_pairs = n_states * n_moves
    next_prob = tables.next_prob.reshape(n_pairs, width)
    positive = next_prob > 0
    starts = np.flatnonzero(tables.initial > 0)
    counts = np.append(positive.sum(-1), starts.size)
    # Rows are prefixes: slots with probability 0 come after every positive one.
    assert (positive == (np.arange(width) < counts[:-1, None])).all()
    dense_width = max(width, starts.size)
    keep = np.arange(dense_width) < counts[:, None]
    prob = np.zeros((n_pairs + 1, dense_width))
    prob[:-1, :width] = next_prob
    prob[-1, : starts.size] = tables.initial[starts]
    source = np.full(prob.shape, -1, dtype=np.int64)
    source[:-1, :width] = np.arange(n_pairs * width).reshape(-1, width)
    next_state = np.zeros(prob.shape, dtype=np.intp)
    next_state[:-1, :width] = tables.next_state.reshape(-1, width)
    next_state[-1, : starts.size] = starts
    flat = FlatTransitions(
        restart=n_moves,
        run_length=counts.astype(np.intp),
        prob=prob[keep],
        next_state=next_state[keep],
        source=source[keep],
    )
    for array in (flat.run_length, flat.prob, flat.next_state, flat.source):
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

    The core's batched and scalar steps apply exactly this formula, so the same uniforms
    give the same outcome. Outcomes of probability 0 have no column and are never aliased,
    so they are never drawn.
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


def _joint_alias(tables: Tables, flat: FlatTransitions) -> JointAlias:
    n_states, n_moves, _ = tables.next_prob.shape
    n_slots = flat.next_state.shape[0]
    slot_prob = flat.prob
    tone_prob = tables.tone_prob[flat.next_state]  # (M, T)
    positive = tone_prob > 0
    slot = np.repeat(np.arange(n_slots), positive.sum(-1))
    tone = np.nonzero(positive)[1]
    prob = slot_prob[slot] * tone_prob[slot, tone]
    # Runs of slots, one per row of successors (in flat order: the (state, move) pairs, then the start row).
    n_runs = flat.run_length.size
    run = np.repeat(np.arange(n_runs), flat.run_length)[slot]
    run_first = np.searchsorted(run, np.arange(n_runs))
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


def alias_tables(tables: Tables) -> tuple[FlatTransitions, JointAlias]:
    """The flat successor table and the alias tables of ``tables`` (built once, cached on the tables)."""
    cached = tables.derived.get("sampling.alias")
    if cached is None:
        flat = _flat_transitions(tables)
        cached = tables.derived["sampling.alias"] = (flat, _joint_alias(tables, flat))
    return cached


__all__ = ["FlatTransitions", "JointAlias", "alias_tables"]
