"""Switch ids: claims (C1-C10), assumptions (A1-A17) and a contested reading (D1).

``ablate=[...]`` takes any of them (``compile_model``, ``gym.make``, ``PolicyContext``).
This module names the switches and says what "off" means; the parameters a switch
acts on, and the sentences or reasons behind them, are on the fields themselves
(:mod:`~difficult_customer.customer_models.personas`).

Why one mechanism for claims and assumptions: every layer of the project already passes
``ablate`` down to :func:`~difficult_customer.customer_models.compile_model`, so an
assumption switch works in environments, policies, the benchmark and the report with no
new argument; and "switch off claim C6" and "switch off assumption A9" are the same
operation (parameters to their off values), at two grains. Switching a claim off also
switches off the assumptions and contested readings that belong to it.

Variants (:data:`VARIANTS`): ``"default"`` (everything on) and ``"guide_only"`` (every
assumption off: only what the guides say or what we read from them). Use
``compile_model(..., variant="guide_only")``; the persona name ``"guide_only"`` is shorthand
for the default mixture under ``variant="guide_only"`` and works wherever a persona name does.
"""

from __future__ import annotations

from collections.abc import Iterable

from difficult_customer.customer_models.provenance import Switch

CLAIM_SWITCHES: tuple[Switch, ...] = (
    Switch("C1", "claim", "Listening makes the customer feel heard and calms them",
           "listen does nothing; the customer can still come to feel heard through empathy (C2, guide 001). With C2 "
           "off too nobody feels heard (the guides name no third way), so C3's factor for an unheard customer "
           "always applies"),
    Switch("C2", "claim", "Empathy calms and builds trust (it must be genuine)",
           "empathize does nothing (no calm, no trust, no heard, no patronizing), and trust no longer helps an "
           "offer"),
    Switch("C3", "claim", "Feelings first, then the problem",
           "acceptance of an offer no longer depends on anger or on feeling heard (it is the mean of "
           "offer_accept over anger levels), and a rejection no longer escalates (A2)"),
    Switch("C4", "claim", "Apologize, with words that sound sincere",
           "apologize changes neither anger nor trust; no fatigue, irritation or apology-before-offer (A3-A6)"),
    Switch("C5", "claim", "Offered remedies resolve the problem and ease frustration",
           "an accepted offer still solves the problem (the model has no other way), but no longer calms"),
    Switch("C6", "claim", "Belligerence can be answered with a firm limit",
           "set_boundary does nothing; abuse, where it arises, blocks nothing and never ends the dialogue "
           "(A7-A10 off)"),
    Switch("C7", "claim", "Follow up after the problem is resolved",
           "a follow-up after a solution ends the conversation like any other move (no trust, no followed_up)"),
    Switch("C8", "claim", "Two kinds of difficult customer",
           "every persona reacts with the shared parameters (A5, A6, A12, A13 off); a persona keeps only what "
           "defines it (the belligerent customer opens abusive)"),
    Switch("C9", "claim", "Reacting emotionally, arguing or contradicting escalates",
           "an anger rise neither costs trust (A11) nor may turn into abuse; no move of the model is an argument"),
    Switch("C10", "claim", "Patience runs out (an assumption: no guide says it)",
           "patience never drains and nobody walks out (A15, A16 off); the turn limit ends the conversation"),
)

ASSUMPTION_SWITCHES: tuple[Switch, ...] = (
    Switch("A1", "assumption", "Empathy before the customer feels heard is taken as patronizing",
           "empathy before heard never raises anger", "C2"),
    Switch("A2", "assumption", "A turned-down offer raises anger", "a rejection leaves anger as it was", "C3"),
    Switch("A3", "assumption", "Repeated apologies wear out",
           "every apology keeps the first one's relief and trust (apology_fatigue = 1)", "C4"),
    Switch("A4", "assumption", "An apology after two or more irritates", "no apology irritates", "C4"),
    Switch("A5", "assumption", "A naturally difficult customer is irritated even by a first apology",
           "a first or second apology irritates nobody", "C8"),
    Switch("A6", "assumption", "A genuine grievance wants an apology before an offer",
           "an offer before any apology is accepted as often as after one", "C8"),
    Switch("A7", "assumption", "A boundary on a customer who is not abusive raises anger",
           "a boundary on a non-abusive customer changes nothing", "C6"),
    Switch("A8", "assumption", "While abusive, nothing calms and every offer fails (sides with guide 000 against "
           "004's 'ignore it')", "abuse blocks nothing: ignored abuse does no harm (guide 004's side)", "C6"),
    Switch("A9", "assumption", "The customer ends the dialogue with a chance per abusive turn",
           "ignored abuse never ends the dialogue (a failed boundary still may: the agent's warning, C6)", "C6"),
    Switch("A10", "assumption", "An angry customer may turn abusive at any turn",
           "abuse arises only at the start or from an escalation (C9)", "C6"),
    Switch("A11", "assumption", "An anger rise caused by the agent costs trust", "anger rises cost no trust", "C9"),
    Switch("A12", "assumption", "The two kinds (and the belligerent customer) react differently to the same move",
           "every persona takes the shared value of every reaction and starting parameter, except what defines "
           "it", "C8"),
    Switch("A13", "assumption", "A naturally difficult customer opens abusive a quarter of the time",
           "only the belligerent customer opens abusive", "C8"),
    Switch("A14", "assumption", "Tone is a noisy sign of anger",
           "neutral setting: tone shows anger plainly (tone_up = tone_down = 0)"),
    Switch("A15", "assumption", "Patience drains on turns without progress",
           "neutral setting: patience never drains; the environment's turn limit keeps the conversation finite",
           "C10"),
    Switch("A16", "assumption", "A furious customer may walk out at any turn", "no furious walk-out", "C10"),
    Switch("A17", "assumption", "The population: how often each persona comes to the desk",
           "neutral setting: every persona of the mixture equally often"),
)

CONTESTED_SWITCHES: tuple[Switch, ...] = (
    Switch("D1", "contested", "Listen before empathizing: empathy works less before the customer feels heard "
           "(001, 003, 004 against 002, 000)",
           "the other side (002, 000): empathy works as well before the customer feels heard", "C2"),
)

SWITCHES: dict[str, Switch] = {s.id: s for s in (*CLAIM_SWITCHES, *ASSUMPTION_SWITCHES, *CONTESTED_SWITCHES)}
"""Every switch by id."""

ASSUMPTIONS: tuple[str, ...] = tuple(s.id for s in ASSUMPTION_SWITCHES)
"""Assumption ids A1-A17."""

CONTESTED: tuple[str, ...] = tuple(s.id for s in CONTESTED_SWITCHES)

SWITCH_IDS: tuple[str, ...] = tuple(SWITCHES)
"""Every id ``ablate`` accepts."""

VARIANTS: dict[str, frozenset[str]] = {
    "default": frozenset(),
    "guide_only": frozenset(ASSUMPTIONS),
}
"""Named sets of switches turned off: ``"guide_only"`` keeps only what the guides say or what we read from them.

The one list of variants: code that names or loops over variants imports this (or :data:`VARIANT_NAMES`)."""

VARIANT_NAMES: tuple[str, ...] = tuple(VARIANTS)
"""The variant names, ``("default", "guide_only")``."""


def check_switches(ablate: Iterable[str] | str | None) -> frozenset[str]:
    """Validate switch ids (claims, assumptions, contested readings).

    Raises:
        ValueError: naming an unknown id and listing the allowed ones.
    """
    if ablate is None:
        return frozenset()
    if isinstance(ablate, str):
        ablate = [ablate]
    out = set()
    for item in ablate:
        if item not in SWITCHES:
            raise ValueError(f"unknown switch id {item!r} in ablate; allowed: {', '.join(SWITCH_IDS)}")
        out.add(item)
    return frozenset(out)


def check_variant(variant: str | None) -> frozenset[str]:
    """The switches a variant turns off.

    Raises:
        ValueError: naming an unknown variant and listing the allowed ones.
    """
    if variant is None:
        return frozenset()
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; allowed: {', '.join(VARIANTS)}")
    return VARIANTS[variant]


def closure(off: frozenset[str]) -> frozenset[str]:
    """``off`` plus every assumption or contested reading whose claim is off."""
    return frozenset(off | {s.id for s in SWITCHES.values() if s.claim is not None and s.claim in off})


__all__ = [
    "ASSUMPTIONS",
    "ASSUMPTION_SWITCHES",
    "CLAIM_SWITCHES",
    "CONTESTED",
    "CONTESTED_SWITCHES",
    "SWITCHES",
    "SWITCH_IDS",
    "VARIANTS",
    "VARIANT_NAMES",
    "check_switches",
    "check_variant",
    "closure",
]
