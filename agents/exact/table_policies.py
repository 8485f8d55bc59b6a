"""Memoryless policies given as tables from (turn, table key) to move, and their file format.

- :class:`TablePolicy`: a deterministic table, with a fallback policy for the keys not
  in it (what the search returns); :meth:`TablePolicy.save` and :meth:`TablePolicy.load`
  write and read it as an ``.npz`` file of format :data:`TABLE_FORMAT`.
- :class:`RandomTablePolicy`: a seeded pseudo-random move for every key.
- :class:`SequencePolicy`: a fixed sequence of moves, one per turn.
- :func:`moves_of`: any policy's moves on a turn's table keys, one batched ``predict``.

Each has SB3's ``predict`` and ``moves(turn, keys)``, the form the exact forward pass
(:mod:`~agents.exact.memoryless_value`) asks for moves in.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from difficult_customer.agents.base import BatchPolicy, Policy
from difficult_customer.agents.exact.table_keys import (
    observation_vectors,
    read_table_keys,
    seed_order,
    split_table_key,
    table_key,
)
from difficult_customer.customer_models.vocabulary import N_MOVES

TABLE_FORMAT = 2
"""Version of the ``.npz`` files :meth:`TablePolicy.save` writes: the turn limit, and per
entry its turn, the core's ``observation_code`` and ``history`` codes, and its move."""


def _check_max_turns(max_turns: Any) -> int:
    """``max_turns`` as an int; ValueError naming it unless it is an integer >= 1."""
    if isinstance(max_turns, bool) or not isinstance(max_turns, (int, np.integer)) or max_turns < 1:
        raise ValueError(f"max_turns={max_turns!r}; allowed is an integer >= 1")
    return int(max_turns)


class _ByTurnTable(BatchPolicy):
    """SB3's ``predict`` for a policy given as ``moves(turn, table keys)``: one lookup per turn in the batch."""

    max_turns: int

    def moves(self, turn: int, keys: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def moves_for(self, batch: np.ndarray, state: Any, episode_start: np.ndarray | None) -> tuple[np.ndarray, Any]:
        """Each observation's move from the table of its turn."""
        turn, key = read_table_keys(batch, self.max_turns)
        out = np.zeros(key.shape[0], dtype=np.int64)
        for t in np.unique(turn):
            rows = turn == t
            out[rows] = self.moves(int(t), key[rows])
        return out, state


class RandomTablePolicy(_ByTurnTable):
    """A seeded random memoryless policy: a fixed pseudo-random move for every observation.

    The move is a hash of (seed, turn, observation), so the same observation always
    gets the same move and every observation (reached or not) has one. The hash reads
    :func:`~agents.exact.table_keys.seed_order`, so a seed keeps its moves.
    """

    def __init__(self, max_turns: int, seed: int = 0) -> None:
        self.max_turns = _check_max_turns(max_turns)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed={seed!r}; allowed is an integer >= 0")
        self.seed = int(seed)
        self.name = f"random_table_{self.seed}"

    def moves(self, turn: int, keys: np.ndarray) -> np.ndarray:
        """The move for each table key of a turn."""
        number = seed_order(np.asarray(keys, dtype=np.int64).reshape(-1))
        x = (number.astype(np.uint64) * np.uint64(64) + np.uint64(turn)) ^ np.uint64(
            (self.seed * 0x9E3779B97F4A7C15) % 2**64
        )
        with np.errstate(over="ignore"):  # splitmix64: wrapping arithmetic is the point
            x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            x = x ^ (x >> np.uint64(31))
        return (x % np.uint64(N_MOVES)).astype(np.int64)

    def __repr__(self) -> str:
        return f"RandomTablePolicy(max_turns={self.max_turns}, seed={self.seed})"


class SequencePolicy(BatchPolicy):
    """A fixed sequence of moves, one per turn, whatever the customer shows (memoryless).

    ``SequencePolicy.random(max_turns, seed)`` draws one; the search starts from such
    sequences: unlike a random table, a sequence reaches few distinct observations, so
    improving it stays cheap.
    """

    def __init__(self, moves: Sequence[int] | np.ndarray, name: str = "sequence") -> None:
        moves = np.asarray(moves, dtype=np.int64).reshape(-1)
        if moves.size == 0 or np.any((moves < 0) | (moves >= N_MOVES)):
            raise ValueError(f"moves={moves.tolist()!r}; allowed: a non-empty sequence of move ids 0-{N_MOVES - 1}")
        self.sequence = moves
        self.max_turns = int(moves.shape[0])
        self.name = name

    @classmethod
    def random(cls, max_turns: int, seed: int) -> SequencePolicy:
        """A uniformly random sequence of ``max_turns`` moves, seeded."""
        max_turns = _check_max_turns(max_turns)
        return cls(np.random.default_rng(seed).integers(0, N_MOVES, max_turns), name=f"random_sequence_{seed}")

    def moves(self, turn: int, keys: np.ndarray) -> np.ndarray:
        """The turn's move for every table key."""
        return np.full(np.asarray(keys).shape[0], self.sequence[min(turn, self.max_turns - 1)], dtype=np.int64)

    def moves_for(self, batch: np.ndarray, state: Any, episode_start: np.ndarray | None) -> tuple[np.ndarray, Any]:
        """The sequence's move for the turn of each observation."""
        turn, _ = read_table_keys(batch, self.max_turns)
        return self.sequence[np.clip(turn, 0, self.max_turns - 1)], state

    def __repr__(self) -> str:
        return f"SequencePolicy({self.sequence.tolist()}, name={self.name!r})"


class TablePolicy(_ByTurnTable):
    """A deterministic memoryless policy: a table from (turn, table key) to move.

    Observations not in the table get the fallback policy's move (a policy with
    ``predict``, a :class:`RandomTablePolicy`, or one move id for all). The table is
    what :func:`search_memoryless` returns.

    Args:
        max_turns: the turn limit the observations' turn fraction is read with.
        table: ``table[turn] = (keys, moves)``: table keys (:func:`~agents.exact.table_keys.table_key`) and their moves.
        fallback: the move for observations not in the table.
        name: for display.
    """

    def __init__(
        self,
        max_turns: int,
        table: dict[int, tuple[np.ndarray, np.ndarray]] | None = None,
        fallback: Policy | int = 0,
        name: str = "table",
    ) -> None:
        self.max_turns = _check_max_turns(max_turns)
        if isinstance(fallback, (int, np.integer)) and not isinstance(fallback, bool):
            if not 0 <= fallback < N_MOVES:
                raise ValueError(f"fallback={fallback!r}; allowed: a move id 0-{N_MOVES - 1} or a policy")
        elif not hasattr(fallback, "predict"):
            raise ValueError(f"fallback={fallback!r}; allowed: a move id 0-{N_MOVES - 1} or a policy")
        self.fallback = fallback
        self.name = name
        self.table: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for turn, (keys, moves) in (table or {}).items():
            self.set(int(turn), keys, moves)

    def set(self, turn: int, keys: np.ndarray, moves: np.ndarray) -> None:
        """Set the moves of some table keys of a turn (others keep theirs)."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        moves = np.asarray(moves, dtype=np.int64).reshape(-1)
        if keys.shape != moves.shape:
            raise ValueError(f"{keys.shape[0]} keys but {moves.shape[0]} moves; give one move per table key")
        if np.any((moves < 0) | (moves >= N_MOVES)):
            raise ValueError(f"moves {moves[(moves < 0) | (moves >= N_MOVES)][:5]}; allowed: 0-{N_MOVES - 1}")
        old_keys, old_moves = self.table.get(turn, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        all_keys = np.concatenate([keys, old_keys])
        all_moves = np.concatenate([moves, old_moves])
        unique, first = np.unique(all_keys, return_index=True)  # the new move wins
        self.table[turn] = (unique, all_moves[first])

    @property
    def size(self) -> int:
        """Number of (turn, observation) entries in the table."""
        return sum(keys.shape[0] for keys, _ in self.table.values())

    def moves(self, turn: int, keys: np.ndarray) -> np.ndarray:
        """The move for each table key of a turn: the table's, else the fallback's (then cached)."""
        keys = np.asarray(keys, dtype=np.int64).reshape(-1)
        known, moves = self.table.get(turn, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        at = np.minimum(np.searchsorted(known, keys), max(known.shape[0] - 1, 0))
        found = known[at] == keys if known.shape[0] else np.zeros(keys.shape[0], dtype=bool)
        out = np.where(found, moves[at] if known.shape[0] else 0, -1)
        missing = np.flatnonzero(~found)
        if missing.size:
            new = moves_of(self.fallback, turn, np.unique(keys[missing]), self.max_turns)
            self.set(turn, np.unique(keys[missing]), new)
            out[missing] = self.moves(turn, keys[missing])
        return out

    def save(self, path: str) -> None:
        """Write the table to an ``.npz`` file of format :data:`TABLE_FORMAT`."""
        turns = sorted(self.table)
        empty = [np.zeros(0, np.int64)]
        keys = np.concatenate([self.table[t][0] for t in turns] or empty)
        code, history = split_table_key(keys)
        np.savez_compressed(
            path,
            format=np.int64(TABLE_FORMAT),
            max_turns=np.int64(self.max_turns),
            turn=np.concatenate([np.full(self.table[t][0].shape[0], t, dtype=np.int64) for t in turns] or empty),
            observation_code=code,
            history=history,
            move=np.concatenate([self.table[t][1] for t in turns] or empty),
        )

    @classmethod
    def load(cls, path: str, fallback: Policy | int = 0, name: str = "table") -> TablePolicy:
        """A table written by :meth:`save`, with ``fallback`` for observations not in it.

        Raises:
            ValueError: for a file of another format than :data:`TABLE_FORMAT` (format 1,
                files without a ``format`` entry, is no longer read).
        """
        with np.load(path) as data:
            version = int(data["format"]) if "format" in data.files else 1
            if version != TABLE_FORMAT:
                raise ValueError(
                    f"{path}: table format {version}; this version reads format {TABLE_FORMAT} only "
                    "(re-run the search with --save to write one)"
                )
            keys = table_key(data["observation_code"], data["history"])
            out = cls(int(data["max_turns"]), None, fallback, name)
            turn, move = data["turn"], data["move"]
            for t in np.unique(turn):
                rows = turn == t
                out.set(int(t), keys[rows], move[rows])
        return out

    def copy(self, name: str | None = None) -> TablePolicy:
        """An independent copy (same fallback)."""
        out = TablePolicy(self.max_turns, None, self.fallback, name or self.name)
        out.table = {t: (c.copy(), m.copy()) for t, (c, m) in self.table.items()}
        return out

    def __repr__(self) -> str:
        return f"TablePolicy(name={self.name!r}, entries={self.size}, fallback={self.fallback!r})"


def moves_of(policy: Policy | int, turn: int, keys: np.ndarray, max_turns: int) -> np.ndarray:
    """A policy's moves on a turn's table keys: one batched ``predict`` call."""
    if isinstance(policy, (int, np.integer)):
        return np.full(keys.shape[0], int(policy), dtype=np.int64)
    if isinstance(policy, (TablePolicy, RandomTablePolicy, SequencePolicy)):
        return policy.moves(turn, keys)
    if keys.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    moves, _ = policy.predict(observation_vectors(turn, keys, max_turns), None, None, True)
    moves = np.asarray(moves, dtype=np.int64).reshape(-1)
    if moves.shape[0] != keys.shape[0] or np.any((moves < 0) | (moves >= N_MOVES)):
        raise ValueError(f"policy {policy!r} returned invalid moves {moves[:10]} for a batch of {keys.shape[0]}")
    return moves


__all__ = ["TABLE_FORMAT", "RandomTablePolicy", "SequencePolicy", "TablePolicy", "moves_of"]
