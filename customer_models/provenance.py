"""Where every effect of the customer model comes from: a guide's sentence, our reading, or our assumption.

Each parameter of :class:`~difficult_customer.customer_models.personas.Persona` (and the
mixture weights of :class:`~difficult_customer.customer_models.personas.Mixture`) is
declared with :func:`parameter`, which keeps its :class:`Support` *next to the field*, as
``dataclasses.field(metadata=...)``. Nothing here is a second list of effects that could
drift from the code: the docs (``docs/claims.md``) and the report render these records,
and a test checks every quote against the guide texts the project ships in
``docs/guides/``.

Three kinds of support (``docs/claims.md``):

- ``quoted``: a guide says it; :attr:`Support.quotes` gives the file name and one
  sentence, verbatim.
- ``reading``: our interpretation of quoted sentences; :attr:`Support.why` says why we
  read them so.
- ``assumption``: no guide says it; :attr:`Support.why` says why the model needs it, the
  parameter's range is plausible values, and a switch (``A1`` ...) turns it off.

Switches. One mechanism serves claims and assumptions: ``ablate=[...]`` takes claim ids
(``C1``-``C10``: switch off everything a claim stands for), assumption ids (``A1``...:
switch off one assumption) and the id of a contested reading (``D1``: take the other
side of a disagreement between guides). Every layer that already threads ``ablate``
(``gym.make``, the vector env, ``PolicyContext``, the commands) threads assumptions
with no change. Switching off sets each affected parameter to its stated *off* value
(:attr:`ParamInfo.off`): zero for an effect, one for a factor, or a neutral setting
where a model cannot do without the quantity (patience, tone noise, mixture weights).
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

GUIDES: dict[str, str] = {
    "000_bcce97811ec03dfb.txt": "How to Handle Difficult Customers Gracefully",
    "001_e0641e9fd68303cb.txt": "Strategies for Calming a Difficult Customer",
    "002_3433ec1d79cbc358.txt": "Dealing with Difficult Clients helps you Level Up",
    "003_80726e119650b5ba.txt": "Handle difficult customers like a pro",
    "004_cecb5b1397c8fba0.txt": "Dealing with the Difficult",
}
"""The five guides by file name (copies in ``docs/guides/``), with their titles."""

G000, G001, G002, G003, G004 = GUIDES

Kind = Literal["quoted", "reading", "assumption"]
SUPPORT_KINDS: tuple[str, ...] = ("quoted", "reading", "assumption")
"""What a parameter can rest on: a quoted sentence, our reading of one, or our assumption."""


@dataclass(frozen=True)
class Quote:
    """One sentence of one guide, verbatim."""

    guide: str
    """Guide file name, e.g. ``"004_cecb5b1397c8fba0.txt"``."""
    sentence: str

    def __post_init__(self) -> None:
        if self.guide not in GUIDES:
            raise ValueError(f"unknown guide {self.guide!r}; allowed: {', '.join(GUIDES)}")

    def render(self) -> str:
        """``004_cecb5b1397c8fba0.txt: "sentence"`` for tables."""
        return f'{self.guide}: "{self.sentence}"'


def q(guide: str, sentence: str) -> Quote:
    """Shorthand for :class:`Quote`."""
    return Quote(guide, sentence)


@dataclass(frozen=True)
class Support:
    """Why a parameter exists: what the guides say, what we read, or what we assume."""

    kind: Kind
    what: str
    """The effect in a few words."""
    quotes: tuple[Quote, ...] = ()
    """The sentences it rests on (for a reading, the sentences read; for an assumption,
    sentences that come closest, if any, so a reader can judge the gap)."""
    why: str = ""
    """For a reading: why we read the sentences so. For an assumption: why the model needs it."""
    against: tuple[Quote, ...] = ()
    """Where guides disagree: the other side's sentences."""

    def __post_init__(self) -> None:
        if self.kind not in SUPPORT_KINDS:
            raise ValueError(f"support kind {self.kind!r}; allowed: {', '.join(SUPPORT_KINDS)}")
        if self.kind == "quoted" and not self.quotes:
            raise ValueError(f"quoted support for {self.what!r} has no quote")
        if self.kind in ("reading", "assumption") and not self.why:
            raise ValueError(f"{self.kind} support for {self.what!r} does not say why")


@dataclass(frozen=True)
class Switch:
    """A switch id: what turning it off removes, and what 'off' means."""

    id: str
    kind: Literal["claim", "assumption", "contested"]
    title: str
    off: str
    """What the model does with the switch off."""
    claim: str | None = None
    """The claim an assumption or contested reading belongs to (switching the claim off
    switches it off too)."""


@dataclass(frozen=True)
class ParamInfo:
    """The metadata :func:`parameter` stores on a field (``field.metadata["param"]``)."""

    support: Support
    claims: tuple[str, ...]
    """Claims the parameter belongs to: switching any of them off sets it to ``off``."""
    switch: str | None
    """Its own switch (an assumption or contested-reading id), if any."""
    off: Any
    """Value with its switch (or a claim of it) off; a callable gets the persona."""
    low: float | tuple[float, ...]
    high: float | tuple[float, ...]
    """Plausible range (for a tuple-valued field, one per entry); the sensitivity analysis samples it."""
    differs_by: str | None = "A12"
    """The switch that governs a persona's difference from the shared (default) value;
    None: the field is not expected to differ between personas."""
    integer: bool = False

    def off_value(self, persona: Any) -> Any:
        return self.off(persona) if callable(self.off) else self.off


def parameter(
    default: Any,
    support: Support,
    *,
    claims: tuple[str, ...] | str = (),
    switch: str | None = None,
    off: Any | Callable[[Any], Any],
    low: float | tuple[float, ...],
    high: float | tuple[float, ...],
    differs_by: str | None = "A12",
    integer: bool = False,
) -> Any:
    """A dataclass field that carries its support, switch, off value and range."""
    if isinstance(claims, str):
        claims = (claims,)
    lows = low if isinstance(low, tuple) else (low,)
    highs = high if isinstance(high, tuple) else (high,)
    if len(lows) != len(highs) or any(not lo <= hi for lo, hi in zip(lows, highs, strict=True)):
        raise ValueError(f"range [{low}, {high}] of {support.what!r} is empty or malformed")
    info = ParamInfo(support, tuple(claims), switch, off, low, high, differs_by, integer)
    return dataclasses.field(default=default, metadata={"param": info})


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[.!?][”\"’])\s+|\n+")
_LABEL = re.compile(r"^(?:\d+\.\s*)?[^.:!?]{1,40}(?::|\s[–-])\s+")


def split_sentences(text: str) -> list[str]:
    """The sentences of a guide: split after ``.``, ``!`` or ``?`` (and a closing quote) and at line breaks."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def is_sentence_of(sentence: str, text: str) -> bool:
    """True if ``sentence`` is one whole sentence of ``text``.

    A sentence may drop a heading label that opens it in the guide, as in
    ``"Apologize: Look the customer in the eye ..."`` or ``"Show empathy – Once ..."``.
    """
    for s in split_sentences(text):
        if s == sentence:
            return True
        if s.endswith(sentence) and _LABEL.fullmatch(s[: len(s) - len(sentence)]):
            return True
    return False


def param_info(field: dataclasses.Field) -> ParamInfo | None:
    """The :class:`ParamInfo` of a dataclass field, or None for a plain field."""
    return field.metadata.get("param")



def __getattr__(name: str) -> Any:
    """Deprecated names: ``KINDS`` is :data:`SUPPORT_KINDS`."""
    if name == "KINDS":
        warnings.warn("provenance.KINDS is deprecated; use SUPPORT_KINDS", DeprecationWarning, stacklevel=2)
        return SUPPORT_KINDS
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "G000",
    "G001",
    "G002",
    "G003",
    "G004",
    "GUIDES",
    "SUPPORT_KINDS",
    "ParamInfo",
    "Quote",
    "Support",
    "Switch",
    "is_sentence_of",
    "param_info",
    "parameter",
    "q",
    "split_sentences",
]
