"""The guide-conformance rules R1-R6 as small automata over what the agent sees.

One encoding serves two uses, so they cannot drift apart:

- ``experiments.library.conformance`` runs each automaton over a recorded conversation
  to say whether the rule held;
- ``agents.exact.rule_cost`` builds the product of the hidden state and the automaton's
  memory and restricts the oracle to the moves the rule allows, to compute exactly what
  keeping the rule costs.

An automaton has a small memory ``m`` (an int in ``range(n_memory)``), set at the start
from the opening observation and updated after each move from the move and the next
observation (reaction, tone, solved). :meth:`Rule.allowed` says whether a move keeps the
rule; :meth:`Rule.owed_at_end` whether the conversation ending now breaks it (only R6,
an obligation to offer once the customer sounds calm, can be broken that way). R3 also
reads whether the customer is a genuine grievance, which the agent cannot see (the
guides allow a second apology there).
"""

from __future__ import annotations

from dataclasses import dataclass

from difficult_customer.customer_models import Move, Reaction, Tone

_FEELINGS = (Move.empathize, Move.apologize)
_OFFER_REPLIES = (Reaction.accepts_offer, Reaction.rejects_offer)


@dataclass(frozen=True)
class Rule:
    """One conformance rule: its text, what it rests on, and its automaton."""

    id: str
    text: str
    rests_on: str
    """Claims, and where the rule is contested or an assumption, that."""
    n_memory: int
    uses_tone: bool = False

    def start(self, reaction: int, tone: int, solved: int) -> int:
        """Memory at the first move, from the opening observation."""
        return 0

    def allowed(self, m: int, move: int, genuine: bool) -> bool:
        """True if ``move`` keeps the rule with memory ``m``."""
        return True

    def update(self, m: int, move: int, reaction: int, tone: int, solved: int) -> int:
        """Memory after ``move`` and the observation it brought."""
        return m

    def owed_at_end(self, m: int) -> bool:
        """True if the conversation ending with memory ``m`` breaks the rule."""
        return False


class _R1(Rule):
    def allowed(self, m: int, move: int, genuine: bool) -> bool:
        return m == 1 or move in (Move.listen, Move.empathize)

    def update(self, m: int, move: int, reaction: int, tone: int, solved: int) -> int:
        return 1


class _R2(Rule):
    """Bits: 1 = a listen was made, 2 = a feelings move (empathize or apologize) was made, in either order."""

    def allowed(self, m: int, move: int, genuine: bool) -> bool:
        return move != Move.offer_options or m == 3

    def update(self, m: int, move: int, reaction: int, tone: int, solved: int) -> int:
        if move == Move.listen:
            return m | 1
        if move in _FEELINGS:
            return m | 2
        return m


class _R3(Rule):
    """Memory: apologies so far, 0, 1, 2 (two or more), 3 (more than two)."""

    def allowed(self, m: int, move: int, genuine: bool) -> bool:
        return move != Move.apologize or m < (2 if genuine else 1)

    def update(self, m: int, move: int, reaction: int, tone: int, solved: int) -> int:
        return min(m + 1, 3) if move == Move.apologize else m


class _R4(Rule):
    """Bits: 1 = the last reaction was an insult, 2 = an insult is unanswered, 4 = the last
    move was made right after an insult and was not a boundary."""

    def start(self, reaction: int, tone: int, solved: int) -> int:
        return 3 if reaction == Reaction.insults else 0

    def allowed(self, m: int, move: int, genuine: bool) -> bool:
        if move == Move.set_boundary:
            return bool(m & 2)  # (a) only while an insult is unanswered
        return not (m & 1 and m & 4)  # (b) never two insults in a row unanswered

    def update(self, m: int, move: int, reaction: int, tone: int, solved: int) -> int:
        boundary = move == Move.set_boundary
        insult = reaction == Reaction.insults
        pending = insult or (bool(m & 2) and not boundary and reaction in _OFFER_REPLIES)
        unanswered_prev = bool(m & 1) and not boundary
        return int(insult) | (2 * int(pending)) | (4 * int(unanswered_prev))


class _R5(Rule):
    """Memory: the problem is solved (visible)."""

    def start(self, reaction: int, tone: int, solved: int) -> int:
        return int(solved)

    def allowed(self, m: int, move: int, genuine: bool) -> bool:
        return (move == Move.follow_up) == bool(m)

    def update(self, m: int, move: int, reaction: int, tone: int, solved: int) -> int:
        return int(solved)


class _R6(Rule):
    """Memory: 0 no calm tone yet, 1 calm just shown (unsolved), 2 an offer is owed, 3 offered since."""

    def start(self, reaction: int, tone: int, solved: int) -> int:
        return 1 if tone == Tone.calm and not solved else 0

    def update(self, m: int, move: int, reaction: int, tone: int, solved: int) -> int:
        if m in (1, 2):
            return 3 if move == Move.offer_options else 2
        if m == 0 and tone == Tone.calm and not solved:
            return 1
        return m

    def owed_at_end(self, m: int) -> bool:
        return m == 2


RULE_AUTOMATA: dict[str, Rule] = {
    r.id: r
    for r in (
        _R1("R1", "listens or empathizes first", "C1, C2 (all five guides open so)", 2),
        _R2("R2", "feelings before the problem (a listen and a feelings move, empathy or an apology, before any offer)",
            "C3 (004, 001)", 4),
        _R3("R3", "at most one apology (two with a genuine grievance)", "assumption (C4: A3, A4)", 4),
        _R4("R4", "boundary only while an insult is unanswered, and persisting abuse gets one",
            "C6 as 000 says it; contested: 004 would ignore abuse", 8),
        _R5("R5", "follows up once solved, never before", "C7 (000, 001, 002, 003)", 2),
        _R6("R6", "offers a solution once the customer sounds calm", "C3, C5", 4, uses_tone=True),
    )
}
"""The rules by id."""


__all__ = ["RULE_AUTOMATA", "Rule"]
