"""What the agent sees, as a flat vector, and how to read it back.

The partial observation is what a person at the desk would see: the customer's tone,
the reaction to the last move, whether the problem is solved, how far the conversation
has gone, the last move and a count of each move so far. Never the hidden state.
``observation="full"`` appends the hidden state one-hot, for debugging and oracles.

Layout of the partial vector (all values in [0, 1], float32):

======================  ======  ===============================================
slice                   width   meaning
======================  ======  ===============================================
``TONE``                4       one-hot :class:`Tone`
``REACTION``            12      one-hot :class:`Reaction`
``SOLVED``              1       1.0 once the customer accepted a solution
``TURN``                1       turns taken / ``max_turns``
``LAST_MOVE``           6       one-hot of the last :class:`Move` (zeros at reset)
``COUNTS``              6       times each move was made, clipped at 3, divided by 3
======================  ======  ===============================================

Works on one observation or a batch (leading axes).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from difficult_customer.customer_models.vocabulary import FACTORS, N_MOVES, N_REACTIONS, N_TONES, Abuse, Anger, Outcome

COUNT_CAP = 3
"""Move counts are clipped at this value in the observation."""

TONE = slice(0, N_TONES)
REACTION = slice(TONE.stop, TONE.stop + N_REACTIONS)
SOLVED = REACTION.stop
TURN = SOLVED + 1
LAST_MOVE = slice(TURN + 1, TURN + 1 + N_MOVES)
COUNTS = slice(LAST_MOVE.stop, LAST_MOVE.stop + N_MOVES)
PARTIAL_SIZE = COUNTS.stop

# Number of values each hidden factor can take, for the full observation's one-hots.
_FACTOR_SIZES = {
    "status": len(Outcome) - 1,  # timed_out is never a hidden status
    "anger": len(Anger),
    "trust": 4,
    "heard": 2,
    "apologies": 3,
    "solved": 2,
    "abuse": len(Abuse),
    "patience": 5,
}


def hidden_size(n_personas: int) -> int:
    """Width of the hidden-state block that ``observation="full"`` appends."""
    return n_personas + sum(_FACTOR_SIZES.values())


def hidden_one_hot(factors: np.ndarray, n_personas: int) -> np.ndarray:
    """One-hot encoding of hidden factors ``(..., F)`` -> ``(..., hidden_size)`` float32."""
    factors = np.asarray(factors)
    parts = []
    for name in FACTORS:
        size = n_personas if name == "persona" else _FACTOR_SIZES[name]
        parts.append(np.eye(size, dtype=np.float32)[factors[..., FACTORS.index(name)]])
    return np.concatenate(parts, axis=-1)


class Observed(NamedTuple):
    """A decoded partial observation (arrays when decoding a batch)."""

    tone: np.ndarray
    reaction: np.ndarray
    solved: np.ndarray
    turn_fraction: np.ndarray
    last_move: np.ndarray
    """Move id of the last move, -1 at reset."""
    counts: np.ndarray
    """(..., 6) times each move was made, clipped at ``COUNT_CAP``."""


def encode(
    tone: np.ndarray | int,
    reaction: np.ndarray | int,
    solved: np.ndarray | int,
    turn: np.ndarray | int,
    max_turns: int,
    last_move: np.ndarray | int,
    counts: np.ndarray,
) -> np.ndarray:
    """Build partial observations; scalar or batched arguments, batch on leading axes.

    ``last_move`` is -1 before the first move; ``counts`` has shape ``(..., 6)``.
    """
    counts = np.asarray(counts)
    batch = counts.shape[:-1]
    obs = np.zeros((*batch, PARTIAL_SIZE), dtype=np.float32)
    eye_tone = np.eye(N_TONES, dtype=np.float32)
    eye_reaction = np.eye(N_REACTIONS, dtype=np.float32)
    eye_move = np.vstack([np.eye(N_MOVES, dtype=np.float32), np.zeros((1, N_MOVES), np.float32)])
    obs[..., TONE] = eye_tone[np.asarray(tone)]
    obs[..., REACTION] = eye_reaction[np.asarray(reaction)]
    obs[..., SOLVED] = np.asarray(solved, dtype=np.float32)
    obs[..., TURN] = np.minimum(np.asarray(turn, dtype=np.float32) / max_turns, 1.0)
    obs[..., LAST_MOVE] = eye_move[np.asarray(last_move)]  # index -1 picks the zero row
    obs[..., COUNTS] = np.minimum(counts, COUNT_CAP).astype(np.float32) / COUNT_CAP
    return obs


def decode(observation: np.ndarray) -> Observed:
    """Read a partial (or full) observation, or a batch of them, back into named fields."""
    obs = np.asarray(observation, dtype=np.float32)
    if obs.shape[-1] < PARTIAL_SIZE:
        raise ValueError(f"observation has {obs.shape[-1]} values; expected at least {PARTIAL_SIZE}")
    last = obs[..., LAST_MOVE]
    return Observed(
        tone=obs[..., TONE].argmax(-1),
        reaction=obs[..., REACTION].argmax(-1),
        solved=obs[..., SOLVED] > 0.5,
        turn_fraction=obs[..., TURN],
        last_move=np.where(last.max(-1) > 0.5, last.argmax(-1), -1),
        counts=np.rint(obs[..., COUNTS] * COUNT_CAP).astype(np.int64),
    )


# ------------------------------------------------------------------ lookups
_NO_MOVE = N_MOVES
_N_COUNT_CODES = (COUNT_CAP + 1) ** N_MOVES
"""Clipped move counts, one base-(COUNT_CAP + 1) digit per move, as one integer."""
_N_HISTORIES = _N_COUNT_CODES * (N_MOVES + 1)
"""History codes: clipped counts code * (N_MOVES + 1) + last move (N_MOVES when none)."""


@dataclass(frozen=True, eq=False)
class ObservationLookup:
    """Tables that assemble partial observations (layout of ``difficult_customer.envs.observation``) by lookup.

    An observation is ``head[face] | turn_fraction[turn] | tail[history]``, equal to what
    :func:`difficult_customer.envs.observation.encode` computes, where ``face`` is :meth:`face` of what the
    customer shows and ``history`` codes the agent's last move and clipped move counts:
    it starts at :data:`START_HISTORY` and after move ``m`` becomes
    ``next_history[history * (N_MOVES + 1) + m]`` (``m = N_MOVES`` starts over).
    """

    head: np.ndarray
    """(N_REACTIONS * 2 * N_TONES, TURN) float32: tone, reaction and solved one-hots, by face."""
    turn_fraction: np.ndarray
    """(max_turns + 1,) float32: the turn slot, by turn."""
    tail: np.ndarray
    """(histories, PARTIAL_SIZE - TURN - 1) float32: last-move one-hot and clipped counts, by history."""
    next_history: np.ndarray
    """(histories * (N_MOVES + 1),) intp: the history after a move."""

    @staticmethod
    def face(reaction: Any, solved: Any, tone: Any) -> Any:
        """Index into :attr:`head` (scalars or arrays)."""
        return (reaction * 2 + solved) * N_TONES + tone


START_HISTORY = _NO_MOVE
"""History code of a conversation without moves (no last move, all counts 0)."""


@functools.lru_cache(maxsize=8)
def observation_lookup(max_turns: int) -> ObservationLookup:
    """The (cached, read-only) :class:`ObservationLookup` for a turn limit, built with ``encode``."""
    shown, tone = np.divmod(np.arange(N_REACTIONS * 2 * N_TONES), N_TONES)
    reaction, solved = np.divmod(shown, 2)
    no_counts = np.zeros((tone.size, N_MOVES), dtype=np.int64)
    head = encode(tone, reaction, solved, 0, max_turns, -1, no_counts)[:, : TURN]
    code, move = np.divmod(np.arange(_N_HISTORIES), N_MOVES + 1)
    last = np.where(move == _NO_MOVE, -1, move)
    tail = encode(0, 0, 0, 0, max_turns, last, _count_digits(code))[:, TURN + 1 :]
    turns = np.arange(max_turns + 1)
    no_counts = np.zeros((turns.size, N_MOVES), dtype=np.int64)
    turn = encode(0, 0, 0, turns, max_turns, -1, no_counts)[:, TURN]
    digits = _count_digits(np.arange(_N_COUNT_CODES))
    step_up = np.minimum(digits + np.eye(N_MOVES, dtype=np.int64)[:, None, :], COUNT_CAP)
    after = (step_up * (COUNT_CAP + 1) ** np.arange(N_MOVES)).sum(-1)  # (move, counts code)
    next_history = np.empty((_N_COUNT_CODES, N_MOVES + 1, N_MOVES + 1), dtype=np.intp)  # (counts, last, move)
    next_history[..., :N_MOVES] = (after.T * (N_MOVES + 1) + np.arange(N_MOVES))[:, None, :]
    next_history[..., _NO_MOVE] = START_HISTORY
    lookup = ObservationLookup(
        head=np.ascontiguousarray(head),
        turn_fraction=np.ascontiguousarray(turn),
        tail=np.ascontiguousarray(tail),
        next_history=next_history.ravel(),
    )
    for array in (lookup.head, lookup.turn_fraction, lookup.tail, lookup.next_history):
        array.setflags(write=False)
    return lookup


def _count_digits(code: np.ndarray) -> np.ndarray:
    """Clipped move counts ``(..., 6)`` from their combined code."""
    base = COUNT_CAP + 1
    return (np.asarray(code)[..., None] // base ** np.arange(N_MOVES)) % base
