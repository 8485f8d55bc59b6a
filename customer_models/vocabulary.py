"""The words of a conversation: moves, tones, reactions, outcomes and hidden-state factors.

Every other module indexes by these enums, never by bare position. Values are stable
ids: a move's value is its action id in the environment's ``Discrete(6)`` space.
Members are lower case, so ``Move["offer_options"]`` parses user input.
"""

from __future__ import annotations

from enum import IntEnum


class Move(IntEnum):
    """The agent's moves; values are action ids."""

    listen = 0
    """Let the customer speak fully and paraphrase (C1)."""
    empathize = 1
    """Acknowledge the customer's feelings (C2)."""
    apologize = 2
    """Say "I apologize for ..." (C4)."""
    offer_options = 3
    """Offer several solutions and let the customer choose (C3, C5)."""
    set_boundary = 4
    """State limits firmly and politely (C6)."""
    follow_up = 5
    """Check that the solution worked for the customer (C7)."""


class Tone(IntEnum):
    """How the customer sounds: a noisy, persona-dependent sign of hidden anger."""

    calm = 0
    tense = 1
    angry = 2
    hostile = 3


class Reaction(IntEnum):
    """What the customer visibly does in answer to the last move."""

    complains = 0
    """Opening line of a conversation (no move made yet)."""
    softens = 1
    """Anger went down."""
    unmoved = 2
    """Nothing visible changed."""
    irritated = 3
    """Anger went up (patronized, dismissed, over-apologized to, ...)."""
    insults = 4
    """The customer is being abusive."""
    rejects_offer = 5
    accepts_offer = 6
    threatens_to_leave = 7
    """Patience nearly used up, or the customer is furious."""
    thanks = 8
    """Closing after a follow-up on a solved problem."""
    says_goodbye = 9
    """Closing after a solved problem without a follow-up."""
    walks_away = 10
    dialogue_ended = 11
    """The conversation was ended after continued abuse (C6)."""


class Outcome(IntEnum):
    """How a conversation ended; ``ongoing`` while it runs."""

    ongoing = 0
    solved_and_followed_up = 1
    solved = 2
    walked_away = 3
    ended_after_abuse = 4
    timed_out = 5
    """Truncated at the turn limit (never a hidden status, only an episode label)."""


class Anger(IntEnum):
    """Hidden anger levels."""

    calm = 0
    annoyed = 1
    upset = 2
    angry = 3
    furious = 4


class Trust(IntEnum):
    """Hidden trust in the agent."""

    none = 0
    low = 1
    some = 2
    high = 3


class Abuse(IntEnum):
    """Whether the customer is abusive, and whether a boundary has contained it (C6)."""

    none = 0
    abusive = 1
    contained = 2


FACTORS: tuple[str, ...] = (
    "persona",
    "status",
    "anger",
    "trust",
    "heard",
    "apologies",
    "solved",
    "abuse",
    "patience",
)
"""Names of the hidden-state factors, in the column order of ``Tables.factors``."""

MAX_APOLOGIES = 2
"""Apologies are counted 0, 1, 2 (2 means two or more)."""

MAX_PATIENCE = 4
"""Largest patience a persona can have: turns without progress tolerated (C10, A15).

Patience has no enum: a persona's ``patience`` is 1 to ``MAX_PATIENCE``, and the hidden
``patience`` factor counts down from it to 0 (used up: the customer walks away), so it
takes ``MAX_PATIENCE + 1`` values."""

CLAIMS: tuple[str, ...] = tuple(f"C{i}" for i in range(1, 11))
"""Claim ids that effects cite and ablations switch off."""

N_MOVES = len(Move)
N_TONES = len(Tone)
N_REACTIONS = len(Reaction)
