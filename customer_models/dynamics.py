"""One step of the customer: every effect of every move, each citing its claim.

:func:`step_outcomes` lists the possible results of one move in one hidden state with
their probabilities. It is plain Python over named factors, written to be read next to
``docs/claims.md``; the compiler calls it once per (state, move) and nothing else in the
project re-types these rules.

A hidden state is a tuple in the order of :data:`~customer_models.vocabulary.FACTORS`.
"""

from __future__ import annotations

from typing import NamedTuple

from difficult_customer.customer_models.personas import Persona
from difficult_customer.customer_models.vocabulary import MAX_APOLOGIES, Abuse, Anger, Move, Outcome, Reaction


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
    """Turns without progress the customer still tolerates, 1-4 while ongoing (C10)."""


class _Branch(NamedTuple):
    prob: float
    state: dict
    accepted: bool | None  # offer accepted / rejected / no offer


def _split(branches: list[_Branch], prob_of, change) -> list[_Branch]:
    """Split every branch in two: with ``prob_of(state)`` apply ``change(state)``."""
    out = []
    for b in branches:
        p = min(max(prob_of(b.state), 0.0), 1.0)
        if p > 0.0:
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

    Results may repeat; the compiler merges them. Probabilities sum to 1.
    ``ablate`` holds claim ids whose effects are switched off: the move becomes
    neutral in that respect.
    """
    on = {c: c not in ablate for c in (f"C{i}" for i in range(1, 11))}
    p = persona
    s0 = state._asdict()

    # C7: once the problem is solved the customer leaves after this turn; a follow-up
    # makes the difference between "solved" and "solved and followed up".
    if state.solved:
        if move == Move.follow_up and on["C7"]:
            branches = _split([_Branch(1.0, dict(s0), None)], lambda s: p.follow_up_trust, _trust_up)
            return [
                (b.prob, State(**{**b.state, "status": Outcome.solved_and_followed_up}), Reaction.thanks)
                for b in branches
            ]
        return [(1.0, State(**{**s0, "status": Outcome.solved}), Reaction.says_goodbye)]

    abusive = state.abuse == Abuse.abusive and on["C6"]
    blocked = abusive  # C6: abuse yields only to a boundary; other moves do not calm.
    branches = [_Branch(1.0, dict(s0), None)]

    if move == Move.listen and on["C1"]:
        calm_p = p.listen_calm_heard if state.heard else p.listen_calm
        branches = _split(branches, lambda s: p.listen_heard, lambda s: s.update(heard=1))
        if not blocked:
            branches = _split(branches, lambda s: calm_p, _calm)

    elif move == Move.empathize and on["C2"]:
        if state.heard:
            if not blocked:
                branches = _split(branches, lambda s: p.empathy_calm, _calm)
            branches = _split(branches, lambda s: p.empathy_trust, _trust_up)
        else:  # C2: empathy before the customer feels heard reads as patronizing.
            branches = _split(branches, lambda s: p.empathy_patronizing, _anger_up)

    elif move == Move.apologize:
        if on["C4"]:
            keep = p.apology_fatigue**state.apologies  # C4: each further apology keeps less.
            relief = 0.0 if blocked or state.anger == Anger.calm else p.apology_relief * keep
            overused = p.apology_irritation if state.apologies >= MAX_APOLOGIES else p.apology_irritation_first
            # Relief and irritation exclude each other: irritation only where relief failed.
            branches = _split(branches, lambda s: relief, _calm)
            branches = _split(
                branches, lambda s: overused if s["anger"] >= state.anger else 0.0, _anger_up
            )
            branches = _split(branches, lambda s: p.apology_trust * keep, _trust_up)
        for b in branches:
            b.state["apologies"] = min(state.apologies + 1, MAX_APOLOGIES)

    elif move == Move.offer_options:
        if blocked:
            accept = 0.0
        elif on["C3"]:  # C3: feelings first; an angry or unheard customer rejects.
            accept = p.offer_accept[state.anger] * (1.0 if state.heard else p.offer_unheard)
            if on["C4"] and state.apologies == 0:  # C4/C8: a genuine grievance wants an apology first.
                accept *= p.offer_unapologized
        else:
            accept = p.offer_flat
        if on["C5"] and not blocked:  # C5: a choice of options, and trust once heard, help.
            accept = accept * (1.0 + p.offer_choice) + (p.offer_trust * state.trust if state.heard else 0.0)
        accept = min(accept, 1.0)
        out = []
        for b in branches:
            yes = dict(b.state, solved=1)
            out.append(_Branch(b.prob * accept, yes, True))
            out.append(_Branch(b.prob * (1.0 - accept), b.state, False))
        branches = [b for b in out if b.prob > 0.0]
        if on["C5"]:  # C5: choosing a solution reduces frustration.
            branches = _split(branches, lambda s: p.offer_relief if s["solved"] else 0.0, _calm)
        if on["C3"]:  # C3: a rejected offer escalates.
            branches = _split(branches, lambda s: 0.0 if s["solved"] else p.reject_escalation, _anger_up)

    elif move == Move.set_boundary and on["C6"]:
        if state.abuse == Abuse.abusive:  # C6: limits stated firmly stop the abuse.
            def contain(s: dict) -> None:
                s["abuse"] = Abuse.contained
                _calm(s)

            branches = _split(branches, lambda s: p.boundary_stops_abuse, contain)
        else:  # C6: on a customer who is not abusive, a boundary feels dismissive.
            branches = _split(branches, lambda s: p.boundary_dismissive, _anger_up)

    # follow_up before a solution (C7) and ablated moves change nothing here.

    # C9: escalation: a move that raised anger also costs trust.
    if on["C9"]:
        branches = _split(
            branches, lambda s: p.escalation_trust if s["anger"] > state.anger else 0.0, _trust_down
        )

    # C6/C8/C9: an angry customer may turn abusive, likelier right after an escalation.
    def onset(s: dict) -> float:
        if s["abuse"] != Abuse.none:
            return 0.0
        chance = p.abuse_onset if s["anger"] >= Anger.angry else 0.0
        if on["C9"] and s["anger"] > state.anger:
            chance += p.escalation_abuse
        return chance

    branches = _split(branches, onset, lambda s: s.update(abuse=Abuse.abusive))

    # C6: continued abuse (ignored, or a boundary that failed) may end the dialogue.
    if abusive:
        branches = _split(
            branches,
            lambda s: p.abuse_ends_dialogue if s["abuse"] == Abuse.abusive else 0.0,
            lambda s: s.update(status=Outcome.ended_after_abuse),
        )

    # C10: patience runs out on turns without progress; a furious customer may walk out.
    if on["C10"]:
        for b in branches:
            s = b.state
            if s["status"] != Outcome.ongoing:
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

    Tone is a noisy sign of anger (C8: a naturally difficult customer sounds angrier
    than they are, ``tone_up``); it is one step off with chance ``tone_up`` /
    ``tone_down``, clipped to the scale.
    """
    base = ANGER_TO_TONE[state.anger]
    dist = [0.0, 0.0, 0.0, 0.0]
    dist[min(base + 1, 3)] += persona.tone_up
    dist[max(base - 1, 0)] += persona.tone_down
    dist[base] += 1.0 - persona.tone_up - persona.tone_down
    return dist
