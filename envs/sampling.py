"""Sampling from compiled tables by precomputed cumulative distributions.

One :class:`TableSampler` per :class:`~customer_models.Tables` (cached), shared by the
single and the batched environment, so both draw from exactly the same numbers.
"""

from __future__ import annotations

import weakref

import numpy as np

from customer_models import Tables


class TableSampler:
    """Cumulative tables for drawing initial states, successors and tones.

    Each draw takes one uniform number from the generator it is given.
    """

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.initial_cum = np.cumsum(tables.initial)
        self.next_cum = np.cumsum(tables.next_prob, axis=-1)
        self.tone_cum = np.cumsum(tables.tone_prob, axis=-1)
        # Guard against rounding: the last slot of every row catches u close to 1.
        self.initial_cum[-1] = np.inf
        self.next_cum[..., -1] = np.inf
        self.tone_cum[..., -1] = np.inf

    def sample_initial(self, rng: np.random.Generator) -> int:
        return int(np.searchsorted(self.initial_cum, rng.random(), side="right"))

    def sample_successor(self, rng: np.random.Generator, state: int, move: int) -> int:
        """Slot ``k`` of the successor of ``(state, move)``."""
        return int(np.searchsorted(self.next_cum[state, move], rng.random(), side="right"))

    def sample_tone(self, rng: np.random.Generator, state: int) -> int:
        return int(np.searchsorted(self.tone_cum[state], rng.random(), side="right"))

    # Batched forms: one uniform per row, no Python loop over rows.
    def sample_initial_batch(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.searchsorted(self.initial_cum, rng.random(n), side="right")

    def sample_successor_batch(self, rng: np.random.Generator, states: np.ndarray, moves: np.ndarray) -> np.ndarray:
        cum = self.next_cum[states, moves]
        return (rng.random(len(states))[:, None] >= cum).sum(axis=1)

    def sample_tone_batch(self, rng: np.random.Generator, states: np.ndarray) -> np.ndarray:
        cum = self.tone_cum[states]
        return (rng.random(len(states))[:, None] >= cum).sum(axis=1)


_SAMPLERS: weakref.WeakKeyDictionary[Tables, TableSampler] = weakref.WeakKeyDictionary()


def sampler_for(tables: Tables) -> TableSampler:
    """The shared sampler of ``tables`` (built once)."""
    sampler = _SAMPLERS.get(tables)
    if sampler is None:
        sampler = _SAMPLERS[tables] = TableSampler(tables)
    return sampler
