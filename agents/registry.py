"""Policies by name: ``difficult_customer.agents.make(name)`` and ``difficult_customer.agents.names()``.

A factory takes a :class:`~agents.base.PolicyContext` and returns a policy. Names with a
prefix and a colon (``"ppo:runs/x/model.zip"``) go to a prefix loader, so trained
models are served like any other policy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from difficult_customer.agents.base import Policy, PolicyContext

Factory = Callable[[PolicyContext], Policy]


@dataclass(frozen=True)
class PolicySpec:
    name: str
    factory: Factory
    description: str
    kind: str
    """``"baseline"``, ``"guide"``, ``"adaptive"``, ``"exact"`` (reads the tables) or ``"oracle"`` (peeks)."""


_REGISTRY: dict[str, PolicySpec] = {}
_PREFIXES: dict[str, Callable[[str, PolicyContext], Policy]] = {}


def register(name: str, factory: Factory, description: str, kind: str) -> None:
    """Add a policy under ``name`` (an existing name is an error)."""
    if name in _REGISTRY:
        raise ValueError(f"policy {name!r} is already registered")
    _REGISTRY[name] = PolicySpec(name, factory, description, kind)


def register_prefix(prefix: str, loader: Callable[[str, PolicyContext], Policy]) -> None:
    """Serve names ``"<prefix>:<argument>"`` with ``loader(argument, context)``."""
    _PREFIXES[prefix] = loader


def names(kind: str | None = None) -> list[str]:
    """Registered policy names, in registration order, optionally of one kind."""
    return [n for n, spec in _REGISTRY.items() if kind is None or spec.kind == kind]


def spec(name: str) -> PolicySpec:
    if name not in _REGISTRY:
        raise ValueError(f"unknown policy {name!r}; allowed: {', '.join(_REGISTRY)} or <prefix>:<path> "
                         f"with prefix in {sorted(_PREFIXES) or 'none registered'}")
    return _REGISTRY[name]


def make(name: str, context: PolicyContext | None = None, **context_kwargs: Any) -> Policy:
    """Build the policy ``name`` for an environment.

    Args:
        name: a registered name, or ``"<prefix>:<argument>"`` for a registered prefix.
        context: the environment it acts in; or give ``persona=``, ``ablate=``,
            ``max_turns=``, ``seed=`` ... as keywords.

    Raises:
        ValueError: for an unknown name or prefix, listing the allowed ones.
    """
    if context is None:
        context = PolicyContext.create(**context_kwargs)
    elif context_kwargs:
        raise ValueError("give either context or keyword arguments, not both")
    if ":" in name and name.split(":", 1)[0] not in _REGISTRY:
        prefix, argument = name.split(":", 1)
        if prefix not in _PREFIXES:
            raise ValueError(f"unknown policy prefix {prefix!r} in {name!r}; allowed: {sorted(_PREFIXES)}")
        return _PREFIXES[prefix](argument, context)
    return spec(name).factory(context)
