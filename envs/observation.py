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

from typing import NamedTuple

import numpy as np

from difficult_customer.customer_models.vocabulary import (
    FACTORS,
    MAX_APOLOGIES,
    MAX_PATIENCE,
    N_MOVES,
    N_REACTIONS,
    N_TONES,
    Abuse,
    Anger,
    Outcome,
    Trust,
)

COUNT_CAP = 3
"""Move counts are clipped at this value in the observation."""

TONE = slice(0, N_TONES)
REACTION = slice(TONE.stop, TONE.stop + N_REACTIONS)
SOLVED = REACTION.stop
TURN = SOLVED + 1
LAST_MOVE = slice(TURN + 1, TURN + 1 + N_MOVES)
COUNTS = slice(LAST_MOVE.stop, LAST_MOVE.stop + N_MOVES)
PARTIAL_SIZE = COUNTS.stop

FACTOR_SIZES: dict[str, int | None] = {
    "persona": None,  # the mixture's number of personas
    "status": len(Outcome) - 1,  # timed_out is never a hidden status
    "anger": len(Anger),
    "trust": len(Trust),
    "heard": 2,
    "apologies": MAX_APOLOGIES + 1,
    "solved": 2,
    "abuse": len(Abuse),
    "patience": MAX_PATIENCE + 1,
}
"""Number of values each hidden factor can take (None: per mixture), for the full observation's one-hots."""
assert tuple(FACTOR_SIZES) == FACTORS, "FACTOR_SIZES must follow vocabulary.FACTORS"
assert Outcome.timed_out == len(Outcome) - 1


def hidden_size(n_personas: int) -> int:
    """Width of the hidden-state block that ``observation="full"`` appends."""
    return n_personas + sum(size for size in FACTOR_SIZES.values() if size is not None)


def hidden_one_hot(factors: np.ndarray, n_personas: int) -> np.ndarray:
    """One-hot encoding of hidden factors ``(..., F)`` -> ``(..., hidden_size)`` float32."""
    factors = np.asarray(factors)
    parts = []
    for column, size in enumerate(FACTOR_SIZES.values()):
        parts.append(np.eye(n_personas if size is None else size, dtype=np.float32)[factors[..., column]])
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


def turn_of(observation: np.ndarray, max_turns: int) -> np.ndarray | int:
    """The turn number (moves made so far) of a partial or full observation, or of a batch of them.

    The observation holds ``turn / max_turns`` (:data:`TURN`), so the turn limit the
    observation was made with is needed to read it back. Returns an int for one
    observation, an int64 array of the leading shape for a batch.
    """
    obs = np.asarray(observation)
    if obs.ndim == 0 or obs.shape[-1] < PARTIAL_SIZE:
        raise ValueError(f"observation of shape {obs.shape}; expected at least {PARTIAL_SIZE} values on the last axis")
    turn = np.rint(obs[..., TURN].astype(np.float64) * max_turns).astype(np.int64)
    return int(turn) if turn.ndim == 0 else turn

