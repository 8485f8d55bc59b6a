"""Personas: the customer's reactions as readable, named parameters.

A :class:`Persona` holds only free parameters. Each field's docstring names the claim
(C1-C10, see ``docs/claims.md``) it models and its allowed range. Probabilities are in
[0, 1]; a persona is validated when it is built, so a bad value fails at once with its
name and range. Compilation (``difficult_customer.customer_models.compile``) turns personas into tables.

The built-in personas follow guide 004 ("Dealing with the Difficult"): a customer with
a *genuine grievance* and a *naturally difficult* one (C8), plus a *belligerent*
customer who is abusive from the start (C6, guides 000 and 002) and a *reasonable*
customer with an obvious optimum, kept for checking solvers and learners.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields, replace

import numpy as np

from difficult_customer.customer_models.vocabulary import Anger


@dataclass(frozen=True)
class Persona:
    """One kind of difficult customer. Frozen: ``dataclasses.replace`` makes variants."""

    name: str
    """Registry name, e.g. ``"genuine_grievance"``."""
    description: str = ""
    """One sentence for docs and transcripts."""

    # --- starting state -------------------------------------------------------
    initial_anger: tuple[float, ...] = (0.0, 0.0, 0.3, 0.5, 0.2)
    """C8: distribution over the five anger levels (calm ... furious) at the first turn; sums to 1."""
    initial_trust: int = 1
    """C8: trust level 0-3 at the first turn (a naturally difficult customer starts with none)."""
    initial_abusive: float = 0.0
    """C6: chance in [0, 1] that the customer is abusive from the first turn."""
    patience: int = 4
    """C10: turns without progress (1-4) before the customer walks away; progress does not refill it."""

    # --- C1 listen ---------------------------------------------------------------
    listen_heard: float = 0.8
    """C1: chance in [0, 1] that a listen makes the customer feel heard."""
    listen_calm: float = 0.5
    """C1: chance in [0, 1] that a listen lowers anger one level while not yet heard."""
    listen_calm_heard: float = 0.1
    """C1: the same once the customer already feels heard (more listening adds little)."""

    # --- C2 empathize --------------------------------------------------------------
    empathy_calm: float = 0.5
    """C2: chance in [0, 1] that empathy lowers anger one level once the customer feels heard."""
    empathy_trust: float = 0.6
    """C2: chance in [0, 1] that empathy raises trust one level once the customer feels heard."""
    empathy_patronizing: float = 0.5
    """C2: chance in [0, 1] that empathy before the customer feels heard raises anger one level."""

    # --- C4 apologize --------------------------------------------------------------
    apology_relief: float = 0.7
    """C4/C8: chance in [0, 1] that a first apology lowers anger one level."""
    apology_fatigue: float = 0.3
    """C4: share in [0, 1] of the relief chance that each further apology keeps."""
    apology_trust: float = 0.5
    """C4/C8: chance in [0, 1] that a first apology raises trust (scaled by fatigue like relief)."""
    apology_irritation: float = 0.4
    """C4: chance in [0, 1] that an apology after two or more raises anger ("overused")."""
    apology_irritation_first: float = 0.0
    """C4/C8: the same for the first two apologies: a customer who hears "sorry" all day."""

    # --- C3/C5 offer options ---------------------------------------------------------
    offer_accept: tuple[float, ...] = (0.95, 0.8, 0.55, 0.25, 0.05)
    """C3: base chance in [0, 1] that a heard customer accepts options, by anger level (before C5's gains)."""
    offer_unheard: float = 0.3
    """C3: factor in [0, 1] on acceptance while the customer does not feel heard."""
    offer_unapologized: float = 1.0
    """C4/C8: factor in [0, 1] on acceptance before any apology (a genuine grievance wants one first).

    Part of the C3 acceptance chance: gone when C3 is ablated (``offer_flat`` replaces it) or C4 is."""
    offer_flat: float = 0.6
    """C3 ablated: acceptance chance in [0, 1] when anger and feeling heard do not matter."""
    offer_choice: float = 0.25
    """C5: relative gain in [0, 1] of acceptance because the customer chooses among options."""
    offer_trust: float = 0.03
    """C5: acceptance chance in [0, 1] added per trust level once the customer feels heard."""
    offer_relief: float = 0.8
    """C5: chance in [0, 1] that an accepted choice lowers anger one level."""
    reject_escalation: float = 0.5
    """C3: chance in [0, 1] that a rejected offer raises anger one level."""

    # --- C6 boundaries and abuse -----------------------------------------------------
    boundary_stops_abuse: float = 0.85
    """C6: chance in [0, 1] that a boundary stops an abusive customer's abuse (and lowers anger one level)."""
    boundary_dismissive: float = 0.7
    """C6: chance in [0, 1] that a boundary raises a non-abusive customer's anger."""
    abuse_onset: float = 0.0
    """C6/C8: chance in [0, 1] per turn that an angry (>= angry) customer turns abusive."""
    abuse_ends_dialogue: float = 0.3
    """C6: chance in [0, 1] per turn that continued abuse ends the dialogue (ignored, or a boundary that failed)."""

    # --- C7 follow up -------------------------------------------------------------
    follow_up_trust: float = 0.8
    """C7: chance in [0, 1] that a follow-up after a solution raises trust one level."""

    # --- C9 escalation ----------------------------------------------------------
    escalation_abuse: float = 0.0
    """C9: extra chance in [0, 1] of turning abusive on a turn the agent's move raised anger."""
    escalation_trust: float = 0.5
    """C9: chance in [0, 1] that a move which raised anger also costs a trust level."""

    # --- C10 patience --------------------------------------------------------------
    furious_walkout: float = 0.15
    """C10: chance in [0, 1] per turn that a furious customer walks away."""

    # --- tone (C8: how reliably tone shows anger) -------------------------------------
    tone_up: float = 0.1
    """C8: chance in [0, 1] that the customer sounds one step angrier than they are."""
    tone_down: float = 0.1
    """C8: chance in [0, 1] that the customer sounds one step calmer than they are."""

    def __post_init__(self) -> None:
        validate_persona(self)


def _probability_fields() -> tuple[str, ...]:
    skip = {"name", "description", "initial_anger", "initial_trust", "patience", "offer_accept"}
    return tuple(f.name for f in fields(Persona) if f.name not in skip)


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
    if len(p.initial_anger) != len(Anger):
        raise ValueError(
            f"persona {p.name!r}: initial_anger has {len(p.initial_anger)} entries; "
            f"allowed is one per anger level ({len(Anger)})"
        )
    for level, value in enumerate(p.initial_anger):
        _check_probability(p.name, f"initial_anger[{level}]", value)
    if abs(sum(p.initial_anger) - 1.0) > 1e-9:
        raise ValueError(
            f"persona {p.name!r}: initial_anger={p.initial_anger!r} sums to "
            f"{sum(p.initial_anger):.6g}; allowed is a distribution summing to 1"
        )
    if len(p.offer_accept) != len(Anger):
        raise ValueError(
            f"persona {p.name!r}: offer_accept has {len(p.offer_accept)} entries; "
            f"allowed is one per anger level ({len(Anger)})"
        )
    for level, value in enumerate(p.offer_accept):
        _check_probability(p.name, f"offer_accept[{level}]", value)
    if p.tone_up + p.tone_down > 1.0:
        raise ValueError(
            f"persona {p.name!r}: tone_up + tone_down = {p.tone_up + p.tone_down:.6g}; allowed is at most 1"
        )
    if not _is_integer(p.initial_trust) or p.initial_trust not in range(4):
        raise ValueError(f"persona {p.name!r}: initial_trust={p.initial_trust!r}; allowed is 0, 1, 2 or 3")
    if not _is_integer(p.patience) or p.patience not in range(1, 5):
        raise ValueError(f"persona {p.name!r}: patience={p.patience!r}; allowed is 1, 2, 3 or 4")


PROBABILITY_FIELDS: tuple[str, ...] = _probability_fields()
"""Names of the scalar probability fields of :class:`Persona`."""

GENUINE_GRIEVANCE = Persona(
    name="genuine_grievance",
    description="Was let down by the service; wants a sincere apology, then a choice of solutions.",
    initial_anger=(0.0, 0.0, 0.3, 0.5, 0.2),
    initial_trust=1,
    patience=4,
    offer_unapologized=0.5,
)

NATURALLY_DIFFICULT = Persona(
    name="naturally_difficult",
    description="Difficult by nature; barely moved by apologies, needs to feel heard, may turn abusive.",
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
    offer_accept=(0.9, 0.75, 0.45, 0.15, 0.05),
    offer_unheard=0.2,
    abuse_onset=0.2,
    escalation_abuse=0.3,
    tone_up=0.4,
    tone_down=0.05,
)

BELLIGERENT = Persona(
    name="belligerent",
    description="Abusive from the first turn; the abuse stops only when the agent sets a boundary.",
    initial_anger=(0.0, 0.0, 0.0, 0.5, 0.5),
    initial_trust=0,
    initial_abusive=1.0,
    patience=4,
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
    initial_anger=(0.0, 1.0, 0.0, 0.0, 0.0),
    initial_trust=2,
    patience=4,
    listen_heard=1.0,
    offer_unheard=1.0,
    offer_accept=(1.0, 1.0, 0.8, 0.5, 0.2),
    tone_up=0.0,
    tone_down=0.0,
)

PERSONAS: dict[str, Persona] = {
    p.name: p for p in (GENUINE_GRIEVANCE, NATURALLY_DIFFICULT, BELLIGERENT, REASONABLE)
}
"""Built-in personas by name."""


@dataclass(frozen=True)
class Mixture:
    """A population of personas; one is drawn at reset and never shown to the agent (C8).

    A single persona is a mixture of one. The persona factor of the hidden state indexes
    ``personas``.
    """

    name: str
    personas: tuple[Persona, ...]
    weights: tuple[float, ...]
    """Chance of drawing each persona at reset; must sum to 1."""

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

    @property
    def persona_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.personas)


DEFAULT_MIXTURE = Mixture(
    name="mixture",
    personas=(GENUINE_GRIEVANCE, NATURALLY_DIFFICULT, BELLIGERENT),
    weights=(0.45, 0.35, 0.2),
)
"""The default population: the three difficult personas (the reasonable one left out)."""

MIXTURES: dict[str, Mixture] = {DEFAULT_MIXTURE.name: DEFAULT_MIXTURE}

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
    "MIXTURES",
    "NATURALLY_DIFFICULT",
    "PERSONAS",
    "PERSONA_NAMES",
    "PROBABILITY_FIELDS",
    "REASONABLE",
    "Mixture",
    "Persona",
    "replace",
    "resolve_persona",
]
