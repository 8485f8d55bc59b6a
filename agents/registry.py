"""Policies by name, and what each one is: ``agents.make(name)``, ``agents.spec(name)``, ``agents.names()``.

A :class:`PolicySpec` records, besides the factory, what kind of policy it is
(:data:`KINDS`), what it decides on (:data:`DECIDES_ON`) and whether it keeps memory
between turns. Code that runs policies asks the spec, never the name: for instance
:meth:`PolicySpec.context_for` gives the oracle the full observation. Trained models
register like any other policy (:func:`difficult_customer.agents.register_model`); a name
that is not registered is handed to the model loader (:func:`set_model_loader`, which
``difficult_customer.agents`` installs), which registers it if it is the path of a
trained model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from difficult_customer.agents.base import Policy, PolicyContext
from difficult_customer.agents.deprecation import warn_renamed

Factory = Callable[[PolicyContext], Policy]

KINDS: dict[str, str] = {
    "scripted": "fixed rules on the observation",
    "baseline": "a reference point (random, solution first, apology spam)",
    "guide": "the strategy one customer-service guide prescribes",
    "adaptive": "rules that read the customer's tone and reactions",
    "exact": "computed from the model's tables, reading only observations",
    "oracle": "computed from the tables, reading the hidden state (an upper bound)",
    "learned": "a trained model",
}
"""Every kind of policy, with what it means."""

SCRIPTED_KINDS = ("scripted", "baseline", "guide", "adaptive")
"""Kinds of hand-written rules (numpy only, exactly evaluable)."""

DECIDES_ON: dict[str, str] = {
    "partial": "the environment's observation (what a person at the desk sees)",
    "belief": "the exact Bayes filter's belief, tracked from the partial observations",
    "full": "the observation with the hidden state appended (observation='full')",
}
"""What a policy's move is computed from (:attr:`PolicySpec.decides_on`)."""


@dataclass(frozen=True)
class PolicySpec:
    """A registered policy: how to build it, and what it is."""

    name: str
    factory: Factory
    description: str
    kind: str
    """One of :data:`KINDS`."""
    decides_on: str = "partial"
    """One of :data:`DECIDES_ON`: ``"full"`` policies need the env's ``observation="full"``."""
    memory: bool = False
    """Whether ``predict`` carries state between turns (belief filters, recurrent networks)."""
    path: Path | None = None
    """The model file of a learned policy (None otherwise)."""
    algo: str | None = None
    """The algorithm of a learned policy (``ppo``, ``a2c``, ...; None otherwise)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"policy {self.name!r}: unknown kind {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.decides_on not in DECIDES_ON:
            raise ValueError(f"policy {self.name!r}: unknown decides_on {self.decides_on!r}; "
                             f"allowed: {', '.join(DECIDES_ON)}")

    @property
    def observation(self) -> str:
        """Deprecated: :attr:`decides_on`."""
        warn_renamed("PolicySpec.observation", "PolicySpec.decides_on")
        return self.decides_on

    @property
    def scripted(self) -> bool:
        """Hand-written rules (kinds scripted, baseline, guide, adaptive)."""
        return self.kind in SCRIPTED_KINDS

    @property
    def learned(self) -> bool:
        return self.kind == "learned"

    @property
    def needs_full_observation(self) -> bool:
        """Whether the policy reads the hidden state (the env must run with ``observation="full"``)."""
        return self.decides_on == "full"

    def context_for(self, context: PolicyContext) -> PolicyContext:
        """The context this policy acts in: ``context``, with the full observation if the policy needs it."""
        if self.needs_full_observation and context.observation != "full":
            return replace(context, observation="full")
        return context

    def make(self, context: PolicyContext) -> Policy:
        """Build the policy for ``context`` (as given: see :meth:`context_for`)."""
        return self.factory(context)


_REGISTRY: dict[str, PolicySpec] = {}

ModelLoader = Callable[[str], "PolicySpec | None"]
"""``loader(name)``: the registered spec of the trained model at path ``name``, or None if it is not one."""

_model_loader: ModelLoader | None = None


def set_model_loader(loader: ModelLoader | None) -> None:
    """Install the hook :func:`spec` resolves unregistered names with (``difficult_customer.agents`` installs
    :func:`~agents.learned.load_model_spec`); None removes it."""
    global _model_loader
    _model_loader = loader


def register(
    name: str,
    factory: Factory,
    description: str,
    kind: str,
    *,
    decides_on: str = "partial",
    memory: bool = False,
    path: Path | None = None,
    algo: str | None = None,
    observation: str | None = None,
) -> PolicySpec:
    """Add a policy under ``name`` and return its spec.

    ``observation=`` is the deprecated name of ``decides_on=`` (it warns).

    Raises:
        ValueError: if ``name`` is taken, or for an unknown kind or ``decides_on``.
    """
    if observation is not None:
        warn_renamed("register(observation=...)", "register(decides_on=...)")
        decides_on = observation
    if name in _REGISTRY:
        raise ValueError(f"policy {name!r} is already registered")
    entry = PolicySpec(name, factory, description, kind, decides_on, memory, path, algo)
    _REGISTRY[name] = entry
    return entry


def add(entry: PolicySpec) -> PolicySpec:
    """Register a ready-made spec; the same spec again is a no-op, another one under its name an error."""
    existing = _REGISTRY.get(entry.name)
    if existing is not None and existing != entry:
        raise ValueError(f"policy {entry.name!r} is already registered as something else ({existing.description})")
    _REGISTRY[entry.name] = entry
    return entry


def add_or_replace(entry: PolicySpec) -> PolicySpec:
    """Register ``entry`` in place of the spec of the same name, if any (a newer trained model under a known name)."""
    _REGISTRY[entry.name] = entry
    return entry


def names(kind: str | None = None) -> list[str]:
    """Registered policy names, in registration order, optionally of one kind.

    Raises:
        ValueError: for an unknown kind.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}")
    return [n for n, entry in _REGISTRY.items() if kind is None or entry.kind == kind]


def spec(name: str) -> PolicySpec:
    """The spec of policy ``name``: a registered name, or the path of a trained model (registered on first use).

    Raises:
        ValueError: for anything else, listing the registered names.
    """
    if not isinstance(name, str):
        raise ValueError(f"policy name {name!r} is not a string; allowed: {', '.join(_REGISTRY)}")
    if name in _REGISTRY:
        return _REGISTRY[name]
    loaded = _model_loader(name) if _model_loader is not None else None
    if loaded is not None:
        return loaded
    raise ValueError(f"unknown policy {name!r}; allowed: {', '.join(_REGISTRY)}, or the path of a trained "
                     "model (a model.zip written by 'difficult-customer train')")


def make(name: str, context: PolicyContext | None = None, **context_kwargs: Any) -> Policy:
    """Build the policy ``name`` for an environment.

    Args:
        name: a registered name, or the path of a trained model.
        context: the environment it acts in; or give ``persona=``, ``ablate=``,
            ``max_turns=``, ``seed=`` ... as keywords. It is used as given: a policy that
            needs the full observation should get ``spec(name).context_for(context)``.

    Raises:
        ValueError: for an unknown name, listing the allowed ones.
    """
    if context is None:
        context = PolicyContext.create(**context_kwargs)
    elif context_kwargs:
        raise ValueError("give either context or keyword arguments, not both")
    return spec(name).make(context)
