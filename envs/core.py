"""The conversation core: a pure, batched reset and step over integer state arrays.

Computes, for a batch of conversations of one compiled model and turn limit, the next
state, the observation code shown, the reward and the ends (terminated, truncated,
restarted) of one move each. Inputs: a :class:`ConversationCore` built once per
(tables, turn limit) by :func:`conversation_core`, the state of a batch
(:class:`Conversations`, integer arrays), the moves and two uniforms per conversation
(:func:`uniforms`). Outputs: a new :class:`Conversations` and a :class:`Step`; inputs are
never written to. :meth:`ConversationCore.observe` turns a state into observation vectors;
:meth:`ConversationCore.reset_one` / :meth:`~ConversationCore.step_one` are the same reset
and step for one conversation on Python ints (same uniforms, same results). Both envs and
:func:`envs.rollout.rollout` step conversations through it::

    core = conversation_core(compile_model("mixture"), max_turns=16)
    rng = np.random.default_rng(0)
    conv = core.reset(uniforms(rng, 8))                                # 8 conversations
    obs = core.observe(conv)                                           # (8, 30) float32
    conv, step = core.step(conv, np.zeros(8, int), uniforms(rng, 8))   # everyone listens

Design notes (randomness, codes, the scalar specialization, why the step is fast):
``docs/core.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

import difficult_customer.envs.observation as layout
from difficult_customer.customer_models import FACTORS, REWARD_TERMS, Tables
from difficult_customer.customer_models.vocabulary import N_MOVES, N_REACTIONS, N_TONES
from difficult_customer.envs.sampling import FlatTransitions, JointAlias, alias_tables

N_OBSERVATION_CODES = N_REACTIONS * 2 * N_TONES
"""Number of distinct (tone, reaction, solved) codes."""

NO_MOVE = N_MOVES
"""Move id of "no move": at reset the history's last move, in a step a restart."""

START_HISTORY = NO_MOVE
"""History code of a conversation without moves (no last move, all counts 0)."""

_N_COUNT_CODES = (layout.COUNT_CAP + 1) ** N_MOVES
"""Clipped move counts, one base-(COUNT_CAP + 1) digit per move, as one integer."""
N_HISTORIES = _N_COUNT_CODES * (N_MOVES + 1)
"""History codes: clipped counts code * (N_MOVES + 1) + last move (``NO_MOVE`` when none)."""

_SOLVED = FACTORS.index("solved")
_UNSIGNED = {np.dtype(f"i{size}"): np.dtype(f"u{size}") for size in (1, 2, 4, 8)}

OUTCOME = np.dtype(
    [
        ("reward", np.float64),
        ("slot", np.int32),
        ("state", np.int32),
        ("code", np.int32),
        ("terminal", np.bool_),
        ("threshold", np.float64),
    ],
    align=True,
)
"""One outcome of a step as the batched step reads it (32 bytes): record ``2c`` is column ``c``'s own
outcome and holds the column's threshold, record ``2c + 1`` its alias."""
ROW = np.dtype([("first", np.int32), ("width", np.float64)], align=True)
"""A row of the alias tables: its first column and its number of columns (16 bytes)."""


# ------------------------------------------------------------------ codes
def observation_code(tone: Any, reaction: Any, solved: Any) -> Any:
    """The one integer code of what the customer shows: ``(reaction * 2 + solved) * N_TONES + tone``.

    Works on ints and on integer arrays (broadcast). The tone is the lowest digit, so a
    step can add the drawn tone to a code computed without it.
    """
    return (reaction * 2 + solved) * N_TONES + tone


def split_observation_code(code: Any) -> tuple[Any, Any, Any]:
    """``(tone, reaction, solved)`` of codes from :func:`observation_code`."""
    shown, tone = divmod(code, N_TONES)
    reaction, solved = divmod(shown, 2)
    return tone, reaction, solved


class Opening(NamedTuple):
    """The opening-observation distribution: every (code, start state) with positive chance."""

    code: np.ndarray
    """(E,) int64 :func:`observation_code` of the first observation."""
    state: np.ndarray
    """(E,) int64 start state."""
    prob: np.ndarray
    """(E,) float64 chance of starting in ``state`` and showing ``code``; sums to 1."""


def opening_distribution(tables: Tables) -> Opening:
    """The joint distribution of the first observation's code and the start state.

    ``prob = initial[state] * tone_prob[state, tone]`` for the reaction the state opens
    with (``opening_reaction``) and its solved flag. Entries are sorted by start state,
    then tone, and cached per tables.
    """
    cached = tables.derived.get("core.openings")
    if cached is None:
        state = np.flatnonzero(tables.initial > 0)
        tone = np.arange(N_TONES)
        prob = tables.initial[state][:, None] * tables.tone_prob[state]
        reaction = tables.opening_reaction[state].astype(np.int64)[:, None]
        solved = tables.factors[state, _SOLVED].astype(np.int64)[:, None]
        code = observation_code(tone[None, :], reaction, solved)
        keep = prob > 0
        cached = Opening(code[keep], np.broadcast_to(state[:, None], prob.shape)[keep].astype(np.int64), prob[keep])
        for array in cached:
            array.setflags(write=False)
        tables.derived["core.openings"] = cached
    return cached




def history_counts(history: Any) -> np.ndarray:
    """Clipped move counts ``(..., N_MOVES)`` of history codes."""
    base = layout.COUNT_CAP + 1
    return (np.asarray(history)[..., None] // (N_MOVES + 1) // base ** np.arange(N_MOVES)) % base


def history_last_move(history: Any) -> np.ndarray:
    """Last move of history codes (-1 for none)."""
    last = np.asarray(history) % (N_MOVES + 1)
    return np.where(last == NO_MOVE, -1, last)


# ------------------------------------------------------------------ lookups
@dataclass(frozen=True, eq=False)
class ObservationLookup:
    """Tables that assemble partial observations (layout of :mod:`difficult_customer.envs.observation`).

    An observation is ``head[code] | turn_fraction[turn] | tail[history]``, equal to what
    :func:`~envs.observation.encode` computes, where ``code`` is :func:`observation_code`
    and ``history`` codes the agent's last move and clipped move counts: it starts at
    :data:`START_HISTORY` and after move ``m`` becomes
    ``next_history[history * (N_MOVES + 1) + m]`` (``m = NO_MOVE`` starts over).
    """

    head: np.ndarray
    """(N_OBSERVATION_CODES, TURN) float32: tone, reaction and solved one-hots, by code."""
    turn_fraction: np.ndarray
    """(max_turns + 1,) float32: the turn slot, by turn."""
    tail: np.ndarray
    """(N_HISTORIES, PARTIAL_SIZE - TURN - 1) float32: last-move one-hot and clipped counts, by history."""
    next_history: np.ndarray
    """(N_HISTORIES * (N_MOVES + 1),) intp: the history after a move."""


@functools.lru_cache(maxsize=8)
def observation_lookup(max_turns: int) -> ObservationLookup:
    """The (cached, read-only) :class:`ObservationLookup` for a turn limit, built with ``encode``."""
    code = np.arange(N_OBSERVATION_CODES)
    tone, reaction, solved = split_observation_code(code)
    no_counts = np.zeros((code.size, N_MOVES), dtype=np.int64)
    head = layout.encode(tone, reaction, solved, 0, max_turns, -1, no_counts)[:, : layout.TURN]
    history = np.arange(N_HISTORIES)
    tail = layout.encode(0, 0, 0, 0, max_turns, history_last_move(history), history_counts(history))
    turns = np.arange(max_turns + 1)
    no_counts = np.zeros((turns.size, N_MOVES), dtype=np.int64)
    turn = layout.encode(0, 0, 0, turns, max_turns, -1, no_counts)[:, layout.TURN]
    digits = history_counts(np.arange(_N_COUNT_CODES) * (N_MOVES + 1))
    step_up = np.minimum(digits + np.eye(N_MOVES, dtype=np.int64)[:, None, :], layout.COUNT_CAP)
    after = (step_up * (layout.COUNT_CAP + 1) ** np.arange(N_MOVES)).sum(-1)  # (move, counts code)
    next_history = np.empty((_N_COUNT_CODES, N_MOVES + 1, N_MOVES + 1), dtype=np.intp)  # (counts, last, move)
    next_history[..., :N_MOVES] = (after.T * (N_MOVES + 1) + np.arange(N_MOVES))[:, None, :]
    next_history[..., NO_MOVE] = START_HISTORY
    lookup = ObservationLookup(
        head=np.ascontiguousarray(head),
        turn_fraction=np.ascontiguousarray(turn),
        tail=np.ascontiguousarray(tail[:, layout.TURN + 1 :]),
        next_history=next_history.ravel(),
    )
    for array in (lookup.head, lookup.turn_fraction, lookup.tail, lookup.next_history):
        array.setflags(write=False)
    return lookup


# The observation is [tone, reaction, solved | turn | last move, counts]: two lookups and the turn.
assert layout.TONE.start == 0 and layout.REACTION.start == layout.TONE.stop
assert layout.REACTION.stop == layout.SOLVED and layout.TURN == layout.SOLVED + 1
assert layout.LAST_MOVE.start == layout.TURN + 1 and layout.COUNTS.start == layout.LAST_MOVE.stop
assert layout.COUNTS.stop == layout.PARTIAL_SIZE


def _as_rows(block: np.ndarray) -> np.ndarray:
    """A 2-d float32 array as a 1-d array of opaque rows, for fast row lookups with ``take``."""
    block = np.ascontiguousarray(block, dtype=np.float32)
    return block.view(np.dtype((np.void, block.shape[1] * block.itemsize))).ravel()


# ------------------------------------------------------------------ state
class Conversations(NamedTuple):
    """The state of a batch of conversations: integer arrays over conversations (and ``done``, bool).

    The integer arrays are of any integer dtype (a step returns int32 views, possibly strided,
    into the records it gathered); use them as indices, or ``astype`` for another dtype.

    A core never writes into these arrays; every call returns new ones.
    """

    state: np.ndarray
    """Row of the tables of each hidden state."""
    code: np.ndarray
    """:func:`observation_code` of what each customer shows (tone, reaction, solved)."""
    turn: np.ndarray
    """Turns taken."""
    history: np.ndarray
    """The agent's last move and clipped move counts, as one code."""
    done: np.ndarray
    """The conversation ended at the last step: the next :meth:`ConversationCore.step` restarts it."""

    def select(self, rows: np.ndarray) -> Conversations:
        """A batch made of ``rows`` of this one (an index or bool mask)."""
        return Conversations(*(a[rows] for a in self))


class Step(NamedTuple):
    """What one batched step did, per conversation."""

    slot: np.ndarray
    """(n,) int32 slot drawn in the flat transition table (:attr:`ConversationCore.flat`)."""
    reward: np.ndarray
    """(n,) float64 reward (0 for a restart)."""
    terminated: np.ndarray
    """(n,) bool: the customer left (solved, walked away, dialogue ended)."""
    truncated: np.ndarray
    """(n,) bool: the turn limit ended the conversation."""
    restarted: np.ndarray
    """(n,) bool: the conversation had ended and was restarted instead of moving."""


One = tuple[int, int, int, int]
"""The state of one conversation as Python ints, ``(state, code, turn, history)`` (the scalar specialization).

A plain tuple, not a named one: building a named tuple costs as much as a third of a step."""


def uniforms(rng: np.random.Generator, n: int) -> np.ndarray:
    """The ``(2, n)`` uniforms a reset or step of ``n`` conversations takes from one generator."""
    return rng.random((2, n))


def check_moves(moves: Any, n: int) -> np.ndarray:
    """Moves as an integer array of shape ``(n,)``, or a ``ValueError`` naming the bad value.

    Raises:
        ValueError: for another shape, a non-integer dtype, or a move outside 0-5.
    """
    moves = np.asarray(moves)
    if moves.shape != (n,) or moves.dtype.kind not in "iu":
        raise ValueError(f"actions of shape {moves.shape} and dtype {moves.dtype}; allowed: integers of shape ({n},)")
    unsigned = moves.view(_UNSIGNED[moves.dtype]) if moves.dtype.kind == "i" else moves
    if n and unsigned.max() >= N_MOVES:  # negative moves are huge as unsigned: one pass checks both ends
        bad = moves[(moves < 0) | (moves >= N_MOVES)][0]
        raise ValueError(f"action {int(bad)} is outside the action space; allowed: 0-{N_MOVES - 1}")
    return moves


# ------------------------------------------------------------------ the core
@dataclass(frozen=True, eq=False)
class ConversationCore:
    """The read-only tables of conversations of one compiled model and turn limit, and their step.

    Build it with :func:`conversation_core` (cached). Methods are pure: state in, new
    state out, uniforms passed in.

    Batched: :meth:`reset`, :meth:`reset_rows`, :meth:`step`, :meth:`observe`,
    :meth:`hidden_observation`. Scalar (one conversation, Python ints, same results for
    the same uniforms): :meth:`reset_one`, :meth:`step_one`, :meth:`observe_one`.
    """

    tables: Tables
    max_turns: int
    flat: FlatTransitions
    """Successor rows of every (state, move) and the start row (see ``sampling``)."""
    slot_reward: np.ndarray
    """(M,) float64 reward of each slot (0 for start slots)."""
    slot_terminal: np.ndarray
    """(M,) bool: the slot's next state is terminal."""
    slot_code: np.ndarray
    """(M,) intp :func:`observation_code` shown after the slot, tone 0 (the draw adds the tone)."""
    joint: JointAlias
    """The alias tables of the joint (slot, tone) draw of every flat row (see ``sampling``)."""
    outcomes: np.ndarray
    """(2C,) :data:`OUTCOME` records, 64-byte aligned: the alias tables with each outcome's step data."""
    alias_rows: np.ndarray
    """(rows,) :data:`ROW` records: each flat row's first column and width."""
    lookup: ObservationLookup
    _rows: dict[str, np.ndarray] = field(repr=False)
    _cache: dict[str, Any] = field(repr=False)

    # ------------------------------------------------------------ batched
    def reset(self, u: np.ndarray) -> Conversations:
        """New conversations, one per column of ``u`` (shape ``(2, n)``, see :func:`uniforms`)."""
        u = _check_uniforms(u, None)
        n = u.shape[1]
        blank = np.zeros(n, dtype=np.intp)
        conv, _ = self._advance(blank, blank, blank, np.full(n, NO_MOVE, dtype=np.intp), np.ones(n, dtype=bool), u)
        return conv

    def reset_rows(self, conv: Conversations, rows: np.ndarray, u: np.ndarray) -> Conversations:
        """``conv`` with the conversations at ``rows`` (a bool mask or indices) restarted.

        ``u`` has shape ``(2, k)`` for the ``k`` restarted rows, in row order.
        """
        index = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.intp)
        u = _check_uniforms(u, index.size)
        fresh = self.reset(u)
        out = []
        for old, new in zip(conv, fresh, strict=True):
            old = old.copy()
            old[index] = new
            out.append(old)
        return Conversations(*out)

    def step(self, conv: Conversations, moves: Any, u: np.ndarray) -> tuple[Conversations, Step]:
        """One move per conversation; those marked ``done`` restart instead (their move is ignored).

        Args:
            conv: the conversations.
            moves: (n,) move ids 0-5.
            u: (2, n) uniforms (:func:`uniforms`).

        Returns:
            The new state and what the step did (restarted rows: reward 0, not ended).

        Raises:
            ValueError: for moves of another shape or outside 0-5, or uniforms of another shape.
        """
        n = conv.state.shape[0]
        moves = check_moves(moves, n)
        if getattr(u, "shape", None) != (2, n):
            u = _check_uniforms(u, n)
        return self._advance(conv.state, conv.turn, conv.history, moves, conv.done, u)

    def _advance(
        self,
        state: np.ndarray,
        turn: np.ndarray,
        history: np.ndarray,
        moves: np.ndarray,
        restart: np.ndarray,
        u: np.ndarray,
    ) -> tuple[Conversations, Step]:
        moves = np.where(restart, NO_MOVE, moves)  # the restart rows of the flat table: a new customer
        row = state * (N_MOVES + 1)
        row += moves
        out = self.draw(row, u)
        index = history * (N_MOVES + 1)
        index += moves
        history = self.lookup.next_history.take(index)
        turn = np.where(restart, 0, turn + 1)
        reward = out["reward"].copy()  # contiguous, as callers expect of rewards and ends
        terminated = out["terminal"].copy()
        done = turn >= self.max_turns
        done |= terminated
        conv = Conversations(out["state"], out["code"], turn, history, done)
        return conv, Step(out["slot"], reward, terminated, done ^ terminated, restart)

    def draw(self, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The outcome of each flat row drawn with its column of uniforms ``u`` (``(2, n)``): :data:`OUTCOME` records.

        The formula of :meth:`JointAlias.sample`: a column ``first + int(u[0] * width)`` of
        the row, then its own outcome if ``u[1] < threshold``, else its alias.
        """
        found = self.alias_rows.take(rows)
        column = (u[0] * found["width"]).astype(np.intp)
        column += found["first"]
        alias = u[1] >= self._thresholds[column]  # indexing the strided view reads the record's cache line
        column += column
        column += alias
        return self.outcomes.take(column)

    def observe(self, conv: Conversations, full: bool = False) -> np.ndarray:
        """Observations ``(n, W)`` float32 of the conversations, by table lookups.

        ``full`` appends the hidden state one-hot (``observation="full"``).
        """
        return self.observe_codes(conv.code, conv.turn, conv.history, conv.state if full else None)

    def observe_codes(
        self, code: np.ndarray, turn: np.ndarray, history: np.ndarray, state: np.ndarray | None = None
    ) -> np.ndarray:
        """Observations from the codes (any shape, the same for all); with ``state`` the full ones."""
        shape = np.shape(code)
        rows = self._rows
        dtype = rows["partial"] if state is None else rows["full"]
        obs = np.empty((*shape, dtype.itemsize // 4), dtype=np.float32)
        view = obs.view(dtype).reshape(shape)
        view["a"] = rows["head"].take(code)
        view["turn"] = self.lookup.turn_fraction.take(turn)
        view["b"] = rows["tail"].take(history)
        if state is not None:
            view["hidden"] = rows["hidden"].take(state)
        return obs

    def hidden_observation(self, state: Any) -> np.ndarray:
        """The hidden-state one-hot that ``observation="full"`` appends, ``(..., hidden_size)`` float32."""
        hidden = self._rows["hidden"].take(np.atleast_1d(np.asarray(state, dtype=np.intp)))
        return hidden.view(np.float32).reshape(*np.shape(state), -1)

    @functools.cached_property
    def _thresholds(self) -> np.ndarray:
        """(C,) the columns' thresholds: a strided view of the own outcomes' records."""
        return self.outcomes["threshold"][0::2]

    # ------------------------------------------------------------ scalar
    # reset_one, step_one and observe_one are closures over the tables as Python lists
    # (see _scalar_step), built on first use (batched users do not pay their memory) and
    # then plain attributes, so that a call reads no attributes of the core.
    @functools.cached_property
    def _scalar(self) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
        hidden_rows = layout.hidden_one_hot(self.tables.factors, len(self.tables.persona_names))
        return _scalar_step(self.flat, self.joint, self.outcomes, self.lookup, self.max_turns, hidden_rows)

    @functools.cached_property
    def reset_one(self) -> Callable[[float, float], One]:
        """``reset_one(u0, u1) -> (state, code, turn, history)``: :meth:`reset` of one column ``(u0, u1)``."""
        return self._scalar[0]

    @functools.cached_property
    def step_one(self) -> Callable[[One, int, float, float], tuple[One, int, float, bool, bool]]:
        """:meth:`step` of a batch of one.

        ``step_one(one, move, u0, u1) -> (one, slot, reward, terminated, truncated)``.

        ``one`` is ``(state, code, turn, history)`` from ``reset_one`` or a previous step,
        of a conversation that has not ended; ``move`` a move id 0-5 (a ``ValueError``
        otherwise); ``u0`` and ``u1`` the successor's and the tone's uniforms.
        """
        return self._scalar[1]

    @functools.cached_property
    def observe_one(self) -> Callable[..., np.ndarray]:
        """``observe_one(one, full=False) -> obs``: :meth:`observe` of a batch of one (float32, writable)."""
        return self._scalar[2]

    def slot_terms(self, slot: int) -> dict[str, float]:
        """Unweighted reward terms of a slot, by name (zeros for a start slot or ``slot=-1``); a new dict."""
        return (self.terms_by_slot[slot] or self._slot_terms(slot)).copy()

    @property
    def terms_by_slot(self) -> list[dict[str, float] | None]:
        """The cache behind :meth:`slot_terms`: ``M + 1`` entries, filled on first use; the last (``-1``) is zeros.

        Do not modify the dicts; copy them (a step's caller may, as the single env does).
        """
        terms = self._cache.get("terms")
        if terms is None:
            terms = self._cache["terms"] = [None] * (self.flat.source.shape[0] + 1)
        return terms

    def _slot_terms(self, slot: int) -> dict[str, float]:
        source = -1 if slot in (-1, self.flat.source.shape[0]) else int(self.flat.source[slot])
        values = [0.0] * len(REWARD_TERMS)
        if source >= 0:
            values = self.tables.reward_terms.reshape(-1, len(REWARD_TERMS))[source].tolist()
        terms = self.terms_by_slot[slot] = dict(zip(REWARD_TERMS, values, strict=True))
        return terms


def _check_uniforms(u: Any, n: int | None) -> np.ndarray:
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 2 or u.shape[0] != 2 or (n is not None and u.shape[1] != n):
        allowed = "(2, n)" if n is None else f"(2, {n})"
        raise ValueError(f"uniforms of shape {u.shape}; allowed: {allowed}, numbers in [0, 1)")
    return u




def conversation_core(tables: Tables, max_turns: int) -> ConversationCore:
    """The (cached) :class:`ConversationCore` of compiled tables and a turn limit.

    Raises:
        ValueError: for a turn limit that is not an integer >= 1.
    """
    if isinstance(max_turns, bool) or not isinstance(max_turns, (int, np.integer)) or max_turns < 1:
        raise ValueError(f"max_turns={max_turns!r}; allowed is an integer >= 1")
    by_turns = tables.derived.setdefault("core.cores", {})
    core = by_turns.get(int(max_turns))
    if core is None:
        core = by_turns[int(max_turns)] = build_core(tables, int(max_turns))
    return core


def build_core(tables: Tables, max_turns: int) -> ConversationCore:
    """A new, uncached :class:`ConversationCore` (use :func:`conversation_core`; this is for profiling)."""
    t = tables
    flat, joint = alias_tables(t)
    from_move = flat.source >= 0
    source = np.where(from_move, flat.source, 0)
    solved = t.factors[flat.next_state, _SOLVED].astype(np.intp)
    reaction = np.where(from_move, t.next_reaction.ravel()[source], t.opening_reaction[flat.next_state])
    slot_reward = np.where(from_move, t.reward.ravel()[source], 0.0)
    slot_terminal = t.terminal[flat.next_state].copy()
    assert not slot_terminal[~from_move].any(), "a start state is terminal"
    slot_code = observation_code(0, reaction.astype(np.intp), solved)
    outcomes = _aligned_zeros(2 * joint.threshold.shape[0], OUTCOME, 64)
    slot = joint.slot.ravel()
    outcomes["reward"] = slot_reward[slot]
    outcomes["slot"] = slot
    outcomes["state"] = flat.next_state[slot]
    outcomes["code"] = slot_code[slot] + joint.tone.ravel()
    outcomes["terminal"] = slot_terminal[slot]
    outcomes["threshold"] = np.repeat(joint.threshold, 2)
    rows_table = np.zeros(joint.first.shape[0], dtype=ROW)
    rows_table["first"] = joint.first
    rows_table["width"] = joint.width
    lookup = observation_lookup(max_turns)
    n_personas = len(t.persona_names)
    head, tail = _as_rows(lookup.head), _as_rows(lookup.tail)
    hidden = _as_rows(layout.hidden_one_hot(t.factors, n_personas))
    partial = [("a", head.dtype), ("turn", np.float32), ("b", tail.dtype)]
    rows = {
        "head": head,
        "tail": tail,
        "hidden": hidden,
        "partial": np.dtype(partial),
        "full": np.dtype([*partial, ("hidden", hidden.dtype)]),
    }
    for array in (slot_reward, slot_terminal, slot_code, outcomes, rows_table):
        array.setflags(write=False)
    return ConversationCore(
        t, max_turns, flat, slot_reward, slot_terminal, slot_code, joint, outcomes, rows_table, lookup, rows, {}
    )


def _aligned_zeros(n: int, dtype: np.dtype, align: int) -> np.ndarray:
    """``np.zeros(n, dtype)`` starting at an address that is a multiple of ``align`` bytes."""
    raw = np.zeros(n * dtype.itemsize + align, dtype=np.uint8)
    skip = -raw.ctypes.data % align
    return raw[skip : skip + n * dtype.itemsize].view(dtype)


def _scalar_step(
    flat: FlatTransitions,
    joint: JointAlias,
    outcomes: np.ndarray,
    lookup: ObservationLookup,
    max_turns: int,
    hidden_rows: np.ndarray,
) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """The scalar reset, step and observation: the batched ones on Python ints and floats.

    The draw is the formula of :meth:`JointAlias.sample` on Python floats, which round as
    numpy's float64 do: ``first + int(u0 * width)``, then the alias if ``u1 >= threshold``.
    The tables are read through memoryviews of contiguous copies (an index gives a Python
    int, float or bool; lists would take several times the memory); outcome ``2 * column + k``
    is the column's own (``k = 0``) or alias (``k = 1``) outcome, as in :attr:`ConversationCore.outcomes`.
    """

    def view(array: np.ndarray) -> memoryview:
        return memoryview(np.ascontiguousarray(array))

    firsts, widths = view(joint.first), view(joint.width)
    thresholds = view(joint.threshold)
    slots, states, codes = view(outcomes["slot"]), view(outcomes["state"]), view(outcomes["code"])
    rewards, terminal = view(outcomes["reward"]), view(outcomes["terminal"])
    next_history = lookup.next_history.tolist()
    as_bytes = lambda block: [row.tobytes() for row in np.ascontiguousarray(block, dtype=np.float32)]  # noqa: E731
    heads, fractions, tails = as_bytes(lookup.head), as_bytes(lookup.turn_fraction[:, None]), as_bytes(lookup.tail)
    hidden = as_bytes(hidden_rows)
    stride = N_MOVES + 1
    join, float32 = b"".join, np.dtype(np.float32)
    start_row = flat.row(0, NO_MOVE)
    start_first, start_width = firsts[start_row], widths[start_row]

    def reset_one(u0: float, u1: float) -> One:
        column = start_first + int(u0 * start_width)
        k = 2 * column + (u1 >= thresholds[column])
        return states[k], codes[k], 0, START_HISTORY

    def step_one(one: One, move: int, u0: float, u1: float) -> tuple[One, int, float, bool, bool]:
        if not 0 <= move < N_MOVES:
            raise ValueError(f"action {move!r} is outside the action space; allowed: 0-{N_MOVES - 1}")
        state, _, turn, history = one
        row = state * stride + move
        column = firsts[row] + int(u0 * widths[row])
        k = 2 * column + (u1 >= thresholds[column])
        turn += 1
        done = terminal[k]
        return (
            (states[k], codes[k], turn, next_history[history * stride + move]),
            slots[k],
            rewards[k],
            done,
            not done and turn >= max_turns,
        )

    def observe_one(one: One, full: bool = False) -> np.ndarray:
        state, code, turn, history = one
        parts = (
            (heads[code], fractions[turn], tails[history], hidden[state])
            if full
            else (heads[code], fractions[turn], tails[history])
        )
        return np.frombuffer(bytearray(join(parts)), float32)

    return reset_one, step_one, observe_one


__all__ = [
    "N_HISTORIES",
    "N_OBSERVATION_CODES",
    "NO_MOVE",
    "START_HISTORY",
    "ConversationCore",
    "Conversations",
    "ObservationLookup",
    "One",
    "Opening",
    "Step",
    "build_core",
    "check_moves",
    "conversation_core",
    "history_counts",
    "history_last_move",
    "observation_code",
    "observation_lookup",
    "opening_distribution",
    "split_observation_code",
    "uniforms",
]
