"""Guide conformance: how often a policy's conversations follow rules R1-R6.

Each rule is checked on one conversation from its moves and what the customer visibly
did (reactions, tone, solved); R3 also uses the persona, since the guides allow a second
apology with a genuine grievance. A rule that does not apply to a conversation (R2 when
no offer was made, R4 when there was neither abuse nor a boundary, ...) is ``None`` and
left out of the rate. The rules, in the project's words (``docs/claims.md``):

- R1 (C1, C3): the first move is listen or empathize.
- R2 (C2, C3): no offer before at least one listen and one empathize.
- R3 (C4): at most one apology (two with a genuine grievance).
- R4 (C6): a boundary only right after the customer insults, and one by the second
  insult in a row.
- R5 (C7): a follow-up once the problem is solved, and never before.
- R6 (C5): an offer once the customer has sounded calm (unless already solved).
"""

from __future__ import annotations

from collections.abc import Sequence

from difficult_customer.customer_models import Move, Reaction, Tone
from difficult_customer.experiments.library.rollouts import Episode

RULES: dict[str, str] = {
    "R1": "listens or empathizes first",
    "R2": "feelings before the problem (listen and empathize before any offer)",
    "R3": "at most one apology (two with a genuine grievance)",
    "R4": "boundary only on abuse, and when abuse persists",
    "R5": "follows up once solved, never before",
    "R6": "offers a solution once the customer is calm",
}


def check_rules(ep: Episode) -> dict[str, bool | None]:
    """Whether each rule holds in one conversation (None where it does not apply)."""
    moves = ep.moves
    before = ep.reactions  # reaction shown before move i
    out: dict[str, bool | None] = {rule: None for rule in RULES}
    if not moves:
        return out
    out["R1"] = moves[0] in (Move.listen, Move.empathize)

    if Move.offer_options in moves:
        first = moves.index(Move.offer_options)
        out["R2"] = Move.listen in moves[:first] and Move.empathize in moves[:first]

    allowed = 2 if ep.persona == "genuine_grievance" else 1
    out["R3"] = moves.count(Move.apologize) <= allowed

    insults = [r == Reaction.insults for r in before[: len(moves)]]
    if any(insults) or Move.set_boundary in moves:
        only_on_abuse = all(insults[i] for i, m in enumerate(moves) if m == Move.set_boundary)
        answered = all(
            Move.set_boundary in (moves[i - 1], moves[i]) for i in range(1, len(moves)) if insults[i] and insults[i - 1]
        )
        out["R4"] = only_on_abuse and answered

    solved = ep.solved_before[: len(moves)]
    if Move.follow_up in moves or any(solved):
        never_before = all(solved[i] for i, m in enumerate(moves) if m == Move.follow_up)
        once_solved = all(m == Move.follow_up for i, m in enumerate(moves) if solved[i])
        out["R5"] = never_before and once_solved

    calm = [i for i in range(len(moves)) if ep.tones[i] == Tone.calm and not solved[i]]
    if calm:
        out["R6"] = Move.offer_options in moves[calm[0] :]
    return out


def conformance(episodes: Sequence[Episode]) -> dict[str, dict[str, float | int | None]]:
    """Per rule: the share of applicable conversations in which it holds, and how many applied."""
    table: dict[str, dict[str, float | int | None]] = {}
    checks = [check_rules(ep) for ep in episodes]
    for rule in RULES:
        values = [c[rule] for c in checks if c[rule] is not None]
        table[rule] = {"rate": (sum(values) / len(values)) if values else None, "applicable": len(values)}
    return table
