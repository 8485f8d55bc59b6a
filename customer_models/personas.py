"""Personas: the customer's reactions as named parameters, each carrying its support.

A :class:`Persona` holds only free parameters. Every parameter is declared with
:func:`~difficult_customer.customer_models.provenance.parameter`, so its metadata says
what it models, on which guide sentences it rests (``quoted``), how we read them
(``reading``) or why the model assumes it (``assumption``), the claim and switch that
turn it off, its value when off, and its plausible range. ``docs/claims.md`` is
rendered from these records (:func:`~difficult_customer.experiments.library.faithfulness.render_claims_doc`).

The shared (default) value of a field is what every persona has unless it differs; a
persona's differences from the shared values are our assumptions (guide 004 gives one
treatment for both kinds: "Regardless of which flavor ..."), switched off together by
``A12`` (or by the field's own switch, ``differs_by``). What *defines* a persona (the
belligerent customer opens abusive) is listed in :attr:`Persona.defining` and kept.

Probabilities are in [0, 1]; a persona is validated when it is built, so a bad value
fails at once with its name and range.
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field, fields, replace

import numpy as np

from difficult_customer.customer_models.provenance import (
    G000,
    G001,
    G002,
    G003,
    G004,
    ParamInfo,
    Support,
    param_info,
    parameter,
    q,
)
from difficult_customer.customer_models.switches import VARIANTS, check_switches
from difficult_customer.customer_models.vocabulary import MAX_PATIENCE, Anger

# --- sentences cited by several parameters -----------------------------------------------
_FEELINGS_FIRST = q(
    G004,
    "Regardless of which flavor you are dealing with, the most important thing to realize when dealing with an "
    "upset customer, is to deal with their feelings first then you can deal with their problem.",
)
_TWO_KINDS = q(
    G004,
    "There are those that are naturally difficult, and there are those that have not been properly serviced and "
    "have a genuine grievance.",
)
_BELLIGERENCE = q(
    G000,
    "Additionally, if a conversation escalates into belligerence, it is acceptable to inform the customer that "
    "continued disrespect will result in the termination of the dialogue.",
)
_DISARMS = q(G000, "This approach disarms aggressive behavior while protecting your well-being.")
_IGNORE_ABUSE = q(G004, "You may be on the receiving end of some verbal abuse, be ready for it and ignore it.")
_UPSET = q(
    G004,
    "Upset customers are emotionally charged when you, your product or service lets them down and they’ll "
    "probably want to “dump” these feelings on you.",
)
_BUILDS_TRUST = q(G000, "It builds trust and encourages cooperation from the customer.")
_FORGIVE = q(
    G004,
    "If you focus on human responses and show your customers that you genuinely care, they will be more likely to "
    "forgive your mistakes and accept what you say.",
)
_APOLOGIZE = q(G004, "Look the customer in the eye and say, “I apologize” rather than “I’m sorry”.")
_OVERUSED = q(G004, "It’s overused and they hear it too often.")
_ESCALATE_002 = q(G002, "Responding with anger or defensiveness will only escalate the situation.")

_OFFER_ACCEPT = (1.0, 1.0, 0.69, 0.31, 0.06)


def _mean_acceptance(p: Persona) -> tuple[float, ...]:
    """C3 off: acceptance that does not depend on anger (the mean over anger levels)."""
    mean = float(np.mean(p.offer_accept))
    return (mean,) * len(p.offer_accept)


@dataclass(frozen=True)
class Persona:
    """One kind of difficult customer. Frozen: ``dataclasses.replace`` makes variants."""

    name: str
    """Registry name, e.g. ``"genuine_grievance"``."""
    description: str = ""
    """One sentence for docs and transcripts."""
    support: Support | None = None
    """Why the persona exists (a guide's kind, our reading, or a check persona)."""
    defining: tuple[str, ...] = ()
    """Fields whose value defines the persona: kept when persona differences are switched off."""

    # --- starting state -------------------------------------------------------------------
    initial_anger: tuple[float, ...] = parameter(
        (0.0, 0.0, 0.3, 0.5, 0.2),
        Support("reading", "customers come to the desk upset to furious", (_UPSET,),
                why="004 says upset customers are emotionally charged; the distribution over anger levels "
                    "(calm ... furious) is ours"),
        off=None, low=(0.0, 0.0, 0.0, 0.3, 0.1), high=(0.0, 0.0, 0.5, 0.6, 0.5),
    )
    initial_trust: int = parameter(
        1,
        Support("reading", "a let-down customer starts with low trust (level 0-3)", (_UPSET,),
                why="a customer let down by 'you, your product or service' does not trust the agent much; the "
                    "level is ours"),
        off=None, low=0, high=2, integer=True,
    )
    initial_abusive: float = parameter(
        0.0,
        Support("reading", "some customers are abusive from the start", (_IGNORE_ABUSE, _BELLIGERENCE),
                why="004 expects verbal abuse and 000 speaks of belligerence; which customers open abusive is "
                    "the persona's (the belligerent one by definition, A13 for the naturally difficult)"),
        off=None, low=0.0, high=0.5, differs_by="A13",
    )
    patience: int = parameter(
        4,
        Support("assumption", f"turns without progress (1-{MAX_PATIENCE}) before the customer walks away",
                why="no guide says a customer leaves; a customer who never leaves makes stalling free (the "
                    "turn limit alone ends the conversation)"),
        claims="C10", switch="A15", off=MAX_PATIENCE, low=2, high=MAX_PATIENCE, integer=True,
    )

    # --- C1 listen ------------------------------------------------------------------------
    listen_heard: float = parameter(
        0.8,
        Support("quoted", "a listen makes the customer feel heard", (
            q(G000, "This helps customers feel heard while you remain calm and collected."),
            q(G003, "Allow them to express themselves without interrupting, and make them feel heard and "
                    "understood."),
        )),
        claims="C1", off=0.0, low=0.5, high=1.0,
    )
    listen_calm: float = parameter(
        0.5,
        Support("quoted", "a listen lowers anger one level while the customer is not yet heard", (
            q(G000, "Start your conversation by actively listening and showing genuine concern."),
            q(G000, "This can help to calm their initial emotional response."),
        )),
        claims="C1", off=0.0, low=0.2, high=0.7,
    )
    listen_calm_heard: float = parameter(
        0.1,
        Support("reading", "once heard, more listening calms little",
                (q(G000, "This can help to calm their initial emotional response."),),
                why="listening calms the *initial* emotional response; after the customer feels heard we let it "
                    "calm less"),
        claims="C1", off=0.0, low=0.0, high=0.3,
    )

    # --- C2 empathize ---------------------------------------------------------------------
    empathy_calm: float = parameter(
        0.5,
        Support("quoted", "empathy lowers anger one level", (
            q(G003, "This simple act of empathy can go a long way in calming the customer down and diffusing the "
                    "situation."),
        )),
        claims="C2", off=0.0, low=0.3, high=0.7,
    )
    empathy_trust: float = parameter(
        0.6,
        Support("quoted", "empathy raises trust one level", (
            q(G000, "Demonstrating empathy creates a human connection, making it easier to navigate through the "
                    "situation."),
            _BUILDS_TRUST,
        )),
        claims="C2", off=0.0, low=0.3, high=0.8,
    )
    empathy_heard: float = parameter(
        0.3,
        Support("quoted", "empathy can make the customer feel heard", (
            q(G001, "This doesn’t mean you have to agree with them, but showing empathy can go a long way in "
                    "calming them down and making them feel heard."),
        )),
        claims="C2", off=0.0, low=0.1, high=0.6,
    )
    empathy_unheard: float = parameter(
        0.5,
        Support("reading", "empathy before the customer feels heard works less (factor on its calm and trust)", (
            q(G003, "Once the customer has expressed their concerns, validate their feelings by showing empathy "
                    "and understanding their perspective."),
            q(G001, "Once you have listened to the customer’s concerns and shown empathy, it’s time to offer a "
                    "solution."),
        ), why="contested: 003 and 001 (and 004's order) listen before they empathize, which we read as "
               "empathy working better once the customer has been heard; 002 and 000 start with empathy "
               "(switch D1 takes their side: factor 1)",
            against=(
                q(G002, "Start by empathizing with the client's situation."),
                q(G000, "Handling difficult customers begins with understanding and empathizing with their "
                        "emotions."),
            )),
        claims="C2", switch="D1", off=1.0, low=0.3, high=1.0,
    )
    empathy_patronizing: float = parameter(
        0.5,
        Support("assumption", "empathy before the customer feels heard raises anger one level (patronizing)",
                (q(G004, "Be genuine about it otherwise your customers will think you are being patronizing."),),
                why="004 ties 'patronizing' to insincere empathy, not to its timing; tying it to timing is ours, "
                    "and makes the order of listening and empathy matter beyond D1"),
        claims="C2", switch="A1", off=0.0, low=0.0, high=0.7,
    )
    offer_trust: float = parameter(
        0.03,
        Support("reading", "each trust level adds to the chance an offer is accepted", (_BUILDS_TRUST, _FORGIVE),
                why="trust 'encourages cooperation' and customers who see you care 'accept what you say'; we read "
                    "cooperation as accepting an offer"),
        claims="C2", off=0.0, low=0.0, high=0.06,
    )

    # --- C3 feelings first ------------------------------------------------------------------
    offer_accept: tuple[float, ...] = parameter(
        _OFFER_ACCEPT,
        Support("reading", "an angry customer likely turns an offer down (acceptance by anger level)",
                (_FEELINGS_FIRST,),
                why="feelings first, then the problem: we read it as an offer to a customer still angry being "
                    "likely turned down; the numbers are ours"),
        claims="C3", off=_mean_acceptance, low=(0.8, 0.7, 0.4, 0.1, 0.0), high=(1.0, 1.0, 0.8, 0.5, 0.2),
    )
    offer_unheard: float = parameter(
        0.3,
        Support("reading", "factor on acceptance while the customer does not feel heard", (
            q(G001, "Once you have listened to the customer’s concerns and shown empathy, it’s time to offer a "
                    "solution."),
            _FEELINGS_FIRST,
        ), why="the offer comes once the customer has been listened to; we read it as an unheard customer being "
               "less likely to accept"),
        claims="C3", off=1.0, low=0.1, high=0.6,
    )
    reject_escalation: float = parameter(
        0.5,
        Support("assumption", "a rejected offer raises anger one level",
                why="no guide says what a turned-down offer does; without it an early offer costs only a turn"),
        claims="C3", switch="A2", off=0.0, low=0.0, high=0.6,
    )

    # --- C4 apologize ---------------------------------------------------------------------
    apology_relief: float = parameter(
        0.7,
        Support("reading", "a first apology lowers anger one level", (
            _APOLOGIZE,
            q(G004, "Here are six ways to deal with the customers’ human needs:"),
        ), why="004 lists the apology among its ways to deal with the customer's feelings; we read it as calming"),
        claims="C4", off=0.0, low=0.1, high=0.9,
    )
    apology_trust: float = parameter(
        0.5,
        Support("reading", "a first apology raises trust one level", (_APOLOGIZE, _FORGIVE),
                why="a customer who sees you care is more likely to forgive; we read forgiveness as trust"),
        claims="C4", off=0.0, low=0.0, high=0.7,
    )
    apology_fatigue: float = parameter(
        0.3,
        Support("assumption", "share of the relief and trust chance that each further apology keeps", (_OVERUSED,),
                why="'overused' is about the phrase \"I'm sorry\", not about apologizing often; that repeated "
                    "apologies wear out is ours"),
        claims="C4", switch="A3", off=1.0, low=0.1, high=1.0,
    )
    apology_irritation: float = parameter(
        0.4,
        Support("assumption", "an apology after two or more raises anger", (_OVERUSED,),
                why="no guide says repeated apologies irritate; without it apologizing never hurts"),
        claims="C4", switch="A4", off=0.0, low=0.0, high=0.6,
    )
    apology_irritation_first: float = parameter(
        0.0,
        Support("assumption", "a first or second apology raises anger (a customer who hears 'sorry' all day)",
                (_TWO_KINDS,),
                why="004 names two kinds but gives one treatment; that the naturally difficult customer takes "
                    "a first apology badly is ours, so that the hidden kind matters"),
        claims=("C4", "C8"), switch="A5", off=0.0, low=0.0, high=0.6, differs_by="A5",
    )
    offer_unapologized: float = parameter(
        1.0,
        Support("assumption", "factor on acceptance before any apology (a genuine grievance wants one first)",
                (_TWO_KINDS,),
                why="no guide says a genuine grievance refuses an offer before an apology; ours, so that the "
                    "hidden kind matters"),
        claims=("C4", "C8"), switch="A6", off=1.0, low=0.3, high=1.0, differs_by="A6",
    )

    # --- C5 remedies ------------------------------------------------------------------------
    offer_relief: float = parameter(
        0.8,
        Support("quoted", "an accepted choice of remedies lowers anger one level", (
            q(G000, "By giving customers control, you reduce feelings of frustration, making them partners in "
                    "solving the problem."),
        )),
        claims="C5", off=0.0, low=0.5, high=1.0,
    )

    # --- C6 boundaries and abuse ------------------------------------------------------------------
    boundary_stops_abuse: float = parameter(
        0.85,
        Support("quoted", "a boundary stops an abusive customer's abuse (and lowers anger one level)",
                (_DISARMS,)),
        claims="C6", off=0.0, low=0.5, high=1.0,
    )
    warning_enforced: float = parameter(
        1.0,
        Support("reading", "a boundary that fails (the abuse goes on right after the warning) ends the dialogue",
                (_BELLIGERENCE,),
                why="000's boundary is a warning that continued disrespect ends the dialogue; we read the abuse "
                    "going on after the warning as the dialogue ending, by the agent"),
        claims="C6", off=0.0, low=0.5, high=1.0,
    )
    boundary_dismissive: float = parameter(
        0.7,
        Support("assumption", "a boundary on a customer who is not abusive raises anger", (
            q(G000, "For example, if a request falls outside company policy, it’s best to explain that policy "
                    "without being dismissive."),
        ), why="no guide says so (000 says limits need not be dismissive); without it a boundary out of place "
               "costs only a turn"),
        claims="C6", switch="A7", off=0.0, low=0.0, high=0.7,
    )
    abuse_blocks: float = parameter(
        1.0,
        Support("assumption", "while abusive, nothing calms and offers fail (share of calm and acceptance blocked)",
                (_DISARMS,),
                why="no guide says it; it is what makes answering abuse (000) pay. Contested: 004 would ignore "
                    "abuse, which switch A8 gives",
                against=(_IGNORE_ABUSE,)),
        claims="C6", switch="A8", off=0.0, low=0.5, high=1.0,
    )
    abuse_ends_dialogue: float = parameter(
        0.3,
        Support("assumption", "per turn of continued abuse, the customer ends the dialogue", (_BELLIGERENCE,),
                why="in 000 it is the agent who warns that disrespect will end the dialogue; that the customer "
                    "ends it is ours"),
        claims="C6", switch="A9", off=0.0, low=0.0, high=0.5,
    )
    abuse_onset: float = parameter(
        0.0,
        Support("assumption", "per turn, a customer at anger >= angry turns abusive",
                why="no guide says when abuse starts, beyond escalation (C9); the naturally difficult customer's "
                    "chance is ours"),
        claims="C6", switch="A10", off=0.0, low=0.0, high=0.3,
    )

    # --- C7 follow up --------------------------------------------------------------------------
    follow_up_trust: float = parameter(
        0.8,
        Support("quoted", "a follow-up after a solution raises trust one level", (
            q(G000, "Send a follow-up email or make a brief phone call to confirm their satisfaction with the "
                    "resolution."),
            q(G000, "This proactive approach can lead to long-lasting customer relationships, enhancing loyalty "
                    "and trust."),
        )),
        claims="C7", off=0.0, low=0.5, high=1.0,
    )

    # --- C9 escalation -------------------------------------------------------------------------------
    escalation_abuse: float = parameter(
        0.1,
        Support("reading", "on a turn the agent's move raised anger, the customer may turn abusive",
                (_BELLIGERENCE, _ESCALATE_002),
                why="000 speaks of a conversation that 'escalates into belligerence'; we read an anger rise as "
                    "the escalation"),
        claims="C9", off=0.0, low=0.0, high=0.4,
    )
    escalation_trust: float = parameter(
        0.5,
        Support("assumption", "a move that raised anger also costs a trust level", (_ESCALATE_002,),
                why="the guides say escalation makes things worse, not how; no move of the model is an argument, "
                    "so the cost of an anger rise in trust is ours"),
        claims="C9", switch="A11", off=0.0, low=0.0, high=0.6,
    )

    # --- C10 patience ------------------------------------------------------------------------------
    furious_walkout: float = parameter(
        0.15,
        Support("assumption", "per turn, a furious customer walks away",
                why="no guide says it; a furious customer who never leaves makes fury cost only what it blocks"),
        claims="C10", switch="A16", off=0.0, low=0.0, high=0.3,
    )

    # --- tone: what the agent sees of anger ---------------------------------------------------------
    tone_up: float = parameter(
        0.1,
        Support("assumption", "the customer sounds one step angrier than they are",
                why="the guides say nothing of how well anger shows; noise makes the hidden state hidden"),
        switch="A14", off=0.0, low=0.0, high=0.4,
    )
    tone_down: float = parameter(
        0.1,
        Support("assumption", "the customer sounds one step calmer than they are",
                why="as tone_up"),
        switch="A14", off=0.0, low=0.0, high=0.2,
    )

    def __post_init__(self) -> None:
        validate_persona(self)


def model_fields() -> tuple:
    """The :class:`Persona` fields that are model parameters (they carry a :class:`ParamInfo`)."""
    return tuple(f for f in fields(Persona) if param_info(f) is not None)


def field_info(name: str) -> ParamInfo:
    """The :class:`ParamInfo` of a parameter by name.

    Raises:
        ValueError: for an unknown parameter, listing the known ones.
    """
    for f in model_fields():
        if f.name == name:
            info = param_info(f)
            assert info is not None
            return info
    raise ValueError(f"unknown persona parameter {name!r}; allowed: {', '.join(f.name for f in model_fields())}")


SHARED: dict[str, object] = {f.name: f.default for f in model_fields()}
"""The shared value of every parameter: what a persona has unless it differs."""


def _probability_fields() -> tuple[str, ...]:
    skip = {"initial_anger", "initial_trust", "patience", "offer_accept"}
    return tuple(f.name for f in model_fields() if f.name not in skip)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_integer(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _check_probability(persona_name: str, name: str, value: float) -> None:
    if not (_is_number(value) and 0.0 <= float(value) <= 1.0):
        raise ValueError(
            f"persona {persona_name!r}: {name}={value!r} is not a probability; allowed range is [0, 1]"
        )


def validate_persona(p: Persona) -> None:
    """Raise ``ValueError`` naming the first parameter outside its allowed range."""
    for name in _probability_fields():
        _check_probability(p.name, name, getattr(p, name))
    for name in ("initial_anger", "offer_accept"):  # one probability per anger level
        values = getattr(p, name)
        if len(values) != len(Anger):
            raise ValueError(f"persona {p.name!r}: {name} has {len(values)} entries; "
                             f"allowed is one per anger level ({len(Anger)})")
        for level, value in enumerate(values):
            _check_probability(p.name, f"{name}[{level}]", value)
    if abs(sum(p.initial_anger) - 1.0) > 1e-9:
        raise ValueError(
            f"persona {p.name!r}: initial_anger={p.initial_anger!r} sums to "
            f"{sum(p.initial_anger):.6g}; allowed is a distribution summing to 1"
        )
    if p.tone_up + p.tone_down > 1.0:
        raise ValueError(
            f"persona {p.name!r}: tone_up + tone_down = {p.tone_up + p.tone_down:.6g}; allowed is at most 1"
        )
    if not _is_integer(p.initial_trust) or p.initial_trust not in range(4):
        raise ValueError(f"persona {p.name!r}: initial_trust={p.initial_trust!r}; allowed is 0, 1, 2 or 3")
    if not _is_integer(p.patience) or p.patience not in range(1, MAX_PATIENCE + 1):
        allowed = ", ".join(str(level) for level in range(1, MAX_PATIENCE)) + f" or {MAX_PATIENCE}"
        raise ValueError(f"persona {p.name!r}: patience={p.patience!r}; allowed is {allowed}")
    known = {f.name for f in model_fields()}
    for name in p.defining:
        if name not in known:
            raise ValueError(f"persona {p.name!r}: defining field {name!r} is unknown; allowed: {', '.join(known)}")


PROBABILITY_FIELDS: tuple[str, ...] = _probability_fields()
"""Names of the scalar probability fields of :class:`Persona`."""

GENUINE_GRIEVANCE = Persona(
    name="genuine_grievance",
    description="Was let down by the service; wants a sincere apology, then a choice of solutions.",
    support=Support("quoted", "a customer with a genuine grievance", (_TWO_KINDS,)),
    offer_unapologized=0.5,
)

NATURALLY_DIFFICULT = Persona(
    name="naturally_difficult",
    description="Difficult by nature; barely moved by apologies, needs to feel heard, may turn abusive.",
    support=Support("quoted", "a naturally difficult customer", (_TWO_KINDS,)),
    initial_anger=(0.0, 0.0, 0.2, 0.5, 0.3),
    initial_trust=0,
    initial_abusive=0.25,
    patience=3,
    listen_heard=0.5,
    listen_calm=0.4,
    empathy_calm=0.45,
    empathy_trust=0.4,
    empathy_patronizing=0.7,
    apology_relief=0.15,
    apology_trust=0.05,
    apology_irritation=0.6,
    apology_irritation_first=0.5,
    offer_accept=(1.0, 0.94, 0.56, 0.19, 0.06),
    offer_unheard=0.2,
    abuse_onset=0.2,
    escalation_abuse=0.3,
    tone_up=0.4,
    tone_down=0.05,
)

BELLIGERENT = Persona(
    name="belligerent",
    description="Abusive from the first turn; the abuse stops only when the agent sets a boundary.",
    support=Support("reading", "a belligerent customer, abusive from the first turn", (_BELLIGERENCE, _IGNORE_ABUSE),
                    why="000 speaks of belligerence and 004 of verbal abuse; a customer abusive from the start is "
                        "the case both speak to"),
    defining=("initial_abusive",),
    initial_anger=(0.0, 0.0, 0.0, 0.5, 0.5),
    initial_trust=0,
    initial_abusive=1.0,
    listen_heard=0.6,
    apology_relief=0.3,
    apology_trust=0.1,
    empathy_patronizing=0.6,
    tone_up=0.3,
    tone_down=0.05,
)

REASONABLE = Persona(
    name="reasonable",
    description="Mildly annoyed and fair; the obvious optimum is to offer options, then follow up.",
    support=Support("assumption", "a reasonable customer, for checking solvers and learners",
                    why="not a guide's difficult customer; its optimum is obvious, which makes it a check"),
    defining=("initial_anger", "initial_trust", "listen_heard", "offer_unheard", "offer_accept", "escalation_abuse",
              "tone_up", "tone_down"),
    initial_anger=(0.0, 1.0, 0.0, 0.0, 0.0),
    initial_trust=2,
    listen_heard=1.0,
    offer_unheard=1.0,
    offer_accept=(1.0, 1.0, 1.0, 0.62, 0.25),
    escalation_abuse=0.0,
    tone_up=0.0,
    tone_down=0.0,
)

PERSONAS: dict[str, Persona] = {
    p.name: p for p in (GENUINE_GRIEVANCE, NATURALLY_DIFFICULT, BELLIGERENT, REASONABLE)
}
"""Built-in personas by name."""


def effective_persona(p: Persona, off: frozenset[str]) -> Persona:
    """The persona as the compiler uses it, with the switches ``off`` (already closed over claims).

    First a difference from the shared value goes back to the shared value when its
    ``differs_by`` switch is off (unless the field defines the persona); then every
    parameter whose claim or own switch is off takes its off value.
    """
    if not off:
        return p
    changes: dict[str, object] = {}
    for f in model_fields():
        info = param_info(f)
        assert info is not None
        value = getattr(p, f.name)
        if info.differs_by in off and f.name not in p.defining and value != f.default:
            value = f.default
        if info.switch in off or any(c in off for c in info.claims):
            value = info.off_value(replace(p, **changes) if changes else p)
        if value is not None and value != getattr(p, f.name):
            changes[f.name] = value
    return replace(p, **changes) if changes else p


WEIGHT_RANGES: dict[str, tuple[float, float]] = {
    "genuine_grievance": (0.1, 0.7),
    "naturally_difficult": (0.1, 0.7),
    "belligerent": (0.05, 0.5),
    "reasonable": (0.0, 0.3),
}
"""A17: plausible weight of each built-in persona before normalizing (the reasonable customer may be absent)."""


def _weights_field():
    return field(metadata={"param": ParamInfo(
        Support("assumption", "how often each persona comes to the desk",
                why="no guide says how common each kind is; a population is needed to score a policy that cannot "
                    "see the kind"),
        claims=(), switch="A17", off="equal", low=min(lo for lo, _ in WEIGHT_RANGES.values()),
        high=max(hi for _, hi in WEIGHT_RANGES.values()), differs_by=None,
    )})


@dataclass(frozen=True)
class Mixture:
    """A population of personas; one is drawn at reset and never shown to the agent (C8).

    A single persona is a mixture of one. The persona factor of the hidden state indexes
    ``personas``. ``ablate`` holds the switch ids the mixture always compiles with off
    (the ``"guide_only"`` mixture has every assumption off), added to ``compile_model``'s ``ablate``.
    """

    name: str
    personas: tuple[Persona, ...]
    weights: tuple[float, ...] = _weights_field()
    """Chance of drawing each persona at reset; must sum to 1 (A17: off means equal weights)."""
    ablate: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if len(self.personas) != len(self.weights) or not self.personas:
            raise ValueError(
                f"mixture {self.name!r}: {len(self.personas)} personas but {len(self.weights)} weights; "
                "allowed is one weight per persona, at least one persona"
            )
        for p, w in zip(self.personas, self.weights, strict=True):
            if not (_is_number(w) and 0.0 < float(w) <= 1.0):
                raise ValueError(
                    f"mixture {self.name!r}: weight of {p.name!r} is {w!r}; allowed is (0, 1] (leave a persona out "
                    "instead of giving it weight 0)"
                )
        total = sum(self.weights)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"mixture {self.name!r}: weights sum to {total:.6g}; allowed is 1")
        names = [p.name for p in self.personas]
        if len(set(names)) != len(names):
            raise ValueError(f"mixture {self.name!r}: persona names {names} repeat; allowed are distinct names")
        object.__setattr__(self, "ablate", check_switches(self.ablate))

    @property
    def switched_off(self) -> frozenset[str]:
        """Deprecated name of :attr:`ablate`."""
        warnings.warn("Mixture.switched_off is deprecated; use Mixture.ablate", DeprecationWarning, stacklevel=2)
        return self.ablate

    @property
    def persona_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.personas)

    def effective_weights(self, off: frozenset[str]) -> tuple[float, ...]:
        """The weights with the switches ``off``: equal weights when A17 is off."""
        if "A17" in off:
            return (1.0 / len(self.personas),) * len(self.personas)
        return self.weights


DEFAULT_MIXTURE = Mixture(
    name="mixture",
    personas=(GENUINE_GRIEVANCE, NATURALLY_DIFFICULT, BELLIGERENT),
    weights=(0.45, 0.35, 0.2),
)
"""The default population: the three difficult personas (the reasonable one left out)."""


GUIDE_ONLY_MIXTURE = replace(DEFAULT_MIXTURE, name="guide_only", ablate=VARIANTS["guide_only"])
"""The default mixture under ``variant="guide_only"`` (every assumption off): what ``persona="guide_only"`` names."""

MIXTURES: dict[str, Mixture] = {DEFAULT_MIXTURE.name: DEFAULT_MIXTURE, GUIDE_ONLY_MIXTURE.name: GUIDE_ONLY_MIXTURE}

PERSONA_NAMES: tuple[str, ...] = (*PERSONAS, *MIXTURES)
"""Every name ``persona=`` accepts."""


def resolve_persona(persona: str | Persona | Mixture) -> Mixture:
    """Turn a persona name or object into a :class:`Mixture` (a single persona has weight 1).

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if isinstance(persona, Mixture):
        return persona
    if isinstance(persona, Persona):
        return Mixture(name=persona.name, personas=(persona,), weights=(1.0,))
    if isinstance(persona, str) and persona in MIXTURES:
        return MIXTURES[persona]
    if isinstance(persona, str) and persona in PERSONAS:
        return Mixture(name=persona, personas=(PERSONAS[persona],), weights=(1.0,))
    raise ValueError(f"unknown persona {persona!r}; allowed: {', '.join(PERSONA_NAMES)}")


__all__ = [
    "BELLIGERENT",
    "DEFAULT_MIXTURE",
    "GENUINE_GRIEVANCE",
    "GUIDE_ONLY_MIXTURE",
    "MIXTURES",
    "NATURALLY_DIFFICULT",
    "PERSONAS",
    "PERSONA_NAMES",
    "PROBABILITY_FIELDS",
    "REASONABLE",
    "SHARED",
    "WEIGHT_RANGES",
    "Mixture",
    "Persona",
    "effective_persona",
    "field_info",
    "model_fields",
    "replace",
    "resolve_persona",
]
