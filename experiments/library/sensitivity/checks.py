"""The headline's conclusions as numbers of one solved model: holds where the number is above the threshold.

Each :class:`Check` pairs a :class:`~difficult_customer.experiments.library.conclusions.Conclusion`
with a continuous metric of a record (so that Morris or Sobol indices can say which
assumptions move it). Metrics read normalized numbers (``normalize`` of
``agents.exact.normalize``), which are undefined in a model whose oracle is no better than
random: :func:`scale_defined` tells such models apart, and the analysis leaves them out
and counts them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from difficult_customer.agents.exact.normalize import MIN_SPAN, normalize
from difficult_customer.experiments.library.conclusions import (
    ADAPT_THRESHOLD,
    ADAPTING,
    CONCLUSIONS,
    GUIDES,
    GUIDES_BEAT_RANDOM,
    HIDDEN_INFORMATION,
    HIDDEN_THRESHOLD,
    RULE_COST_THRESHOLD,
    RULE_IDS,
    Conclusion,
    cheap_id,
    first_id,
)


def scale_defined(record: dict[str, float]) -> bool:
    """Whether the model's oracle is better than random, so that its normalized numbers exist."""
    return bool(record["oracle"] - record["random"] > MIN_SPAN)


def normalized(record: dict[str, float], key: str) -> float:
    """``record[key]`` on the scale from random (0) to the oracle (1) of the same model.

    Raises:
        ValueError: where the oracle is no better than random (see :func:`scale_defined`).
    """
    return normalize(record[key], record["random"], record["oracle"])


def guide_margin(record: dict[str, float], guide: str) -> float:
    """How far ``guide`` is ahead of the best other guide (normalized; > 0 means it ranks first)."""
    others = max(normalized(record, g) for g in GUIDES if g != guide)
    return normalized(record, guide) - others


def rule_cost(record: dict[str, float], rule: str) -> float:
    """What keeping ``rule`` costs the oracle, normalized: 1 minus the best rule-keeping policy's score."""
    return 1.0 - normalize(record["oracle"] - record[f"cost_{rule}"], record["random"], record["oracle"])


@dataclass(frozen=True)
class Check:
    """A conclusion as a number of one solved model's record: it holds where ``metric > threshold``."""

    conclusion: Conclusion
    measure: str
    """How the number is computed, in words (the table shows it after the conclusion's words)."""
    metric: Callable[[dict[str, float]], float]
    threshold: float = 0.0

    @property
    def id(self) -> str:
        return self.conclusion.id

    @property
    def words(self) -> str:
        return self.conclusion.words

    @property
    def text(self) -> str:
        """The conclusion's words and how it is measured."""
        return f"{self.words} ({self.measure})" if self.measure else self.words

    def holds(self, record: dict[str, float]) -> bool:
        """Whether the conclusion holds in one sampled model.

        Raises:
            ValueError: where the model's oracle is no better than random (see :func:`scale_defined`).
        """
        return bool(self.metric(record) > self.threshold)


def default_conclusions(
    adapt_threshold: float = ADAPT_THRESHOLD,
    hidden_threshold: float = HIDDEN_THRESHOLD,
    rule_cost_threshold: float = RULE_COST_THRESHOLD,
    rules: Sequence[str] = RULE_IDS,
) -> list[Check]:
    """A check of every conclusion of the headline (the thresholds are those of ``conclusions``).

    Hidden information and adapting use the certified bracket: "hidden information costs
    more than t" holds only where even the bracket's upper end leaves a gap of t to the
    oracle; "adapting is worth more than t" only where the bracket's lower end (a policy
    that is actually achieved) beats a proven upper bound on every fixed sequence by t.
    A threshold other than the default changes the number in the conclusion's words.
    """
    def conclusion(cid: str, threshold: float | None = None) -> Conclusion:
        c = CONCLUSIONS[cid]
        if threshold is None or threshold == c.threshold:
            return c
        return Conclusion(c.id, c.words.replace(f"{c.threshold:g}", f"{threshold:g}"), threshold, c.rules)

    out = [Check(conclusion(first_id(g)), "", lambda r, g=g: guide_margin(r, g)) for g in GUIDES]
    out.append(Check(conclusion(GUIDES_BEAT_RANDOM), "", lambda r: min(normalized(r, g) for g in GUIDES)))
    out.append(Check(conclusion(ADAPTING, adapt_threshold),
                     "bracket's lower end minus the best fixed sequence's bound",
                     lambda r: normalized(r, "bracket_lower") - normalized(r, "fixed_sequence_bound"),
                     adapt_threshold))
    out.append(Check(conclusion(HIDDEN_INFORMATION, hidden_threshold), "oracle minus bracket's upper end",
                     lambda r: 1.0 - normalized(r, "bracket_upper"), hidden_threshold))
    for rule in rules:
        out.append(Check(conclusion(cheap_id(rule), rule_cost_threshold), "",
                         lambda r, rule=rule: rule_cost_threshold - rule_cost(r, rule)))
    return out


__all__ = ["Check", "default_conclusions", "guide_margin", "normalized", "rule_cost", "scale_defined"]
