"""The results store of a study: one SQLite table, one row per finished run, plus artifacts.

Layout of a store folder::

    STORE/runs.sqlite              table ``runs`` (one row per finished run) and ``failures``
    STORE/artifacts/<run_id>/...   the files a run wrote (model.zip, curve.json, ...)
    STORE/studies/<name>.yaml      the study files run into this store

Why SQLite (and not Parquet): a finished run is appended in one transaction, so a row is
there whole or not at all, even if the driver is killed mid-write; the primary key on
``run_id`` makes a duplicate impossible (a run finished twice, e.g. by a retry racing a
resume, is stored once); it needs nothing beyond the standard library, and any tool reads
it. Parquet files are immutable: appending a row means rewriting the file or one file per
run, with the atomicity and deduplication left to us. ``results.export_parquet`` writes a
Parquet copy for analysis.

Only the driver writes the store; workers send their results and artifacts back through
Ray. So the store lives on the driver's local disk (SQLite over NFS is not safe) and
no shared file system is needed.

Artifacts are written to a temporary folder and renamed into place before the row is
inserted: a row always has its artifacts; artifacts without a row (driver killed between
the two) are overwritten when the run is redone.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from difficult_customer.experiments.library.io import atomic_write_text

DETERMINISTIC_COLUMNS = ("run_id", "study", "kind", "settings", "result")
"""Columns equal between two executions of the same runs (the others are when, where and how long)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    study TEXT NOT NULL,
    kind TEXT NOT NULL,
    settings TEXT NOT NULL,
    result TEXT NOT NULL,
    score REAL,
    wall_seconds REAL,
    host TEXT,
    node_id TEXT,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS failures (
    run_id TEXT NOT NULL,
    study TEXT NOT NULL,
    kind TEXT NOT NULL,
    settings TEXT NOT NULL,
    error TEXT NOT NULL,
    failed_at REAL
);
"""


def _dumps(value: Any) -> str:
    """Canonical JSON (sorted keys), so that equal settings or results are equal text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Store:
    """A study's results store in folder ``path`` (created if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / "artifacts").mkdir(exist_ok=True)
        self.db = self.path / "runs.sqlite"
        with self._connect() as conn:
            conn.executescript(_SCHEMA)
        for leftover in (self.path / "artifacts").glob(".tmp-*"):  # a driver killed while writing artifacts
            shutil.rmtree(leftover, ignore_errors=True)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self.db, timeout=60)) as conn:
            conn.execute("PRAGMA synchronous=FULL")
            with conn:  # one transaction: committed whole, or rolled back
                yield conn

    def done_ids(self) -> set[str]:
        """Ids of the runs that finished."""
        with self._connect() as conn:
            return {row[0] for row in conn.execute("SELECT run_id FROM runs")}

    def failed_ids(self) -> set[str]:
        """Ids of runs that failed and have not finished since."""
        with self._connect() as conn:
            return {row[0] for row in conn.execute(
                "SELECT DISTINCT run_id FROM failures WHERE run_id NOT IN (SELECT run_id FROM runs)")}

    def artifact_dir(self, run_id: str) -> Path:
        """Where the artifacts of run ``run_id`` are (or will be)."""
        return self.path / "artifacts" / run_id

    def record(self, run_id: str, study: str, kind: str, settings: dict[str, Any], result: dict[str, Any],
               score: float | None = None, artifacts: dict[str, bytes] | None = None,
               wall_seconds: float | None = None, host: str = "", node_id: str = "") -> bool:
        """Store a finished run: its artifacts first, then its row, atomically.

        Returns:
            False if the run was already stored (nothing is changed), True otherwise.
        """
        if run_id in self.done_ids():
            return False
        final = self.artifact_dir(run_id)
        tmp = Path(tempfile.mkdtemp(dir=self.path / "artifacts", prefix=f".tmp-{run_id}-"))
        try:
            for name, data in (artifacts or {}).items():
                target = (tmp / name).resolve()
                if tmp.resolve() not in target.parents:
                    raise ValueError(f"artifact name {name!r} leaves the run's folder")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            if final.exists():  # left by a driver killed after the rename, before the row
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        with self._connect() as conn:
            cursor = conn.execute(
                "INSERT INTO runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(run_id) DO NOTHING",
                (run_id, study, kind, _dumps(settings), _dumps(result), score, wall_seconds, host, node_id,
                 time.time()),
            )
            return cursor.rowcount == 1

    def record_failure(self, run_id: str, study: str, kind: str, settings: dict[str, Any], error: str) -> None:
        """Log a failed run (it stays to be done: running the study again retries it)."""
        with self._connect() as conn:
            conn.execute("INSERT INTO failures VALUES (?, ?, ?, ?, ?, ?)",
                         (run_id, study, kind, _dumps(settings), error, time.time()))

    def failures(self) -> list[dict[str, Any]]:
        """The failure log, oldest first."""
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            return [dict(r) for r in conn.execute("SELECT * FROM failures ORDER BY rowid")]

    def rows(self, deterministic: bool = False) -> list[dict[str, Any]]:
        """Every stored run as a dict (settings and result parsed), sorted by run id.

        Args:
            deterministic: only :data:`DETERMINISTIC_COLUMNS`, the ones equal between two
                executions of the same study (for comparing a resumed study with another).
        """
        with self._connect() as conn:
            conn.row_factory = sqlite3.Row
            rows = [dict(r) for r in conn.execute("SELECT * FROM runs ORDER BY run_id")]
        for row in rows:
            row["settings"] = json.loads(row["settings"])
            row["result"] = json.loads(row["result"])
        if deterministic:
            rows = [{k: row[k] for k in DETERMINISTIC_COLUMNS} for row in rows]
        return rows

    def export(self, dest: str | Path) -> Store:
        """Copy the store's rows and study files, not its artifacts, to a new store at ``dest``; return it.

        For committing a study's results (``experiments/baselines/``): the copy holds every
        row (settings, results, curves) and every study file, but no model files; where each
        run ran (``host``, ``node_id``) is blanked and the failure log left out. The copy is
        a compacted SQLite file (``VACUUM INTO``) written beside ``dest`` and renamed into place.

        Raises:
            ValueError: if ``dest`` already holds a store.
        """
        dest = Path(dest)
        if (dest / "runs.sqlite").exists():
            raise ValueError(f"{str(dest)!r} already holds a store; remove it or choose another folder")
        dest.mkdir(parents=True, exist_ok=True)
        tmp = dest / f".tmp-runs-{os.getpid()}.sqlite"
        tmp.unlink(missing_ok=True)
        with self._connect() as conn:
            conn.execute("VACUUM INTO ?", (str(tmp),))
        with closing(sqlite3.connect(tmp)) as conn, conn:
            conn.execute("UPDATE runs SET host = '', node_id = ''")
            conn.execute("DELETE FROM failures")
        with closing(sqlite3.connect(tmp)) as conn:
            conn.execute("VACUUM")
        os.replace(tmp, dest / "runs.sqlite")
        for study in sorted((self.path / "studies").glob("*.yaml")):
            atomic_write_text(dest / "studies" / study.name, study.read_text(encoding="utf-8"))
        return Store(dest)

    def save_study(self, name: str, source: str) -> None:
        """Keep a copy of the study file beside its results."""
        atomic_write_text(self.path / "studies" / f"{name}.yaml", source)
