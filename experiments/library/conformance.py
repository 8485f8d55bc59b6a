"""Guide conformance: how often a policy's conversations follow rules R1-R6.

Each rule is an automaton (:mod:`difficult_customer.agents.rules`) run over one
conversation: its moves and what the customer visibly did (reactions, tone, solved); R3
also uses the persona, since the guides allow a second apology with a genuine grievance.
The same automata restrict the oracle in :mod:`difficult_customer.agents.exact.rule_cost`,
which computes what keeping each rule costs. A rule that does not apply to a
conversation (R2 when no offer was made, R4 when there was neither an insult nor a
boundary, ...) is ``None`` and left out of the rate. The rules (``docs/claims.md``):

- R1 (C1, C2): the first move is listen or empathize.
- R2 (C3): no offer before at least one listen and one feelings move (empathize or
  apologize).
- R3 (assumption, C4): at most one apology (two with a genuine grievance).
- R4 (C6 as 000 says it; 004 would ignore abuse): (a) a boundary only while an insult
  shown earlier is unanswered (an offer's reply in between does not answer it; a
  boundary or any other visible reaction does), and (b) one by the second insult in a
  row.
- R5 (C7): a follow-up once the problem is solved, and never before.
- R6 (C3, C5): an offer once the customer has sounded calm (unless already solved).
"""

from __future__ import annotations

from collections.abc import Sequence

from difficult_customer.agents.rules import RULE_AUTOMATA
from difficult_customer.customer_models import Move, Reaction, Tone
from difficult_customer.experiments.library.rollouts import Episode

RULES: dict[str, str] = {rule_id: rule.text for rule_id, rule in RULE_AUTOMATA.items()}
"""Rule id -> its text."""

RESTS_ON: dict[str, str] = {rule_id: rule.rests_on for rule_id, rule in RULE_AUTOMATA.items()}
"""Rule id -> the claims it rests on, and whether it is contested or an assumption."""


def _holds(rule_id: str, ep: Episode) -> bool:
    """Run the rule's automaton over the conversation."""
    rule = RULE_AUTOMATA[rule_id]
    genuine = ep.persona == "genuine_grievance"
    m = rule.start(ep.reactions[0], ep.tones[0], int(ep.solved_before[0]))
    for i, move in enumerate(ep.moves):
        if not rule.allowed(m, move, genuine):
            return False
        m = rule.update(m, move, ep.reactions[i + 1], ep.tones[i + 1], int(ep.solved_before[i + 1]))
    return not rule.owed_at_end(m)


def check_rules(ep: Episode) -> dict[str, bool | None]:
    """Whether each rule holds in one conversation (None where it does not apply)."""
    moves = ep.moves
    out: dict[str, bool | None] = {rule: None for rule in RULES}
    if not moves:
        return out
    n = len(moves)
    insults = [r == Reaction.insults for r in ep.reactions[:n]]
    solved = ep.solved_before[:n]
    applies = {
        "R1": True,
        "R2": Move.offer_options in moves,
        "R3": True,
        "R4": any(insults) or Move.set_boundary in moves,
        "R5": Move.follow_up in moves or any(solved),
        "R6": any(ep.tones[i] == Tone.calm and not solved[i] for i in range(n)),
    }
    for rule, applicable in applies.items():
        if applicable:
            out[rule] = _holds(rule, ep)
    return out


def conformance(episodes: Sequence[Episode]) -> dict[str, dict[str, float | int | None]]:
    """Per rule: the share of applicable conversations in which it holds, and how many applied."""
    table: dict[str, dict[str, float | int | None]] = {}
    checks = [check_rules(ep) for ep in episodes]
    for rule in RULES:
        values = [c[rule] for c in checks if c[rule] is not None]
        table[rule] = {"rate": (sum(values) / len(values)) if values else None, "applicable": len(values)}
    return table


__all__ = ["RESTS_ON", "RULES", "check_rules", "conformance"]
