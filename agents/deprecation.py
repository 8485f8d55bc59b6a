"""Old public names that still work: each use warns with ``DeprecationWarning`` and names the new one."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


def warn_renamed(old: str, new: str) -> None:
    """Warn (``DeprecationWarning``, at the caller's caller) that ``old`` is now ``new``."""
    warnings.warn(f"{old} is deprecated; use {new}", DeprecationWarning, stacklevel=3)


def module_aliases(module: str, aliases: dict[str, tuple[str, Any]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` serving deprecated names: ``aliases[old] = (new name, object)``.

    Raises:
        AttributeError: for any other missing name, as Python does.
    """

    def __getattr__(name: str) -> Any:
        if name in aliases:
            new, value = aliases[name]
            warnings.warn(f"{module}.{name} is deprecated; use {module}.{new}", DeprecationWarning, stacklevel=2)
            return value
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    return __getattr__


__all__ = ["module_aliases", "warn_renamed"]
