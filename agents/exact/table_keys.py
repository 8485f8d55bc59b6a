"""Table keys: the (observation code, history code) pair a memoryless table policy reads at a turn.

An observation a memoryless policy sees is (turn, observation code, history code): the
core's :func:`~envs.core.observation_code` of what the customer shows and the history
code of the agent's last move and clipped move counts. Within a turn the two codes are
one *table key*, ``observation_code * N_HISTORIES + history_code`` (:func:`table_key`),
below :data:`N_TABLE_KEYS`. :func:`read_table_keys` reads (turn, table key) from
observation vectors and :func:`observation_vectors` builds the vectors back, from the
core's :class:`~envs.core.ObservationLookup`.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from difficult_customer.agents.base import check_observation
from difficult_customer.customer_models.vocabulary import N_MOVES, N_REACTIONS
from difficult_customer.envs.core import (
    N_HISTORIES,
    N_OBSERVATION_CODES,
    NO_MOVE,
    history_counts,
    history_last_move,
    observation_code,
    observation_lookup,
    split_observation_code,
)
from difficult_customer.envs.observation import COUNT_CAP, decode, turn_of

N_TABLE_KEYS = N_OBSERVATION_CODES * N_HISTORIES
"""Distinct table keys per turn (:func:`table_key`)."""


def table_key(code: Any, history: Any) -> np.ndarray:
    """The table key of observation codes and history codes: ``code * N_HISTORIES + history``, int64."""
    return np.asarray(code, dtype=np.int64) * N_HISTORIES + np.asarray(history, dtype=np.int64)


def split_table_key(key: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(observation code, history code)`` of table keys."""
    return np.divmod(np.asarray(key, dtype=np.int64), N_HISTORIES)


def observation_vectors(turn: int, keys: np.ndarray, max_turns: int) -> np.ndarray:
    """Partial observation vectors ``(n, PARTIAL_SIZE)`` float32 of a turn's table keys.

    The core's lookup rows: ``head[code] | turn_fraction[turn] | tail[history]``.
    """
    lookup = observation_lookup(max_turns)
    code, history = split_table_key(np.asarray(keys).reshape(-1))
    fraction = np.full((code.shape[0], 1), lookup.turn_fraction[turn], dtype=np.float32)
    return np.concatenate([lookup.head[code], fraction, lookup.tail[history]], axis=-1)


@functools.lru_cache(maxsize=1)
def _history_by_fields() -> np.ndarray:
    """The inverse of the core's history decoders: history code by (last move or ``NO_MOVE``, counts...)."""
    history = np.arange(N_HISTORIES)
    last = history_last_move(history)
    fields = (np.where(last < 0, NO_MOVE, last), *history_counts(history).T)
    shape = (N_MOVES + 1,) + (COUNT_CAP + 1,) * N_MOVES
    inverse = np.full(shape, -1, dtype=np.int64)
    inverse[fields] = history
    assert (inverse >= 0).all(), "every (last move, clipped counts) has a history code"
    inverse.setflags(write=False)
    return inverse


def history_code(last: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """History codes of last moves (-1 or ``NO_MOVE`` for none) and move counts ``(..., N_MOVES)`` (clipped here)."""
    last = np.asarray(last, dtype=np.int64)
    counts = np.minimum(np.asarray(counts, dtype=np.int64), COUNT_CAP)
    return _history_by_fields()[(np.where(last < 0, NO_MOVE, last), *np.moveaxis(counts, -1, 0))]


def read_table_keys(observation: np.ndarray, max_turns: int) -> tuple[np.ndarray, np.ndarray]:
    """``(turn, table key)`` of partial observation vectors (a batch, or one).

    Raises:
        ValueError: for an array that is not a batch of observations.
    """
    seen = decode(check_observation(observation))
    turn = np.asarray(turn_of(observation, max_turns))
    code = observation_code(
        np.asarray(seen.tone, dtype=np.int64),
        np.asarray(seen.reaction, dtype=np.int64),
        np.asarray(seen.solved, dtype=np.int64),
    )
    return turn, table_key(code, history_code(seen.last_move, seen.counts))


_COUNT_DIGITS = (COUNT_CAP + 1) ** N_MOVES


def seed_order(keys: np.ndarray) -> np.ndarray:
    """A fixed number for each table key, that seeded draws read (hashes, orders).

    The digits are (tone, reaction, solved, last move, counts), the numbering the first
    table files used; seeded random tables hash it and the search's kicks are drawn in
    its order, so a seed keeps its moves and its search.
    """
    code, history = split_table_key(keys)
    tone, reaction, solved = split_observation_code(code)
    last = history_last_move(history)
    counts = (history_counts(history) * (COUNT_CAP + 1) ** np.arange(N_MOVES)).sum(-1)
    number = ((tone * N_REACTIONS + reaction) * 2 + solved) * (N_MOVES + 1) + np.where(last < 0, NO_MOVE, last)
    return number * _COUNT_DIGITS + counts


__all__ = [
    "N_TABLE_KEYS",
    "history_code",
    "observation_vectors",
    "read_table_keys",
    "seed_order",
    "split_table_key",
    "table_key",
]
