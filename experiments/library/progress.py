"""Progress bars on stderr (tqdm), or a bar that does nothing when asked for none or tqdm is missing."""

from __future__ import annotations

import sys
from typing import Any


class NullBar:
    """A progress bar that shows nothing (same methods as tqdm's, and a context manager like it)."""

    def update(self, n: int = 1) -> None: ...

    def set_description(self, text: str) -> None: ...

    def close(self) -> None: ...

    def __enter__(self) -> NullBar:
        return self

    def __exit__(self, *exc: object) -> None: ...


def progress_bar(total: int, desc: str = "", enabled: bool = True, unit: str = "it") -> Any:
    """A tqdm bar on stderr counting to ``total``, or a :class:`NullBar`."""
    if not enabled:
        return NullBar()
    try:
        from tqdm.auto import tqdm  # the cli extra: only when a bar is shown
    except ImportError:  # the cli extra brings tqdm
        return NullBar()
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr)
