"""The model's parameters as machine-readable ranges, and a model built from a sample of them.

For a sensitivity analysis::

    from difficult_customer.customer_models.parameters import sampled_parameters, build_mixture, sample_uniform

    specs = sampled_parameters()                    # readings and assumptions, mixture weights included
    values = sample_uniform(specs, np.random.default_rng(0))
    mixture = build_mixture(dict(zip(specs, values)))
    tables = compile_model(mixture)

Each :class:`ParameterSpec` is one scalar: a persona's parameter (``"listen_calm"``), one
entry of a tuple-valued parameter (``"offer_accept[2]"``, ``"initial_anger[3]"``), or a
mixture weight (``name="weight"``). Its range is the field's documented range (from the
field's metadata), widened where needed to include the persona's own value, so the
built-in model is always inside the sampled box. Fields that *define* a persona
(``Persona.defining``) are not sampled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from difficult_customer.customer_models.personas import (
    DEFAULT_MIXTURE,
    PERSONAS,
    WEIGHT_RANGES,
    Mixture,
    Persona,
    model_fields,
)
from difficult_customer.customer_models.provenance import SUPPORT_KINDS, param_info

WEIGHT = "weight"
"""The :attr:`ParameterSpec.name` of a mixture weight."""



@dataclass(frozen=True)
class ParameterSpec:
    """One scalar parameter of the model and its plausible range."""

    name: str
    """Field name, ``field[i]`` for entry ``i`` of a tuple-valued field, or ``"weight"``."""
    persona: str
    """The persona it belongs to."""
    low: float
    high: float
    support: str
    """``"quoted"``, ``"reading"`` or ``"assumption"``."""
    id: str
    """The switch that turns it off: its assumption or contested-reading id, else its
    first claim id, else ``""`` (a reading no switch turns off, e.g. the starting anger)."""
    default: float
    """Its value in the built-in model."""
    integer: bool = False
    what: str = ""

    @property
    def field(self) -> str:
        """The persona field (``offer_accept`` for ``offer_accept[2]``)."""
        return self.name.split("[")[0]

    @property
    def index(self) -> int | None:
        """The tuple entry, or None for a scalar field."""
        return int(self.name.split("[")[1].rstrip("]")) if "[" in self.name else None


def sampled_parameters(
    kinds: Iterable[str] = ("reading", "assumption"),
    personas: Sequence[str] = ("genuine_grievance", "naturally_difficult", "belligerent", "reasonable"),
    weights: bool = True,
) -> list[ParameterSpec]:
    """Every parameter of the given support kinds, per persona, with its range.

    Args:
        kinds: support kinds to include (``"quoted"`` adds the magnitudes of quoted effects).
        personas: built-in persona names.
        weights: include the mixture weights (A17), one per persona.

    Raises:
        ValueError: for an unknown kind or persona name.
    """
    kinds = tuple(kinds)
    for kind in kinds:
        if kind not in SUPPORT_KINDS:
            raise ValueError(f"unknown support kind {kind!r}; allowed: {', '.join(SUPPORT_KINDS)}")
    specs: list[ParameterSpec] = []
    for name in personas:
        if name not in PERSONAS:
            raise ValueError(f"unknown persona {name!r}; allowed: {', '.join(PERSONAS)}")
        p = PERSONAS[name]
        for f in model_fields():
            info = param_info(f)
            assert info is not None
            if info.support.kind not in kinds or f.name in p.defining:
                continue
            switch = info.switch or (info.claims[0] if info.claims else "")
            value = getattr(p, f.name)
            if isinstance(value, tuple):
                lows, highs = info.low, info.high
                assert isinstance(lows, tuple) and isinstance(highs, tuple)
                for i, v in enumerate(value):
                    lo, hi = min(lows[i], v), max(highs[i], v)
                    if hi > lo:
                        specs.append(ParameterSpec(f"{f.name}[{i}]", name, lo, hi, info.support.kind, switch,
                                                   float(v), info.integer, info.support.what))
            else:
                assert not isinstance(info.low, tuple) and not isinstance(info.high, tuple)
                specs.append(ParameterSpec(f.name, name, min(info.low, value), max(info.high, value),
                                           info.support.kind, switch, float(value), info.integer, info.support.what))
    if weights and "assumption" in kinds:
        defaults = dict(zip(DEFAULT_MIXTURE.persona_names, DEFAULT_MIXTURE.weights, strict=True))
        for name in personas:
            lo, hi = WEIGHT_RANGES[name]
            specs.append(ParameterSpec(WEIGHT, name, lo, hi, "assumption", "A17", defaults.get(name, 0.0),
                                       what="share of the population (normalized over the personas)"))
    return specs


def sample_uniform(specs: Sequence[ParameterSpec], rng: np.random.Generator) -> list[float]:
    """One value per spec, uniform in its range (integers uniform over the integers in it)."""
    out = []
    for s in specs:
        if s.integer:
            out.append(float(rng.integers(int(np.ceil(s.low)), int(np.floor(s.high)) + 1)))
        else:
            out.append(float(rng.uniform(s.low, s.high)))
    return out


def build_mixture(sample: Mapping[ParameterSpec, float], name: str = "sampled", base: Mixture = DEFAULT_MIXTURE
                  ) -> Mixture:
    """A :class:`Mixture` with the sampled values put into the built-in personas.

    Entries of ``initial_anger`` are renormalized to sum to 1; integers are rounded;
    weights are normalized, and a persona whose weight is 0 is left out. Without weight
    specs in the sample, the personas and weights of ``base`` are kept.

    Raises:
        ValueError: for a spec of an unknown persona, a value outside its spec's range, or
            a sample that leaves no persona with positive weight.
    """
    changes: dict[str, dict[str, object]] = {}
    weights: dict[str, float] = {}
    for spec, value in sample.items():
        if spec.persona not in PERSONAS:
            raise ValueError(f"unknown persona {spec.persona!r}; allowed: {', '.join(PERSONAS)}")
        if not spec.low - 1e-12 <= float(value) <= spec.high + 1e-12:
            raise ValueError(f"{spec.persona}.{spec.name}={value!r} is outside its range [{spec.low}, {spec.high}]")
        if spec.name == WEIGHT:
            weights[spec.persona] = float(value)
            continue
        per = changes.setdefault(spec.persona, {})
        value = int(round(value)) if spec.integer else float(value)
        if spec.index is None:
            per[spec.field] = value
        else:
            current = list(per.get(spec.field, getattr(PERSONAS[spec.persona], spec.field)))
            current[spec.index] = value
            per[spec.field] = tuple(current)
    personas: dict[str, Persona] = {}
    for pname in (*base.persona_names, *weights):
        if pname in personas:
            continue
        per = dict(changes.get(pname, {}))
        if "initial_anger" in per:
            anger = np.asarray(per["initial_anger"], dtype=float)
            per["initial_anger"] = tuple((anger / anger.sum()).tolist())
        personas[pname] = replace(PERSONAS[pname], **per)
    if weights:
        kept = {n: w for n, w in weights.items() if w > 0}
        if not kept:
            raise ValueError("every sampled mixture weight is 0; allowed is at least one positive weight")
        total = sum(kept.values())
        return Mixture(name, tuple(personas[n] for n in kept), tuple(w / total for w in kept.values()),
                       base.ablate)
    return Mixture(name, tuple(personas[n] for n in base.persona_names), base.weights, base.ablate)


__all__ = ["WEIGHT", "ParameterSpec", "build_mixture", "sample_uniform", "sampled_parameters"]
