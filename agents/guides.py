"""One scripted policy per guide, each step citing the guide sentence it comes from.

Every guide policy reads only the observation. A script is its guide's named steps, in
the guide's order, each a :class:`Step` with the sentence it rests on (checked verbatim
against ``docs/guides/`` by the tests). Two rules, the same for all five guides, fill in
what a guide does not say:

- :data:`UNNAMED_STEPS_RULE` (``"U1"``): a step the guide does not name, among the steps
  every conversation needs to end well (offer a solution, follow up after it), is taken
  from the guides that do name it, in their common order: the offer after the guide's
  feelings steps, the follow-up right after the solution. Nothing else is added: a guide
  that names no boundary never sets one. Today only guide 004 needs it, for its follow-up
  (its offer is its own "then you can deal with their problem").
- :data:`AFTER_REJECTION_RULE` (``"U2"``): after a rejected offer, the script makes its own
  listening and empathy steps again (in its order, once each), then offers again. No guide
  says what to do after a rejection; this follows 004's "feelings first, then the problem".

Guides (files of the source material, copies in ``docs/guides/``):

- ``000_bcce97811ec03dfb.txt`` How to Handle Difficult Customers Gracefully
- ``001_e0641e9fd68303cb.txt`` Strategies for Calming a Difficult Customer
- ``002_3433ec1d79cbc358.txt`` Dealing with Difficult Clients helps you Level Up
- ``003_80726e119650b5ba.txt`` Handle difficult customers like a pro
- ``004_cecb5b1397c8fba0.txt`` Dealing with the Difficult
"""

from __future__ import annotations

from dataclasses import dataclass

from difficult_customer.agents.base import ObservationPolicy
from difficult_customer.customer_models import Move, Reaction
from difficult_customer.customer_models.provenance import G000, G001, G002, G003, G004, Quote, q
from difficult_customer.envs.observation import Observed

UNNAMED_STEPS_RULE = (
    "U1: a step a guide does not name, of those every conversation needs to end well (offer a solution, then follow "
    "up after it), is taken from the guides that name it, in their common order; nothing else is added (a guide that "
    "names no boundary sets none)."
)
AFTER_REJECTION_RULE = (
    "U2: after a rejected offer, the script makes its own listening and empathy steps again (in its order, once "
    "each), then offers again; no guide says what to do after a rejection."
)
_FEELINGS = {Move.listen, Move.empathize}


@dataclass(frozen=True)
class Step:
    """One move of a script and where it comes from."""

    move: Move
    quote: Quote | None
    """The guide sentence the step comes from (for a rule-added step, the sentence of a guide that names it)."""
    rule: str = ""
    """``"U1"`` or ``"U2"`` if the step is added by a rule rather than named by the guide."""
    note: str = ""
    """How we read the sentence as this move, where it is not plain."""


@dataclass(frozen=True)
class GuideScript:
    """A guide's prescription, as cited steps."""

    name: str
    source: str
    """Guide file name."""
    steps: tuple[Step, ...]
    """Moves in the guide's order before the first offer (each made once)."""
    offer: Step
    follow_up: Step
    boundary_on_abuse: Step | None = None
    """Sets a boundary when the customer insults (only guide 000 says so)."""
    summary: str = ""

    @property
    def opening(self) -> tuple[Move, ...]:
        """The moves of :attr:`steps`."""
        return tuple(s.move for s in self.steps)

    @property
    def after_rejection(self) -> tuple[Move, ...]:
        """U2: the script's own listening and empathy moves, in its order, once each."""
        out: list[Move] = []
        for move in self.opening:
            if move in _FEELINGS and move not in out:
                out.append(move)
        return tuple(out)

    def cited_steps(self) -> tuple[Step, ...]:
        """Every step of the script, the rule-added ones included."""
        extra = (self.boundary_on_abuse,) if self.boundary_on_abuse else ()
        return (*self.steps, self.offer, self.follow_up, *extra)


_FOLLOW_UP_001 = q(G001, "After resolving the customer’s issue, follow up with them to ensure that they are satisfied "
                         "with the outcome.")

GUIDE_SCRIPTS: dict[str, GuideScript] = {
    s.name: s
    for s in (
        GuideScript(
            name="guide_000",
            source=G000,
            steps=(
                Step(
                    Move.listen, q(G000, "Start your conversation by actively listening and showing genuine concern.")
                ),
                Step(Move.empathize, q(G000, "Acknowledging their feelings is key during interactions.")),
                Step(Move.listen, q(G000, "Try paraphrasing their complaints to show you are engaged in the "
                                          "conversation."), note="paraphrasing is listening"),
            ),
            offer=Step(Move.offer_options, q(G000, "A crucial practice involves presenting multiple solutions to "
                                                   "customers, which empowers them to choose a course of action.")),
            follow_up=Step(Move.follow_up, q(G000, "Send a follow-up email or make a brief phone call to confirm "
                                                   "their satisfaction with the resolution.")),
            boundary_on_abuse=Step(Move.set_boundary, q(
                G000, "Additionally, if a conversation escalates into belligerence, it is acceptable to inform the "
                      "customer that continued disrespect will result in the termination of the dialogue."),
                note="an insult is the belligerence; 000's limits on requests apply to a request outside company "
                     "policy, which the model has no event for"),
            summary="Listen and show concern, acknowledge feelings, paraphrase; offer several options; answer "
            "belligerence with a boundary; follow up.",
        ),
        GuideScript(
            name="guide_001",
            source=G001,
            steps=(
                Step(Move.listen, q(G001, "Show genuine interest in their concerns by listening attentively and "
                                          "acknowledging their feelings.")),
                Step(Move.empathize, q(G001, "Acknowledge the customer’s frustration or anger and let them know that "
                                             "you understand their concerns.")),
            ),
            offer=Step(Move.offer_options, q(G001, "Once you have listened to the customer’s concerns and shown "
                                                   "empathy, it’s time to offer a solution.")),
            follow_up=Step(Move.follow_up, _FOLLOW_UP_001),
            summary="1 stay calm, 2 listen actively, 3 empathize, 4 offer a solution, 5 follow up. No boundaries.",
        ),
        GuideScript(
            name="guide_002",
            source=G002,
            steps=(
                Step(Move.empathize, q(G002, "Start by empathizing with the client's situation.")),
                Step(Move.listen, q(G002, "Listen carefully to what the client is saying without interrupting.")),
                Step(Move.set_boundary, q(G002, "Communicate clearly and assertively about what you can and cannot do "
                                                "to address their concerns."),
                     note="002's 'Set Boundaries' is a step in its order (what you can and cannot do), made once "
                          "before the offer; it is not about a hostile tone or abuse"),
            ),
            offer=Step(Move.offer_options, q(G002, "Focus on finding solutions to the client's problem rather than "
                                                   "dwelling on the issue itself.")),
            follow_up=Step(Move.follow_up, q(G002, "After resolving the immediate issue, follow up with the client to "
                                                   "ensure their satisfaction.")),
            summary="Empathy, active listening, stay calm, set boundaries (what you can and cannot do), offer "
            "solutions, follow up.",
        ),
        GuideScript(
            name="guide_003",
            source=G003,
            steps=(
                Step(Move.listen, q(G003, "Allow them to express themselves without interrupting, and make them feel "
                                          "heard and understood.")),
                Step(Move.empathize, q(G003, "Once the customer has expressed their concerns, validate their feelings "
                                             "by showing empathy and understanding their perspective.")),
            ),
            offer=Step(Move.offer_options, q(G003, "If necessary, offer a refund, exchange, or discount to satisfy "
                                                   "the customer.")),
            follow_up=Step(Move.follow_up, q(G003, "Once the situation has been resolved, follow up with the customer "
                                                   "to ensure that they are satisfied.")),
            summary="1 listen, 2 empathize, 3 stay calm, 4 offer a solution (refund, exchange, discount), "
            "5 follow up. No boundaries.",
        ),
        GuideScript(
            name="guide_004",
            source=G004,
            steps=(
                Step(Move.listen, q(G004, "Patiently listen to what they are saying and let them know that you "
                                          "understand.")),
                Step(Move.apologize, q(G004, "Look the customer in the eye and say, “I apologize” rather than “I’m "
                                             "sorry”.")),
                Step(Move.empathize, q(G004, "It’s an effective way to deal with the customer’s feelings.")),
                Step(Move.empathize, q(G004, "Sometimes it’s useful to add another phrase to the empathy response, "
                                             "including yourself in the picture."),
                     note="building rapport is a second empathy response"),
            ),
            offer=Step(Move.offer_options, q(
                G004, "Regardless of which flavor you are dealing with, the most important thing to realize when "
                      "dealing with an upset customer, is to deal with their feelings first then you can deal with "
                      "their problem."), note="the model's one move for the problem is the offer"),
            follow_up=Step(Move.follow_up, _FOLLOW_UP_001, rule="U1",
                           note="004 names no follow-up; U1 takes it from 001, 002, 003 and 000"),
            summary="Feelings first, then the problem: listen and acknowledge, don't react (ignore abuse), "
            "apologize ('I apologize'), genuine empathy, build rapport; then deal with the problem. The follow-up "
            "is added by rule U1.",
        ),
    )
}


class GuidePolicy(ObservationPolicy):
    """Follows one guide's script from the observation alone.

    Each opening step is made once, in order; then options are offered; after a
    rejection the script's listening and empathy moves are made again before the next
    offer (U2); after a solution, a follow-up. Counts of past moves (in the observation)
    say where in the script the conversation is.
    """

    def __init__(self, script: GuideScript) -> None:
        self.script = script
        self.name = script.name
        self.cites = script.source

    def act(self, seen: Observed) -> Move:
        s = self.script
        if seen.solved:
            return s.follow_up.move
        if s.boundary_on_abuse is not None and seen.reaction == Reaction.insults:
            return s.boundary_on_abuse.move
        needed: dict[Move, int] = {}
        for move in s.opening:  # the opening, in order, each made as often as it appears
            needed[move] = needed.get(move, 0) + 1
            if seen.counts[move] < needed[move]:
                return move
        again = s.after_rejection
        if seen.reaction == Reaction.rejects_offer and again:
            return again[0]
        if seen.last_move in again[:-1] and seen.counts[Move.offer_options] > 0:
            return again[again.index(Move(seen.last_move)) + 1]  # inside a post-rejection sequence
        return s.offer.move


__all__ = ["AFTER_REJECTION_RULE", "GUIDE_SCRIPTS", "UNNAMED_STEPS_RULE", "GuidePolicy", "GuideScript", "Step"]
