"""One scripted policy per guide, each following that guide's prescribed order.

Every guide policy reads only the observation. A guide prescribes an opening (the
moves it puts before the solution), what to do when an offer is rejected, whether to
set a boundary on abuse, and whether to follow up. Where a guide is silent (guide 004
never mentions a solution step or a follow-up), the policy does what the guide's own
logic implies and says so; where a guide has no answer to a persona (001, 003 and 004
never set a boundary), the benchmark shows the cost: that is a finding about the guide.

Guides (files of the source material, see ``docs/claims.md``):

- ``000_bcce97811ec03dfb.txt`` How to Handle Difficult Customers Gracefully
- ``001_e0641e9fd68303cb.txt`` Strategies for Calming a Difficult Customer
- ``002_3433ec1d79cbc358.txt`` Dealing with Difficult Clients helps you Level Up
- ``003_80726e119650b5ba.txt`` Handle difficult customers like a pro
- ``004_cecb5b1397c8fba0.txt`` Dealing with the Difficult
"""

from __future__ import annotations

from dataclasses import dataclass

from difficult_customer.agents.base import ObservationPolicy
from difficult_customer.customer_models import Move, Reaction, Tone
from difficult_customer.envs.observation import Observed


@dataclass(frozen=True)
class GuideScript:
    """A guide's prescription, as data."""

    name: str
    source: str
    """Guide file name."""
    opening: tuple[Move, ...]
    """Moves in the guide's order before the first offer (each made once)."""
    offers: bool = True
    """The guide prescribes offering a solution after the opening (C3, C5)."""
    after_rejection: tuple[Move, ...] = (Move.empathize,)
    """Moves to make again, in order, before re-offering after a rejected offer (C3)."""
    boundary_on_abuse: bool = False
    """Sets a boundary when the customer insults (C6)."""
    boundary_on_hostility: bool = False
    """Also sets a boundary (once) when the customer sounds hostile, abusive or not."""
    follows_up: bool = True
    """Follows up once the problem is solved (C7); otherwise it closes with a listen."""
    summary: str = ""


GUIDE_SCRIPTS: dict[str, GuideScript] = {
    s.name: s
    for s in (
        GuideScript(
            name="guide_000",
            source="000_bcce97811ec03dfb.txt",
            opening=(Move.listen, Move.empathize, Move.listen),
            after_rejection=(Move.listen, Move.empathize),
            boundary_on_abuse=True,
            summary="Understand emotions: listen and paraphrase, show concern, ask open questions; offer several "
            "options; set boundaries professionally when the conversation turns belligerent; follow up.",
        ),
        GuideScript(
            name="guide_001",
            source="001_e0641e9fd68303cb.txt",
            opening=(Move.listen, Move.empathize),
            after_rejection=(Move.empathize,),
            summary="1 stay calm, 2 listen actively, 3 empathize, 4 offer a solution (or an honest timeline), "
            "5 follow up. No boundaries.",
        ),
        GuideScript(
            name="guide_002",
            source="002_3433ec1d79cbc358.txt",
            opening=(Move.empathize, Move.listen),
            after_rejection=(Move.empathize, Move.listen),
            boundary_on_abuse=True,
            boundary_on_hostility=True,
            summary="Empathy, active listening, stay calm, set boundaries when the client turns agitated or "
            "confrontational (what you can and cannot do), offer solutions, follow up.",
        ),
        GuideScript(
            name="guide_003",
            source="003_80726e119650b5ba.txt",
            opening=(Move.listen, Move.empathize),
            after_rejection=(Move.listen, Move.empathize),
            summary="1 listen, 2 empathize, 3 stay calm, 4 offer a solution (refund, exchange, discount), "
            "5 follow up. No boundaries.",
        ),
        GuideScript(
            name="guide_004",
            source="004_cecb5b1397c8fba0.txt",
            opening=(Move.listen, Move.apologize, Move.empathize, Move.empathize),
            after_rejection=(Move.listen, Move.empathize),
            follows_up=False,
            summary="Feelings first, then the problem: listen and acknowledge, don't react (ignore abuse), "
            "apologize once ('I apologize'), genuine empathy, build rapport; then deal with the problem. "
            "Names no follow-up.",
        ),
    )
}


class GuidePolicy(ObservationPolicy):
    """Follows one guide's script from the observation alone.

    Each opening move is made once, in order; then options are offered; after a
    rejection the guide's feelings moves are made again before the next offer. Counts
    of past moves (in the observation) say where in the script the conversation is.
    """

    def __init__(self, script: GuideScript) -> None:
        self.script = script
        self.name = script.name
        self.cites = script.source

    def act(self, seen: Observed) -> Move:
        s = self.script
        if seen.solved:
            return Move.follow_up if s.follows_up else Move.listen
        if s.boundary_on_abuse and seen.reaction == Reaction.insults:
            return Move.set_boundary
        if s.boundary_on_hostility and seen.tone == Tone.hostile and seen.counts[Move.set_boundary] == 0:
            return Move.set_boundary
        needed: dict[Move, int] = {}
        for move in s.opening:  # the opening, in order, each made as often as it appears
            needed[move] = needed.get(move, 0) + 1
            if seen.counts[move] < needed[move]:
                return move
        if not s.offers:
            return s.opening[-1]
        if seen.reaction == Reaction.rejects_offer:
            return s.after_rejection[0]
        if seen.last_move in s.after_rejection[:-1]:
            position = s.after_rejection.index(Move(seen.last_move))
            # Continue the feelings moves only if we are inside a post-rejection sequence.
            if seen.counts[Move.offer_options] > 0:
                return s.after_rejection[position + 1]
        return Move.offer_options
