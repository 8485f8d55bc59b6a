"""The space of plausible models a sensitivity study samples: one variable per parameter no guide fixes.

A :class:`Space` is what is sampled for one model variant (``VARIANTS``: ``default`` or
``guide_only``) and how a sample becomes a :class:`~difficult_customer.customer_models.Mixture`.
:func:`space_for` builds it from :func:`~difficult_customer.customer_models.parameters.sampled_parameters`.
Needs only numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from difficult_customer.customer_models.compile import effective_persona
from difficult_customer.customer_models.parameters import ParameterSpec, build_mixture, sampled_parameters
from difficult_customer.customer_models.personas import DEFAULT_MIXTURE, GUIDE_ONLY_MIXTURE, SHARED, Mixture
from difficult_customer.customer_models.switches import SWITCHES, VARIANT_NAMES, VARIANTS

GROUP_BY: tuple[str, ...] = ("switch", "claim")
"""How sampled parameters are grouped for indices: by switch id, or by the claim a switch belongs to."""


@dataclass(frozen=True)
class Problem:
    """The sampled variables in SALib's terms: one per sampled parameter, with its range and index group."""

    names: tuple[str, ...]
    bounds: tuple[tuple[float, float], ...]
    groups: tuple[str, ...]

    def salib(self) -> dict[str, Any]:
        """SALib's problem dict (``num_vars``, ``names``, ``bounds``, ``groups``)."""
        return {
            "num_vars": len(self.names),
            "names": list(self.names),
            "bounds": [list(b) for b in self.bounds],
            "groups": list(self.groups),
        }


@dataclass(frozen=True)
class Space:
    """What is sampled for one model variant, and how a sample becomes a model."""

    variant: str
    """``"default"`` (assumptions and readings sampled) or ``"guide_only"`` (every assumption
    off; only the readings of guide sentences are sampled)."""
    specs: tuple[ParameterSpec, ...]
    """The sampled parameters, in the order of a sample's values."""

    @property
    def problem(self) -> Problem:
        """The problem with one index group per switch id."""
        return self.problem_for("switch")

    def problem_for(self, group_by: str) -> Problem:
        """The problem, one index group per switch id (``group_by="switch"``) or per claim (``"claim"``).

        Raises:
            ValueError: for a ``group_by`` not in :data:`GROUP_BY`.
        """
        if group_by not in GROUP_BY:
            raise ValueError(f"group_by={group_by!r}; allowed: {', '.join(map(repr, GROUP_BY))}")
        return Problem(
            names=tuple(f"{s.persona}.{s.name}" for s in self.specs),
            bounds=tuple((float(s.low), float(s.high)) for s in self.specs),
            groups=tuple(group_of(s, group_by) for s in self.specs),
        )

    def model(self, x: Sequence[float], name: str = "sampled") -> Mixture:
        """The mixture of one sample: one value per spec, integers rounded.

        Raises:
            ValueError: for a value outside its spec's range, or a sample leaving no persona
                with positive weight (see ``build_mixture``).
        """
        values = [round(v) if s.integer else v for s, v in zip(self.specs, x, strict=True)]
        if self.variant == "default":
            return build_mixture(dict(zip(self.specs, values, strict=True)), name=name, base=DEFAULT_MIXTURE)
        return _shared_model(self.specs, values, name)

    def default_x(self) -> tuple[float, ...]:
        """The built-in model's values, as a sample."""
        return tuple(float(s.default) for s in self.specs)


def group_of(spec: ParameterSpec, group_by: str) -> str:
    """The index group of a sampled parameter: its switch id, or (``"claim"``) the claim that switch belongs to.

    Parameters of the starting state that no switch turns off group by field
    (``"switch"``) or all together as ``"start"`` (``"claim"``).
    """
    if not spec.id:
        return spec.field if group_by == "switch" else "start"
    if group_by == "claim":
        return SWITCHES[spec.id].claim or spec.id
    return spec.id


def space_for(variant: str) -> Space:
    """The sampled parameters of a variant.

    In the default model every persona's readings and assumptions are sampled, the
    mixture weights included. In the guide-only model every persona reacts with the
    shared parameters (the persona differences are assumptions, A12/A13), so each reading
    is sampled once, as a shared value that every persona takes (except where the field
    defines a persona), with the union of the personas' ranges.

    Raises:
        ValueError: for a variant not in ``VARIANTS``.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; allowed: {', '.join(VARIANT_NAMES)}")
    if variant == "default":
        return Space(variant, tuple(sampled_parameters(kinds=("reading", "assumption"), weights=True)))
    merged: dict[str, ParameterSpec] = {}
    for spec in sampled_parameters(kinds=("reading",), weights=False):
        shared = SHARED[spec.field]
        default = float(shared[spec.index] if spec.index is not None else shared)  # type: ignore[index, arg-type]
        old = merged.get(spec.name)
        low = min(spec.low, default, old.low if old else spec.low)
        high = max(spec.high, default, old.high if old else spec.high)
        merged[spec.name] = ParameterSpec(spec.name, "shared", low, high, spec.support, spec.id, default,
                                          spec.integer, spec.what)
    return Space(variant, tuple(merged.values()))


_DIFFERENCE_SWITCHES = frozenset({"A12", "A13"})
"""Assumptions that act only by letting personas differ (``differs_by``); the guide-only
model has them off, which :func:`_shared_model` does by giving every persona the same value."""


def _shared_model(specs: Sequence[ParameterSpec], values: Sequence[float], name: str) -> Mixture:
    """The guide-only mixture with each shared reading set to its sampled value in every persona."""
    ablate = VARIANTS["guide_only"]
    personas = []
    for p in GUIDE_ONLY_MIXTURE.personas:
        base = effective_persona(p, ablate)  # every difference and assumption at its off value
        changes: dict[str, Any] = {}
        for spec, value in zip(specs, values, strict=True):
            if spec.field in p.defining:
                continue
            if spec.index is None:
                changes[spec.field] = value
            else:
                current = list(changes.get(spec.field, getattr(base, spec.field)))
                current[spec.index] = float(value)
                changes[spec.field] = tuple(current)
        if "initial_anger" in changes:
            anger = np.asarray(changes["initial_anger"], dtype=float)
            changes["initial_anger"] = tuple((anger / anger.sum()).tolist())
        personas.append(replace(base, **changes))
    weights = GUIDE_ONLY_MIXTURE.effective_weights(ablate)
    return Mixture(name, tuple(personas), weights, ablate - _DIFFERENCE_SWITCHES)


__all__ = ["GROUP_BY", "Problem", "Space", "group_of", "space_for"]
