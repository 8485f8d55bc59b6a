"""The conversation core in JAX: the numpy core's batched reset, step and observation as pure jnp functions.

Needs the optional ``jax`` extra (``pip install -e ".[jax]"``). A :class:`JaxCore` is a
pytree of ``jnp`` arrays (and a static turn limit) built by :func:`jax_core` from the numpy
:class:`~difficult_customer.envs.core.ConversationCore` of the same tables and turn limit:
its alias rows, outcome records, history lookup, turn fractions and observation rows, so
there is one source of dynamics. :func:`reset`, :func:`step` and :func:`observe` are pure
functions of arrays, with no host callbacks and no numpy inside, usable under ``jax.jit``,
``jax.vmap`` and ``jax.lax.scan``, on CPU or GPU::

    core = jax_core(compile_model("mixture"), max_turns=16)
    key0, key1 = jax.random.split(jax.random.key(0))
    conv = reset(core, uniforms(key0, 8))                                  # 8 conversations
    obs = observe(core, conv)                                              # (8, 30) float32
    conv, out = jax.jit(step)(core, conv, jnp.zeros(8, jnp.int32), uniforms(key1, 8))

Contract (the same as :meth:`ConversationCore.step`): conversations marked ``done`` restart
instead of moving (their move is ignored, reward 0, ``restarted`` true, not ended); the
others make their move (``moves`` in 0-5; not checked, as nothing can raise inside a
compiled function). Shapes are free: every field of a :class:`JaxConversations` has the
batch shape (``(n,)``, or ``()`` under ``vmap`` over single conversations), ``moves`` too,
and ``u`` has shape ``(2, *batch)``.

Precision (float32, no ``jax_enable_x64`` needed): uniforms are float32 (:func:`uniforms`
draws them; other dtypes are cast to float32). For uniforms that are float32 numbers, the
step gives exactly the numpy core's state, code, turn, history, done, slot, terminated,
truncated and restarted when the numpy core is given the same numbers as float64, and its
reward is the numpy reward rounded to float32; observations are equal (both float32). The
numpy draw computes ``first + int(u0 * width)`` and ``u1 >= threshold`` in float64; here:

- the threshold is stored rounded up to float32 (the smallest float32 >= the float64
  threshold), so ``u1 >= threshold`` holds for a float32 ``u1`` exactly when it does in float64;
- the column is ``int(u0 * width)`` in float32, which for a float32 ``u0`` is the exact
  ``floor(u0 * width)`` or one more (rounding is monotone and keeps integers below 2**24),
  capped at ``width - 1`` and then lowered by one where ``u0`` is below the column's
  lower edge (stored per column: the smallest float32 ``u`` with ``u * width >= column - first``).

A float64 ``u`` is rounded to float32 first, so it may then draw another column than the
numpy core given the unrounded numbers. Integers are int32, rewards and observations float32,
whatever ``jax_enable_x64`` says. Design notes: ``docs/core.md``, section "The JAX twin".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from difficult_customer.customer_models import Tables
from difficult_customer.customer_models.vocabulary import N_MOVES
from difficult_customer.envs.core import NO_MOVE, ConversationCore, conversation_core

_STRIDE = N_MOVES + 1
_GET = "promise_in_bounds"  # every index is in range by construction: no clamping


@dataclass(frozen=True, eq=False)
class JaxCore:
    """The read-only tables of :class:`ConversationCore` as device arrays (a pytree; ``max_turns`` is static).

    Built by :func:`jax_core`. Pass it as an argument to jitted functions (its arrays are
    leaves; ``max_turns`` is part of the tree structure, so a new limit compiles anew).
    """

    rows: jax.Array
    """(R, 2) int32 of each flat row (``state * 7 + move``, move 6 a restart): its first column and
    ``max(width - 1, 0)``, its last column's offset."""
    columns: jax.Array
    """(C, 2) float32 of each column: its lower edge (smallest float32 ``u0`` that draws it) and its
    threshold rounded up to float32."""
    outcomes: jax.Array
    """(2C, 4) int32 outcome records, ``2c`` column ``c``'s own and ``2c + 1`` its alias: slot, next
    state, observation code (with the tone), terminal (0/1)."""
    reward: jax.Array
    """(2C,) float32 reward of each outcome record (0 for a start slot)."""
    next_history: jax.Array
    """(N_HISTORIES * 7,) int32: the history after a move (``ObservationLookup.next_history``)."""
    head: jax.Array
    """(N_OBSERVATION_CODES, 17) float32 observation rows by code (tone, reaction, solved)."""
    turn_fraction: jax.Array
    """(max_turns + 1,) float32 turn slot by turn."""
    tail: jax.Array
    """(N_HISTORIES, 12) float32 observation rows by history (last move, clipped counts)."""
    max_turns: int
    """The turn limit (static)."""

    _LEAVES = ("rows", "columns", "outcomes", "reward", "next_history", "head", "turn_fraction", "tail")


jax.tree_util.register_pytree_node(
    JaxCore,
    lambda core: (tuple(getattr(core, name) for name in JaxCore._LEAVES), core.max_turns),
    lambda max_turns, leaves: JaxCore(*leaves, max_turns=max_turns),
)


class JaxConversations(NamedTuple):
    """The state of a batch of conversations: int32 arrays (``done`` bool), as :class:`~envs.core.Conversations`."""

    state: jax.Array
    """Row of the tables of each hidden state."""
    code: jax.Array
    """Observation code of what each customer shows (tone, reaction, solved)."""
    turn: jax.Array
    """Turns taken."""
    history: jax.Array
    """The agent's last move and clipped move counts, as one code."""
    done: jax.Array
    """The conversation ended at the last step: the next :func:`step` restarts it."""


class JaxStep(NamedTuple):
    """What one step did, per conversation (as :class:`~envs.core.Step`)."""

    slot: jax.Array
    """int32 slot drawn in the flat transition table (``ConversationCore.flat``)."""
    reward: jax.Array
    """float32 reward (0 for a restart)."""
    terminated: jax.Array
    """bool: the customer left (solved, walked away, dialogue ended)."""
    truncated: jax.Array
    """bool: the turn limit ended the conversation."""
    restarted: jax.Array
    """bool: the conversation had ended and was restarted instead of moving."""


# ------------------------------------------------------------------ building
def _ceil_float32(value: np.ndarray) -> np.ndarray:
    """The smallest float32 >= each float64 ``value``."""
    near = value.astype(np.float32)
    return np.where(near.astype(np.float64) < value, np.nextafter(near, np.float32(np.inf)), near)


def _lower_edges(first: np.ndarray, width: np.ndarray, n_columns: int) -> np.ndarray:
    """(C,) float32: for column ``c`` of a run ``[first, first + width)``, the smallest float32 ``u``
    with ``u * width >= c - first`` (exact: a float32 times an integer below 2**29 is exact in float64)."""
    runs = np.unique(np.stack([first, width], 1), axis=0)
    runs = runs[runs[:, 1] > 0]
    assert (runs[1:, 0] == runs[:-1, 0] + runs[:-1, 1]).all() and runs[0, 0] == 0, "runs do not tile the columns"
    assert runs[-1].sum() == n_columns and runs[:, 1].max() < 2**24
    counts = runs[:, 1]
    offset = (np.arange(n_columns) - np.repeat(runs[:, 0], counts)).astype(np.float64)
    size = np.repeat(counts, counts).astype(np.float64)
    edge = (offset / size).astype(np.float32)
    for _ in range(4):  # at most one float32 step from the nearest rounding of the float64 quotient
        low = edge.astype(np.float64) * size < offset
        edge = np.where(low, np.nextafter(edge, np.float32(np.inf)), edge)
        below = np.nextafter(edge, np.float32(-np.inf))
        high = (edge > 0) & (below.astype(np.float64) * size >= offset)
        edge = np.where(high, below, edge)
    assert (edge.astype(np.float64) * size >= offset).all()
    below = np.nextafter(edge, np.float32(-np.inf))
    assert ((edge == 0) | (below.astype(np.float64) * size < offset)).all()
    return edge


def from_core(core: ConversationCore) -> JaxCore:
    """A :class:`JaxCore` holding the tables of a numpy :class:`ConversationCore` (arrays on the default device)."""
    records = core.outcomes
    first = np.asarray(core.alias_rows["first"], dtype=np.int64)
    width = np.asarray(core.alias_rows["width"], dtype=np.float64)
    assert (width == np.round(width)).all()
    width = width.astype(np.int64)
    n_columns = records.shape[0] // 2
    threshold = records["threshold"][0::2]
    rows = np.stack([first, np.maximum(width - 1, 0)], 1).astype(np.int32)
    columns = np.stack([_lower_edges(first, width, n_columns), _ceil_float32(threshold)], 1)
    outcomes = np.stack([records["slot"], records["state"], records["code"], records["terminal"]], 1)
    lookup = core.lookup
    return JaxCore(
        rows=jnp.asarray(rows, dtype=jnp.int32),
        columns=jnp.asarray(columns, dtype=jnp.float32),
        outcomes=jnp.asarray(outcomes.astype(np.int32), dtype=jnp.int32),
        reward=jnp.asarray(records["reward"].astype(np.float32), dtype=jnp.float32),
        next_history=jnp.asarray(lookup.next_history.astype(np.int32), dtype=jnp.int32),
        head=jnp.asarray(lookup.head, dtype=jnp.float32),
        turn_fraction=jnp.asarray(lookup.turn_fraction, dtype=jnp.float32),
        tail=jnp.asarray(lookup.tail, dtype=jnp.float32),
        max_turns=int(core.max_turns),
    )


def jax_core(tables: Tables, max_turns: int) -> JaxCore:
    """The (cached) :class:`JaxCore` of compiled tables and a turn limit: :func:`from_core` of
    :func:`~envs.core.conversation_core` ``(tables, max_turns)``.

    Raises:
        ValueError: for a turn limit that is not an integer >= 1.
    """
    core = conversation_core(tables, max_turns)
    cores = tables.derived.setdefault("jax_core.cores", {})
    built = cores.get(core.max_turns)
    if built is None:
        built = cores[core.max_turns] = from_core(core)
    return built


# ------------------------------------------------------------------ the step
def uniforms(key: jax.Array, n: int) -> jax.Array:
    """The ``(2, n)`` float32 uniforms in [0, 1) a reset or step of ``n`` conversations takes, from a key."""
    return jax.random.uniform(key, (2, n), dtype=jnp.float32)


def _draw(core: JaxCore, row: jax.Array, u: jax.Array) -> jax.Array:
    """The outcome record index of each flat ``row`` (the numpy core's ``draw``), exact for float32 ``u``."""
    u = jnp.asarray(u, dtype=jnp.float32)
    found = core.rows.at[row].get(mode=_GET)
    first, last = found[..., 0], found[..., 1]
    guess = jnp.minimum((u[0] * (last + 1).astype(jnp.float32)).astype(jnp.int32), last)
    column = first + guess
    edge = core.columns.at[column].get(mode=_GET)
    column = column - (u[0] < edge[..., 0]).astype(jnp.int32)  # the guess is the column or one past it
    threshold = core.columns.at[column, 1].get(mode=_GET)
    return 2 * column + (u[1] >= threshold).astype(jnp.int32)


def _advance(
    core: JaxCore,
    state: jax.Array,
    turn: jax.Array,
    history: jax.Array,
    moves: jax.Array,
    restart: jax.Array,
    u: jax.Array,
) -> tuple[JaxConversations, JaxStep]:
    moves = jnp.where(restart, NO_MOVE, jnp.asarray(moves, dtype=jnp.int32))
    record = _draw(core, state * _STRIDE + moves, u)
    out = core.outcomes.at[record].get(mode=_GET)
    reward = core.reward.at[record].get(mode=_GET)
    history = core.next_history.at[history * _STRIDE + moves].get(mode=_GET)
    turn = jnp.where(restart, 0, turn + 1)
    terminated = out[..., 3] != 0
    done = (turn >= core.max_turns) | terminated
    conv = JaxConversations(out[..., 1], out[..., 2], turn, history, done)
    return conv, JaxStep(out[..., 0], reward, terminated, done & ~terminated, restart)


def reset(core: JaxCore, u: jax.Array) -> JaxConversations:
    """New conversations, one per column of ``u`` (shape ``(2, *batch)``, see :func:`uniforms`)."""
    blank = jnp.zeros(jnp.shape(u)[1:], dtype=jnp.int32)
    conv, _ = _advance(core, blank, blank, blank, blank + NO_MOVE, jnp.ones_like(blank, dtype=bool), u)
    return conv


def step(core: JaxCore, conv: JaxConversations, moves: jax.Array, u: jax.Array) -> tuple[JaxConversations, JaxStep]:
    """One move per conversation; those marked ``done`` restart instead (their move is ignored).

    Args:
        core: the tables (:func:`jax_core`).
        conv: the conversations (batch shape ``B``).
        moves: move ids 0-5 of shape ``B`` (any integer dtype; not checked).
        u: ``(2, *B)`` uniforms (:func:`uniforms`).

    Returns:
        The new state and what the step did (restarted rows: reward 0, not ended).
    """
    return _advance(core, conv.state, conv.turn, conv.history, moves, conv.done, u)


def observe(core: JaxCore, conv: JaxConversations) -> jax.Array:
    """Partial observations ``(*B, 30)`` float32 of the conversations, equal to ``ConversationCore.observe``."""
    head = core.head.at[conv.code].get(mode=_GET)
    turn = core.turn_fraction.at[conv.turn].get(mode=_GET)
    tail = core.tail.at[conv.history].get(mode=_GET)
    return jnp.concatenate([head, turn[..., None], tail], axis=-1)


__all__ = [
    "JaxConversations",
    "JaxCore",
    "JaxStep",
    "from_core",
    "jax_core",
    "observe",
    "reset",
    "step",
    "uniforms",
]
