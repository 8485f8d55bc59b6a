"""A rule-based policy that reacts to the customer's tone and reactions.

It is the guides' advice made conditional, as an experienced agent would apply it:
listen first (C1), empathize once the customer has had a chance to be heard (C2; the
order is contested, D1, and early empathy patronizes only under our assumption A1),
apologize once (C4), set a boundary only when the customer insults (C6 as guide 000
says it; 004 would ignore abuse), offer options once the customer sounds calmer (C3,
C5), go back to feelings after a rejection, and follow up after the solution (C7).
Reads only the observation. It is not a guide's script: its conditions are ours.

Against a customer who opens with insults it sets the boundary first, so it breaks R1
(listen or empathize first) to keep R4 (answer abuse): the rules pull apart there, and
the exact optimum resolves the tension the same way.
"""

from __future__ import annotations

from difficult_customer.agents.base import ObservationPolicy
from difficult_customer.customer_models import Move, Reaction, Tone
from difficult_customer.envs.observation import Observed


class ToneReader(ObservationPolicy):
    """Adaptive rules on tone and reactions (see the module docstring)."""

    name = "tone_reader"
    cites = "C1-C7 conditionally; R2-R6, and R1 except after an opening insult"

    def act(self, seen: Observed) -> Move:
        counts = seen.counts
        if seen.solved:
            return Move.follow_up
        if seen.reaction == Reaction.insults:
            return Move.set_boundary  # C6: only abuse calls for a boundary
        if counts[Move.listen] == 0:
            return Move.listen  # C1, R1
        if seen.reaction == Reaction.irritated and seen.last_move == Move.empathize:
            return Move.listen  # A1/D1: empathy came too early; let them talk
        if counts[Move.empathize] == 0:
            return Move.empathize  # C2, R2
        if seen.reaction == Reaction.rejects_offer:
            return Move.listen if counts[Move.listen] < 3 else Move.empathize  # C3: back to feelings
        if counts[Move.apologize] == 0 and seen.tone <= Tone.angry:
            return Move.apologize  # C4: one sincere apology
        if seen.tone >= Tone.angry and counts[Move.listen] < 3 and seen.reaction != Reaction.threatens_to_leave:
            return Move.listen if seen.last_move != Move.listen else Move.empathize
        return Move.offer_options  # C3, C5
