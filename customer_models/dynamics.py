"""One step of the customer: every effect of every move, each naming its parameter.

:func:`step_outcomes` lists the possible results of one move in one hidden state with
their probabilities. It is plain Python over named factors, written to be read next to
``docs/claims.md``; the compiler calls it once per (state, move) and nothing else in the
project re-types these rules.

A hidden state is a tuple in the order of :data:`~customer_models.vocabulary.FACTORS`.
"""

from __future__ import annotations

from typing import NamedTuple

from difficult_customer.customer_models.personas import Persona
from difficult_customer.customer_models.provenance import G000, G001, G003, G004, Support, q
from difficult_customer.customer_models.vocabulary import MAX_APOLOGIES, Abuse, Anger, Move, Outcome, Reaction

STRUCTURE: tuple[Support, ...] = (
    Support("quoted", "an accepted offer solves the problem (the only way to solve it)", (
        q(G003, "If necessary, offer a refund, exchange, or discount to satisfy the customer."),
        q(G001, "Once you have listened to the customer’s concerns and shown empathy, it’s time to offer a solution."),
    )),
    Support("reading", "one offer move stands for a choice of remedies; no parameter for 'several beat one'", (
        q(G000, "A crucial practice involves presenting multiple solutions to customers, which empowers them to "
                "choose a course of action."),
    ), why="the model has no single-solution move to compare with, so 'several options beat one' (C5) cannot be "
           "tested; what it keeps is that an accepted offer solves the problem and eases anger (offer_relief)"),
    Support("reading", "a follow-up before the problem is solved achieves nothing", (
        q(G001, "After resolving the customer’s issue, follow up with them to ensure that they are satisfied with the "
                "outcome."),
    ), why="every guide follows up after the resolution; before it there is nothing to confirm"),
    Support("assumption", "once solved, the next move ends the conversation (a follow-up, or a goodbye)",
            why="a simplification: the follow-up happens as the move right after acceptance (claims.md, C7)"),
    Support("assumption", "anger, trust and the other levels move one step at a time",
            why="a simplification that keeps the state small; the guides give directions, not sizes"),
    Support("reading", "only listening and empathy make the customer feel heard", (
        q(G000, "This helps customers feel heard while you remain calm and collected."),
        q(G001, "This doesn’t mean you have to agree with them, but showing empathy can go a long way in calming "
                "them down and making them feel heard."),
    ), why="the guides name these two moves as making the customer feel heard, and no other"),
    Support("assumption", "abuse stops only through a boundary, and then for good (contained)", (
        q(G000, "This approach disarms aggressive behavior while protecting your well-being."),
        q(G004, "You may be on the receiving end of some verbal abuse, be ready for it and ignore it."),
    ), why="the guides do not say how long abuse lasts; with A8 and A9 off, abuse that goes on costs nothing"),
)
"""How a step is built, beyond the parameters: each rule with its support (rendered in ``docs/claims.md``)."""


class State(NamedTuple):
    """A hidden state, factor by factor (see ``vocabulary.FACTORS``)."""

    persona: int
    """Index into the mixture's personas (C8)."""
    status: int
    """An :class:`Outcome` value: ongoing, or how the conversation ended."""
    anger: int
    """0 calm ... 4 furious."""
    trust: int
    """0 none ... 3 high."""
    heard: int
    """1 once the customer feels heard (C1)."""
    apologies: int
    """Apologies so far, 0, 1 or 2 (two or more) (C4)."""
    solved: int
    """1 once the customer accepted a solution (C5)."""
    abuse: int
    """An :class:`Abuse` value (C6)."""
    patience: int
    """Turns without progress the customer still tolerates, 1 to ``vocabulary.MAX_PATIENCE`` while ongoing (C10)."""


class _Branch(NamedTuple):
    prob: float
    state: dict
    accepted: bool | None  # offer accepted / rejected / no offer


def _split(branches: list[_Branch], prob_of, change) -> list[_Branch]:
    """Split every branch in two: with ``prob_of(state)`` apply ``change(state)``."""
    out = []
    for b in branches:
        p = prob_of(b.state)
        if p <= 0.0:
            out.append(b)
            continue
        p = min(p, 1.0)
        s = dict(b.state)
        accepted = change(s)
        out.append(_Branch(b.prob * p, s, b.accepted if accepted is None else accepted))
        if p < 1.0:
            out.append(_Branch(b.prob * (1.0 - p), b.state, b.accepted))
    return out


def _calm(s: dict) -> None:
    s["anger"] = max(s["anger"] - 1, Anger.calm)


def _anger_up(s: dict) -> None:
    s["anger"] = min(s["anger"] + 1, Anger.furious)


def _trust_up(s: dict) -> None:
    s["trust"] = min(s["trust"] + 1, 3)


def _trust_down(s: dict) -> None:
    s["trust"] = max(s["trust"] - 1, 0)


def step_outcomes(
    persona: Persona, state: State, move: Move, ablate: frozenset[str]
) -> list[tuple[float, State, Reaction]]:
    """All results of ``move`` in the non-terminal ``state``, as (probability, next, reaction).

    ``persona`` is the *effective* persona (:func:`~customer_models.personas.effective_persona`):
    switched-off effects already have their off values, so the code below reads
    parameters only. ``ablate`` (closed over claims) is consulted for the two switches
    that change the structure of a step rather than a number: C7 (a follow-up closes as
    "followed up") and A15 (patience drains). Results may repeat; the compiler merges
    them. Probabilities sum to 1. Each effect names its parameter; the parameter's
    metadata names the sentence or the assumption.
    """
    p = persona
    s0 = state._asdict()

    # Simplification (C7): once solved, the next move ends the conversation; a follow-up
    # makes it "solved and followed up".
    if state.solved:
        if move == Move.follow_up and "C7" not in ablate:
            branches = _split([_Branch(1.0, dict(s0), None)], lambda s: p.follow_up_trust, _trust_up)
            return [
                (b.prob, State(**{**b.state, "status": Outcome.solved_and_followed_up}), Reaction.thanks)
                for b in branches
            ]
        return [(1.0, State(**{**s0, "status": Outcome.solved}), Reaction.says_goodbye)]

    abusive = state.abuse == Abuse.abusive
    keep = 1.0 - p.abuse_blocks if abusive else 1.0  # A8: abuse blocks this share of calm and acceptance
    branches = [_Branch(1.0, dict(s0), None)]

    if move == Move.listen:
        calm_p = (p.listen_calm_heard if state.heard else p.listen_calm) * keep  # C1
        branches = _split(branches, lambda s: p.listen_heard, lambda s: s.update(heard=1))  # C1
        branches = _split(branches, lambda s: calm_p, _calm)

    elif move == Move.empathize:
        factor = 1.0 if state.heard else p.empathy_unheard  # D1: before heard, empathy works less
        branches = _split(branches, lambda s: p.empathy_calm * factor * keep, _calm)  # C2
        if not state.heard:  # A1: where it did not calm, early empathy may patronize
            branches = _split(
                branches, lambda s: p.empathy_patronizing if s["anger"] >= state.anger else 0.0, _anger_up
            )
        branches = _split(branches, lambda s: p.empathy_trust * factor, _trust_up)  # C2
        branches = _split(branches, lambda s: p.empathy_heard, lambda s: s.update(heard=1))  # C2 (001)

    elif move == Move.apologize:
        fatigue = p.apology_fatigue**state.apologies  # A3
        relief = 0.0 if state.anger == Anger.calm else p.apology_relief * fatigue * keep  # C4
        overused = p.apology_irritation if state.apologies >= MAX_APOLOGIES else p.apology_irritation_first  # A4/A5
        branches = _split(branches, lambda s: relief, _calm)
        branches = _split(branches, lambda s: overused if s["anger"] >= state.anger else 0.0, _anger_up)
        branches = _split(branches, lambda s: p.apology_trust * fatigue, _trust_up)  # C4
        for b in branches:
            b.state["apologies"] = min(state.apologies + 1, MAX_APOLOGIES)

    elif move == Move.offer_options:
        accept = p.offer_accept[state.anger] * (1.0 if state.heard else p.offer_unheard)  # C3
        if state.apologies == 0:
            accept *= p.offer_unapologized  # A6
        accept = min(accept + p.offer_trust * state.trust, 1.0) * keep  # C2 (trust), A8
        out = []
        for b in branches:
            out.append(_Branch(b.prob * accept, dict(b.state, solved=1), True))  # C5: accepted remedies solve
            out.append(_Branch(b.prob * (1.0 - accept), b.state, False))
        branches = [b for b in out if b.prob > 0.0]
        branches = _split(branches, lambda s: p.offer_relief if s["solved"] else 0.0, _calm)  # C5
        branches = _split(branches, lambda s: 0.0 if s["solved"] else p.reject_escalation, _anger_up)  # A2

    elif move == Move.set_boundary:
        if abusive:  # C6: a boundary disarms; if the abuse goes on, the warned dialogue ends

            def contain(s: dict) -> None:
                s["abuse"] = Abuse.contained
                _calm(s)

            branches = _split(branches, lambda s: p.boundary_stops_abuse, contain)
            branches = _split(
                branches,
                lambda s: p.warning_enforced if s["abuse"] == Abuse.abusive else 0.0,
                lambda s: s.update(status=Outcome.ended_after_abuse),
            )
        else:  # A7: on a customer who is not abusive, a boundary feels dismissive
            branches = _split(branches, lambda s: p.boundary_dismissive, _anger_up)

    # follow_up before a solution achieves nothing (C7, our reading).

    # A11: a move that raised anger also costs trust.
    if p.escalation_trust > 0.0:
        branches = _split(branches, lambda s: p.escalation_trust if s["anger"] > state.anger else 0.0, _trust_down)

    # A10 and C9: an angry customer may turn abusive, and an escalation may turn into belligerence.
    def onset(s: dict) -> float:
        if s["abuse"] != Abuse.none or s["status"] != Outcome.ongoing:
            return 0.0
        chance = p.abuse_onset if s["anger"] >= Anger.angry else 0.0
        if s["anger"] > state.anger:
            chance += p.escalation_abuse
        return chance

    if p.abuse_onset > 0.0 or p.escalation_abuse > 0.0:
        branches = _split(branches, onset, lambda s: s.update(abuse=Abuse.abusive))

    # A9: continued abuse (ignored, or a boundary that failed and was not enforced) may end the dialogue.
    if abusive and p.abuse_ends_dialogue > 0.0:
        branches = _split(
            branches,
            lambda s: p.abuse_ends_dialogue if s["abuse"] == Abuse.abusive and s["status"] == Outcome.ongoing else 0.0,
            lambda s: s.update(status=Outcome.ended_after_abuse),
        )

    # A15: patience runs out on turns without progress. A16: a furious customer may walk out.
    drains = "A15" not in ablate
    for b in branches:
        s = b.state
        if s["status"] != Outcome.ongoing or not drains:
            continue
        progress = (
            s["anger"] < state.anger
            or s["heard"] > state.heard
            or s["trust"] > state.trust
            or s["solved"] > state.solved
            or s["abuse"] == Abuse.contained and state.abuse == Abuse.abusive
        )
        if not progress:
            s["patience"] -= 1
            if s["patience"] <= 0:
                s["patience"] = 0
                s["status"] = Outcome.walked_away
    if p.furious_walkout > 0.0:
        branches = _split(
            branches,
            lambda s: p.furious_walkout
            if s["status"] == Outcome.ongoing and s["anger"] == Anger.furious and not s["solved"]
            else 0.0,
            lambda s: s.update(status=Outcome.walked_away),
        )

    return [(b.prob, State(**b.state), _reaction(state, b, move)) for b in branches]


def _reaction(before: State, branch: _Branch, move: Move) -> Reaction:
    """What the customer visibly does, from the step's result."""
    s = branch.state
    if s["status"] == Outcome.walked_away:
        return Reaction.walks_away
    if s["status"] == Outcome.ended_after_abuse:
        return Reaction.dialogue_ended
    if move == Move.offer_options:
        return Reaction.accepts_offer if branch.accepted else Reaction.rejects_offer
    if s["abuse"] == Abuse.abusive:
        return Reaction.insults
    if s["anger"] < before.anger:
        return Reaction.softens
    if s["anger"] > before.anger:
        return Reaction.irritated
    if s["patience"] == 1 or s["anger"] == Anger.furious:
        return Reaction.threatens_to_leave
    return Reaction.unmoved


ANGER_TO_TONE: tuple[int, ...] = (0, 1, 1, 2, 3)
"""The tone each anger level sounds like when the customer shows it plainly."""


def tone_distribution(persona: Persona, state: State) -> list[float]:
    """Chance of each :class:`~customer_models.vocabulary.Tone` given the hidden state.

    Tone is a noisy sign of anger (A14; a naturally difficult customer sounds angrier
    than they are, A12); it is one step off with chance ``tone_up`` / ``tone_down``,
    clipped to the scale.
    """
    base = ANGER_TO_TONE[state.anger]
    dist = [0.0, 0.0, 0.0, 0.0]
    dist[min(base + 1, 3)] += persona.tone_up
    dist[max(base - 1, 0)] += persona.tone_down
    dist[base] += 1.0 - persona.tone_up - persona.tone_down
    return dist
