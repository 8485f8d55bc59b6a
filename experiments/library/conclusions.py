"""The conclusions of the report's headline: each one's id, its words, its threshold and its rules, defined once.

The report states them (``findings``) and the sensitivity study checks them in every
sampled model (``sensitivity``); both import the ids and thresholds from here, and a
reader is shown a conclusion by its :attr:`Conclusion.words`, never by its id. How robust
a conclusion is, in a word, is :func:`robustness_word`.
"""

from __future__ import annotations

from dataclasses import dataclass

from difficult_customer.agents.guides import GUIDE_SCRIPTS
from difficult_customer.experiments.library.conformance import RULES

HIDDEN_THRESHOLD = 0.05
"""Hidden information "costs more than" this (normalized: the oracle minus the best observation-only policy)."""
ADAPT_THRESHOLD = 0.2
"""Adapting "is worth more than" this (normalized: the best observation-only policy minus every fixed sequence)."""
RULE_COST_THRESHOLD = 0.02
"""A rule is cheap when keeping it costs the oracle less than this (normalized)."""

GUIDES: tuple[str, ...] = tuple(GUIDE_SCRIPTS)
"""The guide policies whose ranks the conclusions compare (``guide_000`` ...)."""
RULE_IDS: tuple[str, ...] = tuple(RULES)
"""The conversation rules R1-R6 whose cost the conclusions bound."""

HIDDEN_INFORMATION = "hidden_information_costs"
ADAPTING = "adapting_worth"
GUIDES_BEAT_RANDOM = "guides_beat_random"


def first_id(guide: str) -> str:
    """The id of "``guide`` ranks first among the guides": ``guide_000_first``."""
    return f"{guide}_first"


def cheap_id(rule: str) -> str:
    """The id of "keeping ``rule`` is cheap": ``R1_cheap``."""
    return f"{rule}_cheap"


@dataclass(frozen=True)
class Conclusion:
    """One conclusion of the headline.

    It holds in a model where its number is above :attr:`threshold` (for ``*_cheap``:
    where the rule's cost is below it); the sensitivity study and the report compute that
    number, each from its own data.
    """

    id: str
    """A stable key (``hidden_information_costs``, ``R1_cheap``, ...): for files and code, not for readers."""
    words: str
    """The conclusion in plain English, as a reader is shown it."""
    threshold: float = 0.0
    rules: tuple[str, ...] = ()
    """The rule ids (R1-R6) it is about, if any."""


def _conclusions() -> dict[str, Conclusion]:
    out = [Conclusion(first_id(g), f"{g} ranks first among the {len(GUIDES)} guides") for g in GUIDES]
    out.append(Conclusion(GUIDES_BEAT_RANDOM, "every guide scores above random moves"))
    out.append(Conclusion(ADAPTING, f"adapting to the customer is worth more than {ADAPT_THRESHOLD:g}",
                          ADAPT_THRESHOLD))
    out.append(Conclusion(HIDDEN_INFORMATION, f"hidden information costs the agent more than {HIDDEN_THRESHOLD:g}",
                          HIDDEN_THRESHOLD))
    out += [Conclusion(cheap_id(r), f"keeping {r} costs under {RULE_COST_THRESHOLD:g}", RULE_COST_THRESHOLD, (r,))
            for r in RULE_IDS]
    return {c.id: c for c in out}


CONCLUSIONS: dict[str, Conclusion] = _conclusions()
"""Every conclusion of the headline, by id."""


def words(conclusion_id: str) -> str:
    """How a reader is shown a conclusion.

    Raises:
        ValueError: for an unknown id, listing the known ones.
    """
    if conclusion_id not in CONCLUSIONS:
        raise ValueError(f"unknown conclusion {conclusion_id!r}; allowed: {', '.join(CONCLUSIONS)}")
    return CONCLUSIONS[conclusion_id].words


def robustness_word(share: float, low: float, high: float) -> str:
    """How robust a conclusion is, in a word computed from its share of plausible models and that share's interval.

    "robust" when even the interval's low end is at least 0.9; "rarely holds" when even
    its high end is below 0.1; otherwise "mostly holds" (share at least 0.9), "mostly
    fails" (share below 0.1) or "fragile".

    Raises:
        ValueError: for a share or bounds outside [0, 1] or out of order.
    """
    if not (0.0 <= low <= share <= high <= 1.0):
        raise ValueError(f"share={share!r} with interval [{low!r}, {high!r}]; "
                         "allowed is 0 <= low <= share <= high <= 1")
    if low >= 0.9:
        return "robust"
    if high < 0.1:
        return "rarely holds"
    if share >= 0.9:
        return "mostly holds"
    if share < 0.1:
        return "mostly fails"
    return "fragile"


__all__ = [
    "ADAPTING",
    "ADAPT_THRESHOLD",
    "CONCLUSIONS",
    "GUIDES",
    "GUIDES_BEAT_RANDOM",
    "HIDDEN_INFORMATION",
    "HIDDEN_THRESHOLD",
    "RULE_COST_THRESHOLD",
    "RULE_IDS",
    "Conclusion",
    "cheap_id",
    "first_id",
    "robustness_word",
    "words",
]
