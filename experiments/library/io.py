"""Writing result files so that nothing is lost: atomically, and resumable by key."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` via a temporary file in the same folder and a rename.

    A reader (or a run killed half-way) sees either the old file or the new one,
    never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # as open() would create it (mkstemp makes it private)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()
"""The process's umask, read once at import: reading it means setting it, which no write should race."""


def atomic_write_json(path: str | Path, data: Any) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2, sort_keys=False, default=_jsonable) + "\n")


def atomic_write_csv(path: str | Path, rows: list[dict[str, Any]]) -> Path:
    """Write a list of flat dicts as CSV (header from the first row), atomically."""
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return atomic_write_text(path, buffer.getvalue())


def cached(path: str | Path, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, stored atomically in ``path`` under ``key`` and read back while the key matches."""
    stored = read_json(path)
    digest = json.dumps(key, sort_keys=True, default=str)
    if stored is not None and stored.get("key") == digest:
        return stored["value"]
    value = compute()
    atomic_write_json(path, {"key": digest, "value": value})
    return value


def read_json(path: str | Path) -> Any | None:
    """The JSON in ``path``, or None if the file does not exist.

    Raises:
        ValueError: if the file exists but is not valid JSON, naming the file.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it to recompute") from err


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
