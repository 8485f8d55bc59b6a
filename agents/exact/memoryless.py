"""Memoryless policies: exact values, and a search for the best one.

A *memoryless* policy picks its move from the current partial observation alone (tone,
reaction, solved, turn fraction, last move, move counts clipped at 3; see
``envs/observation.py``), deterministically. Every scripted policy is one, and so is an
MLP trained on that observation (PPO, DQN) when it acts deterministically. The
observation already carries the turn, the last move and the clipped counts, so
"memoryless" means "a function of the current observation vector", not "blind".

Because the policy remembers nothing else, conversations that show the same observation
can be merged: the exact distribution over (observation, hidden state) pairs, turn by
turn, is all there is to such a policy's value.

- :func:`memoryless_value` values any such policy exactly: it enumerates the reachable
  (observation, hidden state) pairs from the tables turn by turn and asks the policy for
  a move once per turn, on one batch of that turn's distinct observations
  (``policy.predict(batch, deterministic=True)``; reachability depends on the moves, so
  the batches cannot all be formed up front).
- :class:`TablePolicy` is a memoryless policy given as a table from observations to
  moves, with a fallback policy for observations not in the table;
  :class:`RandomTablePolicy` is a seeded random one and :class:`SequencePolicy` a fixed
  sequence of moves.
- :func:`exact_memoryless_optimum` is the exact optimum for ``max_turns`` <= 2.
- :func:`search_memoryless` looks for the best memoryless policy by policy iteration
  over the observation-to-move table, each sweep an exact improvement (see
  :func:`improve`), from several starts. The value it returns is the exact value of the
  policy it returns, so it is a certified *lower* bound on the memoryless optimum; the
  bracket's upper bound (:func:`~agents.exact.bracket.certified_bracket`) is an upper
  bound on it.

**Observations** are the conversation core's codes (:mod:`difficult_customer.envs.core`),
nothing of their own: an observation the agent sees is (observation code, history code,
turn), the code :func:`~envs.core.observation_code` of what the customer shows and the
history code of the agent's last move and clipped counts. The openings come from
:func:`~envs.core.opening_distribution`, histories advance through the core lookup's
``next_history`` and observation vectors are assembled from the
:class:`~envs.core.ObservationLookup`. Within a turn the two codes are one *visible key*,
``code * N_HISTORIES + history`` (:func:`visible_key`, the key ``propagate`` uses too),
below :data:`N_CODES`; tables and move functions take arrays of keys, a turn at a time
(:func:`observation_codes` reads (turn, key) back from vectors, :func:`observations`
builds the vectors).

``python -m difficult_customer.agents.exact.memoryless`` runs the search on the mixture
and prints it next to the certified bracket (``--save`` writes the best table).
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from difficult_customer.agents.base import Policy, PolicyContext, check_observation
from difficult_customer.agents.exact.model import transition_index
from difficult_customer.customer_models import Tables
from difficult_customer.customer_models.vocabulary import N_MOVES, N_REACTIONS
from difficult_customer.envs.core import (
    N_HISTORIES,
    N_OBSERVATION_CODES,
    NO_MOVE,
    START_HISTORY,
    history_counts,
    history_last_move,
    observation_code,
    observation_lookup,
    opening_distribution,
    split_observation_code,
)
from difficult_customer.envs.observation import COUNT_CAP, decode

N_CODES = N_OBSERVATION_CODES * N_HISTORIES
"""Distinct visible keys per turn (:func:`visible_key`)."""

TABLE_FORMAT = 2
"""Version of the ``.npz`` files :meth:`TablePolicy.save` writes.

1 (files without a ``format`` entry) stored one ``code`` array of an older packing of
(tone, reaction, solved, last move, counts); :meth:`TablePolicy.load` still reads them.
2 stores the core's ``observation_code`` and ``history`` arrays."""

MoveFunction = Callable[[int, np.ndarray], np.ndarray]
"""``moves(turn, keys)``: the policy's move for each visible key of a turn."""


# ------------------------------------------------------------------ visible keys
def visible_key(code: Any, history: Any) -> np.ndarray:
    """The key of an observation within a turn: the core's observation code and history code, ``code * N_HISTORIES + history``."""
    return np.asarray(code, dtype=np.int64) * N_HISTORIES + np.asarray(history, dtype=np.int64)


def split_visible_key(key: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(observation code, history code)`` of visible keys."""
    return np.divmod(np.asarray(key, dtype=np.int64), N_HISTORIES)


def observations(turn: int, keys: np.ndarray, max_turns: int) -> np.ndarray:
    """Partial observation vectors ``(n, PARTIAL_SIZE)`` float32 of a turn's visible keys.

    Assembled from the core's :class:`~envs.core.ObservationLookup`:
    ``head[code] | turn_fraction[turn] | tail[history]``.
    """
    lookup = observation_lookup(max_turns)
    code, history = split_visible_key(np.asarray(keys).reshape(-1))
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


def _history_code(last: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """History codes of last moves (-1 or ``NO_MOVE`` for none) and move counts ``(..., N_MOVES)`` (clipped here)."""
    last = np.asarray(last, dtype=np.int64)
    counts = np.minimum(np.asarray(counts, dtype=np.int64), COUNT_CAP)
    return _history_by_fields()[(np.where(last < 0, NO_MOVE, last), *np.moveaxis(counts, -1, 0))]


def observation_codes(observation: np.ndarray, max_turns: int) -> tuple[np.ndarray, np.ndarray]:
    """(turn, visible key) of partial observation vectors (a batch, or one).

    Raises:
        ValueError: for an array that is not a batch of observations.
    """
    seen = decode(check_observation(observation))
    turn = np.rint(np.asarray(seen.turn_fraction, dtype=np.float64) * max_turns).astype(np.int64)
    code = observation_code(
        np.asarray(seen.tone, dtype=np.int64),
        np.asarray(seen.reaction, dtype=np.int64),
        np.asarray(seen.solved, dtype=np.int64),
    )
    return turn, visible_key(code, _history_code(seen.last_move, seen.counts))


# Format 1 of saved tables numbered observations by (tone, reaction, solved, last move,
# counts) in that order of digits; RandomTablePolicy hashes these numbers, so that a
# seed keeps its moves, and the search draws its kicks in their order, so that a seed
# keeps its search. They are computed from the core's codes, never stepped.
_LEGACY_COUNTS = (COUNT_CAP + 1) ** N_MOVES


def _legacy_number(keys: np.ndarray) -> np.ndarray:
    """The format-1 number of visible keys."""
    code, history = split_visible_key(keys)
    tone, reaction, solved = split_observation_code(code)
    last = history_last_move(history)
    counts = (history_counts(history) * (COUNT_CAP + 1) ** np.arange(N_MOVES)).sum(-1)
    number = ((tone * N_REACTIONS + reaction) * 2 + solved) * (N_MOVES + 1) + np.where(last < 0, NO_MOVE, last)
    return number * _LEGACY_COUNTS + counts


def _from_legacy_number(number: np.ndarray) -> np.ndarray:
    """The visible keys of format-1 numbers (tables saved before :data:`TABLE_FORMAT` 2)."""
    rest, counts = np.divmod(np.asarray(number, dtype=np.int64), _LEGACY_COUNTS)
    rest, last = np.divmod(rest, N_MOVES + 1)
    rest, solved = np.divmod(rest, 2)
    tone, reaction = np.divmod(rest, N_REACTIONS)
    digits = (counts[..., None] // (COUNT_CAP + 1) ** np.arange(N_MOVES)) % (COUNT_CAP + 1)
    return visible_key(observation_code(tone, reaction, solved), _history_code(last, digits))


# ------------------------------------------------------------------ policies
def _check_max_turns(max_turns: Any) -> int:
    if isinstance(max_turns, bool) or not isinstance(max_turns, (int, np.integer)) or max_turns < 1:
        raise ValueError(f"max_turns={max_turns!r}; allowed is an integer >= 1")
    return int(max_turns)


class _ByTurnTable:
    """SB3's ``predict`` for a policy given as ``moves(turn, visible keys)``: one lookup per turn in the batch."""

    max_turns: int

    def moves(self, turn: int, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """SB3-style predict on one observation or a batch."""
        obs = check_observation(observation)
        turn, code = observation_codes(obs.reshape(-1, obs.shape[-1]), self.max_turns)
        out = np.zeros(code.shape[0], dtype=np.int64)
        for t in np.unique(turn):
            rows = turn == t
            out[rows] = self.moves(int(t), code[rows])
        return out.reshape(obs.shape[:-1]), state


class RandomTablePolicy(_ByTurnTable):
    """A seeded random memoryless policy: a fixed pseudo-random move for every observation.

    The move is a hash of (seed, turn, observation), so the same observation always
    gets the same move and every observation (reached or not) has one. The hash reads
    the observation's format-1 number (see :data:`TABLE_FORMAT`), so a seed keeps the
    moves it had before the module used the core's codes.
    """

    def __init__(self, max_turns: int, seed: int = 0) -> None:
        self.max_turns = _check_max_turns(max_turns)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed={seed!r}; allowed is an integer >= 0")
        self.seed = int(seed)
        self.name = f"random_table_{self.seed}"

    def moves(self, turn: int, keys: np.ndarray) -> np.ndarray:
        """The move for each visible key of a turn."""
        number = _legacy_number(np.asarray(keys, dtype=np.int64).reshape(-1))
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


class SequencePolicy:
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
        """The turn's move for every visible key."""
        return np.full(np.asarray(keys).shape[0], self.sequence[min(turn, self.max_turns - 1)], dtype=np.int64)

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """SB3-style predict on one observation or a batch."""
        obs = check_observation(observation)
        turn, _ = observation_codes(obs.reshape(-1, obs.shape[-1]), self.max_turns)
        moves = self.sequence[np.clip(turn, 0, self.max_turns - 1)]
        return moves.reshape(obs.shape[:-1]), state

    def __repr__(self) -> str:
        return f"SequencePolicy({self.sequence.tolist()}, name={self.name!r})"


class TablePolicy(_ByTurnTable):
    """A deterministic memoryless policy: a table from (turn, visible key) to move.

    Observations not in the table get the fallback policy's move (a policy with
    ``predict``, a :class:`RandomTablePolicy`, or one move id for all). The table is
    what :func:`search_memoryless` returns.

    Args:
        max_turns: the turn limit the observations' turn fraction is read with.
        table: ``table[turn] = (keys, moves)``: visible keys (:func:`visible_key`) and their moves.
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
        for turn, (codes, moves) in (table or {}).items():
            self.set(int(turn), codes, moves)

    def set(self, turn: int, codes: np.ndarray, moves: np.ndarray) -> None:
        """Set the moves of some visible keys of a turn (others keep theirs)."""
        codes = np.asarray(codes, dtype=np.int64).reshape(-1)
        moves = np.asarray(moves, dtype=np.int64).reshape(-1)
        if codes.shape != moves.shape:
            raise ValueError(f"{codes.shape[0]} codes but {moves.shape[0]} moves; give one move per visible key")
        if np.any((moves < 0) | (moves >= N_MOVES)):
            raise ValueError(f"moves {moves[(moves < 0) | (moves >= N_MOVES)][:5]}; allowed: 0-{N_MOVES - 1}")
        old_codes, old_moves = self.table.get(turn, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        all_codes = np.concatenate([codes, old_codes])
        all_moves = np.concatenate([moves, old_moves])
        unique, first = np.unique(all_codes, return_index=True)  # the new move wins
        self.table[turn] = (unique, all_moves[first])

    @property
    def size(self) -> int:
        """Number of (turn, observation) entries in the table."""
        return sum(codes.shape[0] for codes, _ in self.table.values())

    def moves(self, turn: int, codes: np.ndarray) -> np.ndarray:
        """The move for each visible key of a turn: the table's, else the fallback's (then cached)."""
        codes = np.asarray(codes, dtype=np.int64).reshape(-1)
        known, moves = self.table.get(turn, (np.zeros(0, np.int64), np.zeros(0, np.int64)))
        at = np.minimum(np.searchsorted(known, codes), max(known.shape[0] - 1, 0))
        found = known[at] == codes if known.shape[0] else np.zeros(codes.shape[0], dtype=bool)
        out = np.where(found, moves[at] if known.shape[0] else 0, -1)
        missing = np.flatnonzero(~found)
        if missing.size:
            new = _moves_of(self.fallback, turn, np.unique(codes[missing]), self.max_turns)
            self.set(turn, np.unique(codes[missing]), new)
            out[missing] = self.moves(turn, codes[missing])
        return out

    def save(self, path: str) -> None:
        """Write the table to an ``.npz`` file (:data:`TABLE_FORMAT`): turn limit, and per entry turn, codes, move.

        The entries are the core's ``observation_code`` and ``history`` codes of each key.
        """
        turns = sorted(self.table)
        empty = [np.zeros(0, np.int64)]
        keys = np.concatenate([self.table[t][0] for t in turns] or empty)
        code, history = split_visible_key(keys)
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
        """A table written by :meth:`save` (any format up to :data:`TABLE_FORMAT`), with ``fallback`` for observations not in it.

        Raises:
            ValueError: for a file of a newer format than this module reads.
        """
        with np.load(path) as data:
            version = int(data["format"]) if "format" in data.files else 1
            if version > TABLE_FORMAT:
                raise ValueError(
                    f"{path}: table format {version}; this version reads formats 1-{TABLE_FORMAT} (update the project)"
                )
            if version == 1:
                keys = _from_legacy_number(data["code"])
            else:
                keys = visible_key(data["observation_code"], data["history"])
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


def _moves_of(policy: Policy | int, turn: int, codes: np.ndarray, max_turns: int) -> np.ndarray:
    """A policy's moves on a turn's visible keys: one batched ``predict`` call."""
    if isinstance(policy, (int, np.integer)):
        return np.full(codes.shape[0], int(policy), dtype=np.int64)
    if isinstance(policy, (TablePolicy, RandomTablePolicy, SequencePolicy)):
        return policy.moves(turn, codes)
    if codes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    moves, _ = policy.predict(observations(turn, codes, max_turns), None, None, True)
    moves = np.asarray(moves, dtype=np.int64).reshape(-1)
    if moves.shape[0] != codes.shape[0] or np.any((moves < 0) | (moves >= N_MOVES)):
        raise ValueError(f"policy {policy!r} returned invalid moves {moves[:10]} for a batch of {codes.shape[0]}")
    return moves


# ------------------------------------------------------------------ the engine
class _Model:
    """The tables as the engine needs them: successors with their next visible key."""

    def __init__(self, tables: Tables, max_turns: int) -> None:
        self.tables = tables
        self.max_turns = max_turns
        self.ix = transition_index(tables)
        self.n_states = tables.n_states
        self.persona = tables.factor("persona").astype(np.int64)
        self.n_personas = len(tables.persona_names)
        self.next_history = observation_lookup(max_turns).next_history

    def openings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(keys, states, probabilities) at turn 0, from the core's opening distribution, merged."""
        opening = opening_distribution(self.tables)
        keys = visible_key(opening.code, START_HISTORY)
        return _merge(keys, opening.state, opening.prob, self.n_states)[:3]

    def successors(self, keys: np.ndarray, states: np.ndarray, moves: np.ndarray) -> tuple[np.ndarray, ...]:
        """Successors of (visible key, state) pairs under ``moves``.

        Returns:
            ``(parent, reward_weight, reward, child_parent, child_key, child_state,
            child_weight)`` flattened as: ``parent`` (E,) the pair each transition comes
            from, its probability and reward, and for the transitions that continue, one
            entry per tone with positive chance.
        """
        ix = self.ix
        parent, entry = ix.expand(states, moves)
        prob = ix.prob[entry]
        reward = ix.reward[entry]
        target = ix.target[entry]
        alive = ~ix.terminal[target]
        e_parent, e_entry, e_prob, e_target = parent[alive], entry[alive], prob[alive], target[alive]
        move = moves[e_parent]
        _, history = split_visible_key(keys[e_parent])
        history = self.next_history[history * (N_MOVES + 1) + move]
        tone_prob = self.tables.tone_prob[e_target]  # (E', T)
        rows, tone = np.nonzero(tone_prob > 0)
        shown = observation_code(tone, ix.reaction[e_entry][rows], ix.solved[e_target][rows])
        return (
            parent,
            prob,
            reward,
            e_parent[rows],
            visible_key(shown, history[rows]),
            e_target[rows],
            e_prob[rows] * tone_prob[rows, tone],
        )


def _merge(codes: np.ndarray, states: np.ndarray, prob: np.ndarray, n_states: int) -> tuple[np.ndarray, ...]:
    """Sum duplicate (visible key, state) entries, sorted by key then state; and each entry's row."""
    key, inverse = np.unique(codes * n_states + states, return_inverse=True)
    return key // n_states, key % n_states, np.bincount(inverse, prob, minlength=key.shape[0]), inverse


@dataclass(frozen=True)
class MemorylessValue:
    """The exact value of a memoryless policy.

    Attributes:
        value: expected return.
        value_by_persona: expected return given each persona of the mixture.
        observations: distinct (turn, observation) pairs the policy was asked about: those
            reached with positive probability.
        max_support: most (observation, hidden state) pairs alive at one turn (positive
            probability, as ``propagate`` counts them).
        seconds: wall time.
    """

    value: float
    value_by_persona: dict[str, float]
    observations: int
    max_support: int
    seconds: float


def memoryless_value(policy: Policy, context: PolicyContext) -> MemorylessValue:
    """The exact expected return of a deterministic memoryless policy in ``context``.

    ``policy.predict(batch, None, None, True)`` must be a deterministic function of each
    partial observation (scripted policies, :class:`TablePolicy`, an SB3 MLP acting
    deterministically). It is called once per turn, on the batch of the distinct
    observations reachable at that turn (with the moves of the turns before).

    Raises:
        ValueError: for a context whose observation is not ``"partial"``, or a policy
            that returns something other than one move id per observation.
    """
    if context.observation != "partial":
        raise ValueError(f"observation={context.observation!r}; memoryless_value needs 'partial'")
    start = time.perf_counter()
    model = _Model(context.tables, context.max_turns)

    def moves(turn: int, codes: np.ndarray) -> np.ndarray:
        return _moves_of(policy, turn, codes, context.max_turns)

    value, by_persona, queried, support = _forward(model, moves)
    return MemorylessValue(
        value=value,
        value_by_persona=by_persona,
        observations=queried,
        max_support=support,
        seconds=time.perf_counter() - start,
    )


def _forward(model: _Model, moves_for: MoveFunction) -> tuple[float, dict[str, float], int, int]:
    """Exact forward propagation of (observation, state) pairs under a move function."""
    t = model.tables
    codes, states, prob = model.openings()
    by_persona = np.zeros(model.n_personas)
    queried = support = 0
    for turn in range(model.max_turns):
        if codes.shape[0] == 0:
            break
        support = max(support, int(codes.shape[0]))
        distinct, which = np.unique(codes, return_inverse=True)
        queried += int(distinct.shape[0])
        move = np.asarray(moves_for(turn, distinct), dtype=np.int64)[which]
        parent, p, reward, c_parent, c_code, c_state, c_weight = model.successors(codes, states, move)
        w = prob[parent] * p
        by_persona += np.bincount(model.persona[states[parent]], w * reward, minlength=model.n_personas)
        if turn + 1 == model.max_turns:
            break
        codes, states, prob, _ = _merge(c_code, c_state, prob[c_parent] * c_weight, model.n_states)
    start = t.initial_by_persona.sum(-1) * np.asarray(t.mixture.weights)
    persona_values = dict(zip(t.persona_names, (by_persona / start).tolist(), strict=True))
    return float(by_persona.sum()), persona_values, queried, support


# ------------------------------------------------------------------ policy improvement
@dataclass
class _Layer:
    """One turn of the improvement sweep: the pairs whose value is needed."""

    codes: np.ndarray
    states: np.ndarray
    prob: np.ndarray
    """Probability under the current policy (0 for pairs reached only by a deviation)."""
    move: np.ndarray
    """The current policy's move at each pair's observation."""
    open_rows: np.ndarray
    """Pairs whose observation the current policy reaches: every move is expanded there."""
    expansions: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    """Per move (then the current move at the other pairs): rows, moves and their successors."""
    child_rows: list[np.ndarray] = field(default_factory=list)
    """Per expansion, the row of the next layer each continuing successor merged into."""


class TooLarge(ValueError):
    """An improvement sweep would need more successor entries than allowed."""


DEFAULT_MAX_CHILDREN = 60_000_000
"""Successor entries one sweep may hold (about 16 bytes each)."""


def improve(
    policy: TablePolicy, context: PolicyContext, max_children: int | None = DEFAULT_MAX_CHILDREN
) -> tuple[float, float, int]:
    """One exact policy-improvement sweep over every observation the policy reaches.

    Forward, the pairs the current policy reaches (with their probabilities) and every
    pair one changed move at a reached observation can lead to (followed by the current
    policy) are enumerated. Backward from the last turn, each reached observation gets
    the move with the highest exact expected return given the distribution of hidden
    states behind it and the (already improved) policy for the later turns; its old move
    is kept unless another is better by more than 1e-12. The moves at turn ``t`` do not
    change the distribution at turn ``t``, so the sweep never lowers the value.

    Args:
        policy: changed in place.
        context: the environment.
        max_children: most successor entries held at once (None: no limit).

    Returns:
        ``(value before, value after, observations changed)``; both values are exact.

    Raises:
        TooLarge: (a ValueError) if the sweep needs more than ``max_children`` entries;
            the policy is then unchanged.
    """
    model = _Model(context.tables, context.max_turns)
    n_states = model.n_states
    layers: list[_Layer] = []
    held = 0
    codes, states, prob = model.openings()
    for turn in range(model.max_turns):
        distinct, which = np.unique(codes, return_inverse=True)
        move = policy.moves(turn, distinct)[which]
        reached_obs = np.zeros(distinct.shape[0], dtype=bool)
        reached_obs[which[prob > 0]] = True
        open_rows = np.flatnonzero(reached_obs[which])
        layer = _Layer(codes, states, prob, move, open_rows)
        layers.append(layer)
        if turn + 1 == model.max_turns:
            break
        # Every move at open pairs, the current move elsewhere.
        children_code, children_state, children_prob = [], [], []
        closed = np.flatnonzero(~reached_obs[which])
        for a in range(N_MOVES + 1):
            rows = closed if a == N_MOVES else open_rows
            moves = move[rows] if a == N_MOVES else np.full(rows.shape[0], a)
            parent, p, reward, c_parent, c_code, c_state, c_weight = model.successors(codes[rows], states[rows], moves)
            held += c_code.shape[0]
            if max_children is not None and held > max_children:
                raise TooLarge(f"the sweep needs more than max_children={max_children} successor entries")
            layer.expansions.append((rows, moves, parent, p, reward, c_parent.astype(np.int32), c_weight))
            children_code.append(c_code)
            children_state.append(c_state)
            current = moves == move[rows]
            children_prob.append(np.where(current[c_parent], prob[rows][c_parent] * c_weight, 0.0))
        codes, states, prob, inverse = _merge(
            np.concatenate(children_code), np.concatenate(children_state), np.concatenate(children_prob), n_states
        )
        layer.child_rows = np.split(inverse.astype(np.int32), np.cumsum([c.shape[0] for c in children_code])[:-1])
    # Backward: values of the needed pairs under the improved later policy.
    before = 0.0
    later = np.zeros(0)
    changed = 0
    for turn in range(len(layers) - 1, -1, -1):
        layer = layers[turn]
        n = layer.codes.shape[0]
        q = np.full((n, N_MOVES), -np.inf)
        if not layer.expansions:  # last turn: only the immediate reward counts
            for a in range(N_MOVES):
                parent, entry = model.ix.expand(layer.states, a)
                q[:, a] = np.bincount(parent, model.ix.prob[entry] * model.ix.reward[entry], minlength=n)
        else:
            for (rows, moves, parent, p, reward, c_parent, c_weight), child in zip(
                layer.expansions, layer.child_rows, strict=True
            ):
                child_value = later[child]
                value = np.bincount(parent, p * reward, minlength=rows.shape[0]) + np.bincount(
                    c_parent, c_weight * child_value, minlength=rows.shape[0]
                )
                q[rows, moves] = value
        before += float(layer.prob @ _immediate(model, layer))
        # Choose at each reached observation.
        distinct, which = np.unique(layer.codes, return_inverse=True)
        open_obs = np.zeros(distinct.shape[0], dtype=bool)
        open_obs[which[layer.open_rows]] = True
        rows = layer.open_rows
        score = np.zeros((distinct.shape[0], N_MOVES))
        np.add.at(score, which[rows], layer.prob[rows, None] * q[rows])
        current = np.zeros(distinct.shape[0], dtype=np.int64)
        current[which] = layer.move
        index = np.arange(distinct.shape[0])
        better = open_obs & (score[index, score.argmax(-1)] > score[index, current] + 1e-12)
        new_move = np.where(better, score.argmax(-1), current)
        if better.any():
            policy.set(turn, distinct[better], new_move[better])
            changed += int(better.sum())
        later = q[np.arange(n), new_move[which]]
    return before, float(layers[0].prob @ later), changed


def _immediate(model: _Model, layer: _Layer) -> np.ndarray:
    """Expected immediate reward of each pair of a layer under its current move."""
    parent, entry = model.ix.expand(layer.states, layer.move)
    return np.bincount(parent, model.ix.prob[entry] * model.ix.reward[entry], minlength=layer.codes.shape[0])


def reached_observations(policy: Policy, context: PolicyContext) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (turn, visible key) a memoryless policy reaches, with its probability.

    Returns:
        ``(turns, keys, probabilities)``, sorted by turn then key (:func:`visible_key`);
        probabilities sum to the expected number of turns played.
    """
    model = _Model(context.tables, context.max_turns)
    codes, states, prob = model.openings()
    out_turn, out_code, out_mass = [], [], []
    for turn in range(model.max_turns):
        if codes.shape[0] == 0:
            break
        distinct, which = np.unique(codes, return_inverse=True)
        out_turn.append(np.full(distinct.shape[0], turn))
        out_code.append(distinct)
        out_mass.append(np.bincount(which, prob, minlength=distinct.shape[0]))
        move = _moves_of(policy, turn, distinct, context.max_turns)[which]
        if turn + 1 == model.max_turns:
            break
        _, _, _, c_parent, c_code, c_state, c_weight = model.successors(codes, states, move)
        codes, states, prob, _ = _merge(c_code, c_state, prob[c_parent] * c_weight, model.n_states)
    return np.concatenate(out_turn), np.concatenate(out_code), np.concatenate(out_mass)


# ------------------------------------------------------------------ exact optimum, short horizons
MAX_EXACT_TURNS = 2
"""Longest turn limit :func:`exact_memoryless_optimum` solves."""


def exact_memoryless_optimum(context: PolicyContext, max_openings: int = 12) -> tuple[float, TablePolicy]:
    """The exact best memoryless policy for ``max_turns`` <= 2, and its value.

    With one move, each opening observation simply gets its best move. With two, the
    second observation shows the first move (last move and counts) but not the opening
    observation, so openings that chose the same first move share their second-turn
    decisions. For each first move ``a`` and each subset ``U`` of openings choosing it,
    ``G_a(U)`` (their first-turn reward plus the best second move at every second
    observation they lead to) is exact; the best split of the openings among the six
    first moves is a dynamic programme over subsets (``6 · 3^k`` steps for ``k``
    openings).

    Raises:
        ValueError: for ``max_turns`` > 2, a non-partial context, or more than
            ``max_openings`` distinct opening observations.
    """
    if context.observation != "partial":
        raise ValueError(f"observation={context.observation!r}; the exact optimum needs 'partial'")
    if context.max_turns > MAX_EXACT_TURNS:
        raise ValueError(
            f"max_turns={context.max_turns}; the exact memoryless optimum allows at most {MAX_EXACT_TURNS}"
        )
    model = _Model(context.tables, context.max_turns)
    ix = model.ix
    codes, states, prob = model.openings()
    openings, which = np.unique(codes, return_inverse=True)
    k = openings.shape[0]
    if k > max_openings:
        raise ValueError(f"{k} opening observations; max_openings={max_openings} allows fewer")
    n_subsets = 1 << k
    immediate = np.zeros((k, N_MOVES))
    for a in range(N_MOVES):
        parent, entry = ix.expand(states, a)
        immediate[:, a] = np.bincount(which[parent], prob[parent] * ix.prob[entry] * ix.reward[entry], minlength=k)
    if context.max_turns == 1:
        best = immediate.argmax(-1)
        policy = TablePolicy(1, {0: (openings, best)}, fallback=0, name="exact memoryless optimum")
        return float(immediate.max(-1).sum()), policy
    gain = np.zeros((N_MOVES, n_subsets))
    second: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    members = (np.arange(n_subsets)[:, None] >> np.arange(k)[None, :]) & 1  # (subsets, k)
    for a in range(N_MOVES):
        parent, _, _, c_parent, c_code, c_state, c_weight = model.successors(codes, states, np.full(codes.shape[0], a))
        del parent
        o1, o1_index = np.unique(c_code, return_inverse=True)
        reward_next = ix.expected_reward[c_state]  # (C, A)
        # score[i, o1, a'] for opening i.
        score = np.zeros((k, o1.shape[0], N_MOVES))
        np.add.at(score, (which[c_parent], o1_index), (prob[c_parent] * c_weight)[:, None] * reward_next)
        pooled = np.einsum("uk,kom->uom", members, score)  # (subsets, o1, A)
        gain[a] = members @ immediate[:, a] + pooled.max(-1).sum(-1)
        for u in range(n_subsets):
            second[a, u] = (o1, pooled[u].argmax(-1))
    # Best split of the openings among first moves: F[a][U] over subsets U.
    value = gain[0].copy()
    split = [np.arange(n_subsets)]
    for a in range(1, N_MOVES):
        new_value = np.full(n_subsets, -np.inf)
        choice = np.zeros(n_subsets, dtype=np.int64)
        for u in range(n_subsets):
            sub = u
            while True:  # every subset v of u, v given to move a
                candidate = gain[a, sub] + value[u ^ sub]
                if candidate > new_value[u]:
                    new_value[u], choice[u] = candidate, sub
                if sub == 0:
                    break
                sub = (sub - 1) & u
        value = new_value
        split.append(choice)
    # Recover the assignment.
    first = np.zeros(k, dtype=np.int64)
    table = TablePolicy(2, fallback=0, name="exact memoryless optimum")
    rest = n_subsets - 1
    for a in range(N_MOVES - 1, -1, -1):
        mine = split[a][rest] if a > 0 else rest
        chosen = np.flatnonzero((mine >> np.arange(k)) & 1)
        first[chosen] = a
        if chosen.size:
            o1, moves = second[a, mine]
            table.set(1, o1, moves)
        rest ^= mine
    table.set(0, openings, first)
    return float(value[n_subsets - 1]), table


# ------------------------------------------------------------------ search
@dataclass(frozen=True)
class SearchRun:
    """One start of the search: its exact value after each sweep."""

    start: str
    values: tuple[float, ...]
    """Exact value of the start, then after each sweep (never decreasing)."""
    changed: tuple[int, ...]
    """Observations whose move changed in each sweep."""
    seconds: float
    cpu_seconds: float
    stopped: str = ""
    """Why the run ended early ("" if it reached a local optimum or its sweep limit)."""


@dataclass(frozen=True)
class MemorylessSearch:
    """The best memoryless policy found, with its exact value.

    Attributes:
        policy: the best table found (its fallback covers observations never reached).
        value: its exact value (recomputed from scratch by :func:`memoryless_value`): a
            certified lower bound on the best memoryless policy.
        start: which start it came from.
        runs: every start, in order.
        seconds: wall time of the whole search.
        cpu_seconds: its processor time (the wall time on an idle core).
    """

    policy: TablePolicy
    value: float
    start: str
    runs: tuple[SearchRun, ...]
    seconds: float
    cpu_seconds: float


def local_search(
    policy: TablePolicy,
    context: PolicyContext,
    max_sweeps: int = 30,
    tolerance: float = 1e-9,
    max_children: int | None = None,
) -> tuple[list[float], list[int], str]:
    """Improvement sweeps (:func:`improve`) until none changes the value by more than ``tolerance``.

    Returns:
        The exact values (start, then after each sweep), the moves changed per sweep,
        and why it stopped early ("" at a local optimum or after ``max_sweeps``). A sweep
        too large for ``max_children`` leaves the policy as the previous sweep left it.
    """
    values: list[float] = []
    changed: list[int] = []
    for _ in range(max_sweeps):
        try:
            before, after, n = improve(policy, context, max_children)
        except TooLarge as error:
            if not values:
                values.append(memoryless_value(policy, context).value)
            return values, changed, str(error)
        if not values:
            values.append(before)
        values.append(after)
        changed.append(n)
        if n == 0 or after - before <= tolerance:
            break
    return values, changed, ""


def search_memoryless(
    context: PolicyContext,
    starts: Sequence[str | Policy] = ("tone_reader", "guide_000", "best_fixed_sequence"),
    random_starts: int = 2,
    kicks: int = 0,
    kick_size: int = 8,
    seed: int = 0,
    max_sweeps: int = 30,
    max_children: int = DEFAULT_MAX_CHILDREN,
    progress: Callable[[SearchRun], None] | None = None,
) -> MemorylessSearch:
    """Search deterministic memoryless policies for the best; exact values throughout.

    From each start (a registered memoryless policy by name, a policy object, and
    ``random_starts`` seeded random move sequences, :class:`SequencePolicy`), exact improvement
    sweeps run to a local optimum: no single reached observation can change its move
    for the better. Then ``kicks`` times, ``kick_size`` observations the best table
    reaches (drawn with their probability) get another random move and the sweeps run
    again; a kicked
    table that ends higher replaces the best. Everything is seeded by ``seed``. A start
    whose sweep would hold more than ``max_children`` successor entries (memory) stops
    there, keeping the value it reached (see :class:`SearchRun`). ``progress`` is called
    with each run as it ends.

    Returns:
        The best policy with its exact value (a lower bound on the memoryless optimum).

    Raises:
        ValueError: for a non-partial context, an unknown start name, negative counts,
            or a kick size < 1.
    """
    from difficult_customer import agents

    if context.observation != "partial":
        raise ValueError(f"observation={context.observation!r}; the search needs 'partial'")
    for name, value in (("random_starts", random_starts), ("kicks", kicks), ("max_sweeps", max_sweeps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name}={value!r}; allowed is an integer >= 0")
    if isinstance(kick_size, bool) or not isinstance(kick_size, (int, np.integer)) or kick_size < 1:
        raise ValueError(f"kick_size={kick_size!r}; allowed is an integer >= 1")
    begin, begin_cpu = time.perf_counter(), time.process_time()
    candidates: list[tuple[str, Policy | int]] = []
    for item in starts:
        if isinstance(item, str):
            if item not in agents.names():
                raise ValueError(f"start {item!r} is not a registered policy; allowed: {', '.join(agents.names())}")
            candidates.append((item, agents.make(item, context)))
        else:
            candidates.append((getattr(item, "name", type(item).__name__), item))
    for i in range(int(random_starts)):
        sequence = SequencePolicy.random(context.max_turns, seed + i)
        candidates.append((sequence.name, sequence))
    runs: list[SearchRun] = []
    best: TablePolicy | None = None
    best_value, best_start = -np.inf, ""
    for name, fallback in candidates:
        start, cpu = time.perf_counter(), time.process_time()
        table = TablePolicy(context.max_turns, None, fallback, name=f"search from {name}")
        values, changed, stopped = local_search(table, context, max_sweeps, max_children=max_children)
        runs.append(
            SearchRun(
                name, tuple(values), tuple(changed), time.perf_counter() - start, time.process_time() - cpu, stopped
            )
        )
        if progress is not None:
            progress(runs[-1])
        if values[-1] > best_value:
            best, best_value, best_start = table, values[-1], name
    rng = np.random.default_rng(seed)
    for k in range(int(kicks)):
        if best is None:
            break
        start, cpu = time.perf_counter(), time.process_time()
        kicked = best.copy(name=f"{best.name}, kick {k + 1}")
        turns, codes, mass = reached_observations(best, context)
        order = np.lexsort((_legacy_number(codes), turns))  # the draws of format-1 numbers: a seed keeps its search
        turns, codes, mass = turns[order], codes[order], mass[order]
        pick = rng.choice(codes.shape[0], size=min(int(kick_size), codes.shape[0]), replace=False, p=mass / mass.sum())
        for i in pick:
            old = int(kicked.moves(int(turns[i]), codes[i : i + 1])[0])
            kicked.set(int(turns[i]), codes[i : i + 1], np.array([(old + rng.integers(1, N_MOVES)) % N_MOVES]))
        values, changed, stopped = local_search(kicked, context, max_sweeps, max_children=max_children)
        runs.append(
            SearchRun(
                f"kick {k + 1}",
                tuple(values),
                tuple(changed),
                time.perf_counter() - start,
                time.process_time() - cpu,
                stopped,
            )
        )
        if progress is not None:
            progress(runs[-1])
        if values[-1] > best_value:
            best, best_value, best_start = kicked, values[-1], f"{best_start} + kick {k + 1}"
    if best is None:
        raise ValueError("no start to search from; give starts or random_starts >= 1")
    exact = memoryless_value(best, context).value
    return MemorylessSearch(
        best, exact, best_start, tuple(runs), time.perf_counter() - begin, time.process_time() - begin_cpu
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Search the best memoryless policy and put it next to the certified bracket."""
    from difficult_customer.agents.exact.bracket import DEEPEST, certified_bracket

    parser = argparse.ArgumentParser(
        prog="python -m difficult_customer.agents.exact.memoryless", description=main.__doc__
    )
    parser.add_argument("--persona", default="mixture")
    parser.add_argument("--max-turns", type=int, default=16)
    parser.add_argument("--starts", nargs="*", default=["tone_reader", "guide_000", "best_fixed_sequence"])
    parser.add_argument("--random-starts", type=int, default=2)
    parser.add_argument("--kicks", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-sweeps", type=int, default=30)
    parser.add_argument("--save", default=None, help="write the best table to this .npz file")
    args = parser.parse_args(argv)
    context = PolicyContext.create(persona=args.persona, max_turns=args.max_turns)
    bracket = certified_bracket(context, depth=DEEPEST["depth"])  # the tightest upper bound
    print(f"{args.persona}, max_turns={args.max_turns}: {bracket}", flush=True)
    print("| start | start value (norm.) | after sweeps (norm.) | sweeps | s (cpu s) | note |")
    print("| --- | --- | --- | --- | --- | --- |", flush=True)

    def show(run: SearchRun) -> None:
        print(
            f"| {run.start} | {run.values[0]:.4f} ({bracket.normalize(run.values[0]):.3f}) | "
            f"{run.values[-1]:.4f} ({bracket.normalize(run.values[-1]):.3f}) | {len(run.values) - 1} | "
            f"{run.seconds:.1f} ({run.cpu_seconds:.1f}) | {run.stopped} |",
            flush=True,
        )

    result = search_memoryless(
        context,
        args.starts,
        args.random_starts,
        args.kicks,
        seed=args.seed,
        max_sweeps=args.max_sweeps,
        progress=show,
    )
    print(
        f"best memoryless policy found: {result.value:.4f} raw, {bracket.normalize(result.value):.3f} normalized "
        f"(from {result.start}; {result.policy.size} table entries; {result.seconds:.0f} s, cpu {result.cpu_seconds:.0f} s)"
    )
    print(
        f"memoryless optimum in [{result.value:.4f}, {bracket.upper:.4f}] raw, "
        f"[{bracket.normalize(result.value):.3f}, {bracket.normalize(bracket.upper):.3f}] normalized"
    )
    print(bracket.locate(result.value))
    if args.save:
        result.policy.save(args.save)
        print(f"table written to {args.save} (TablePolicy.load; observations not in it get move 0)")


__all__ = [
    "N_CODES",
    "NO_MOVE",
    "TABLE_FORMAT",
    "MemorylessSearch",
    "MemorylessValue",
    "RandomTablePolicy",
    "SearchRun",
    "SequencePolicy",
    "TooLarge",
    "TablePolicy",
    "MAX_EXACT_TURNS",
    "exact_memoryless_optimum",
    "improve",
    "local_search",
    "main",
    "memoryless_value",
    "observation_codes",
    "observations",
    "reached_observations",
    "search_memoryless",
    "split_visible_key",
    "visible_key",
]


if __name__ == "__main__":
    main()
