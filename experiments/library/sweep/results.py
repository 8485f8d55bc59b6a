"""From a store to a page: tidy rows, interquartile means across seeds per group, and a Parquet copy.

``read_rows(STORE)`` gives one flat dict per run (its settings and the scalar entries of
its result side by side); ``summarize(rows)`` groups them by every setting but the seed
(or by the settings named) and gives each group's IQM across seeds with a 95% stratified
bootstrap interval (``scores.iqm_ci``), optionally of scores normalized between the
random policy (0) and the oracle (1); ``export_parquet`` writes the tidy rows as Parquet.

A ``train_jax`` run trains several seeds at once: its tidy row carries them as ``members``
(:func:`run_members`), and ``summarize`` aggregates those seeds' final scores, so that such
a run is a group of its own whose interval spans its seeds.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.agents import PolicyContext
from difficult_customer.agents.exact.evaluation import oracle_value, random_value
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.experiments.library.sweep.runs import get_kind
from difficult_customer.experiments.library.sweep.store import Store

SEED_KEY = "seed"
ROW_META = ("run_id", "study", "kind", "wall_seconds", "host")
"""Columns of a tidy row that are not settings or results."""
MEMBERS_KEY = "members"
"""The column of a tidy row listing the seeds a run trained at once (:func:`run_members`)."""
MEMBER_METRICS = ("iqm", "final")
"""Metrics that ``summarize`` takes from a run's members (each seed's normalized final score) when it has them."""


def run_members(result: dict[str, Any]) -> list[dict[str, Any]] | None:
    """The seeds a run trained at once (a ``train_jax`` run), from its result; None for a run of one seed.

    Returns:
        One dict per seed: ``seed``, ``final`` (its normalized final score) and ``final_stderr``
        (0 where exact).

    Raises:
        ValueError: for a result whose ``seeds`` and ``final`` lists differ in length.
    """
    seeds, finals = result.get("seeds"), result.get("final")
    if not isinstance(seeds, list) or not isinstance(finals, list):
        return None
    errors = result.get("final_stderr") or [0.0] * len(finals)
    if not (len(seeds) == len(finals) == len(errors)):
        raise ValueError(f"a run's result has {len(seeds)} seeds, {len(finals)} final scores and {len(errors)} "
                         "standard errors; allowed: one of each per seed")
    return [{"seed": int(s), "final": float(f), "final_stderr": float(e)}
            for s, f, e in zip(seeds, finals, errors, strict=True)]


def _flat(value: Any) -> Any:
    """Lists as ``"C1-C4"`` (``"none"`` when empty), so that a row's values are hashable and tabular."""
    if isinstance(value, list):
        return "-".join(str(v) for v in value) if value else "none"
    return value


def read_rows(store: str | Path | Store) -> list[dict[str, Any]]:
    """The store's runs as tidy rows, sorted by run id.

    Each row has ``run_id``, ``study``, ``kind``, ``wall_seconds``, ``host``, every
    setting (lists joined with ``-``, ``none`` if empty; a mapping setting such as
    ``hyperparameters`` flattened into ``hyperparameters.<key>``), and every scalar entry
    of the result (e.g. ``final_return``; lists such as the learning curve are left out). A run
    that trained several seeds at once (``train_jax``) also has ``members``, its seeds'
    final scores (:func:`run_members`).

    Raises:
        ValueError: if the folder holds no store.
    """
    if not isinstance(store, Store):
        if not (Path(store) / "runs.sqlite").exists():
            raise ValueError(f"{str(store)!r} is not a results store (no runs.sqlite in it)")
        store = Store(store)
    rows = []
    for raw in store.rows():
        row: dict[str, Any] = {k: raw[k] for k in ROW_META}
        for key, value in raw["settings"].items():
            if isinstance(value, dict):
                for sub, v in sorted(value.items()):
                    row[f"{key}.{sub}"] = _flat(v) if not isinstance(v, dict) else str(v)
            else:
                row[key] = _flat(value)
        for key, value in raw["result"].items():
            if isinstance(value, (int, float, str, bool)) or value is None:
                row[key] = value
        members = run_members(raw["result"])
        if members is not None:
            row[MEMBERS_KEY] = members
        rows.append(row)
    return rows


def setting_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The columns of tidy rows that are settings of their run kind (seed included), in order."""
    settings = {k for kind in {row["kind"] for row in rows} for k in get_kind(kind).defaults()}
    keys: list[str] = []
    for row in rows:
        for key in row:
            if key not in keys and key.split(".")[0] in settings and key not in ROW_META:
                keys.append(key)
    return keys


def summarize(rows: Sequence[dict[str, Any]], metric: str = "final_return", by: Sequence[str] | None = None,
              normalized: bool = False, reps: int = 2000, seed: int = 0) -> list[dict[str, Any]]:
    """IQM of ``metric`` across seeds, with a 95% stratified bootstrap interval, per group.

    Args:
        rows: tidy rows (:func:`read_rows`).
        metric: the result column to aggregate.
        by: settings that define a group, e.g. ``("algo", "persona", "ablate")``. By default
            every setting but the seed (so that runs differing only in their seed form a
            group); only the settings that vary are shown in the output.
        normalized: aggregate ``(J - J_random) / (J_oracle - J_random)`` instead of ``J``,
            with the exact reference values of each row's (persona, ablation, turn limit).
            Needs ``persona``, ``ablate`` and ``max_turns`` settings (train runs).
        reps, seed: bootstrap resamples and their seed.

    A row with ``members`` (a ``train_jax`` run: several seeds trained at once) is a group of
    its own, and for the metrics :data:`MEMBER_METRICS` its members are the group's seeds:
    their normalized final scores (already normalized, whatever ``normalized`` says), each
    with its evaluation noise in the interval (``iqm_ci`` with ``stderr``).

    Returns:
        One dict per group, in order of first appearance: the group's settings, ``n``
        (seeds), ``seeds``, ``iqm``, ``low``, ``high``, ``mean``.

    Raises:
        ValueError: for a metric or grouping setting that the rows lack, naming it; with
            ``normalized``, for a row whose model has an oracle no better than random.
    """
    from difficult_customer.experiments.library.scores import iqm_ci  # optional extra (report): needs scipy

    if not rows:
        return []
    for key in (metric, *(by or ())):
        if any(key not in row for row in rows):
            allowed = sorted(set().union(*(row.keys() for row in rows)))
            raise ValueError(f"no column {key!r} in every row; allowed: {', '.join(allowed)}")
    if by is None:
        keys = [k for k in setting_columns(rows) if k != SEED_KEY]
        shown = [k for k in keys if len({row.get(k) for row in rows}) > 1]
    else:
        keys = shown = list(by)
    samples = [_samples(row, metric, normalized) for row in rows]
    groups: dict[tuple[Any, ...], list[int]] = {}
    for i, row in enumerate(rows):
        own = (row["run_id"],) if _has_members(row, metric) else ()  # several seeds at once: a group of its own
        groups.setdefault((*(row.get(k) for k in keys), *own), []).append(i)
    out = []
    for group, members in groups.items():
        x = np.array([v for i in members for v in samples[i][0]], dtype=float)
        errors = np.array([e for i in members for e in samples[i][1]], dtype=float)
        noise = errors[:, None] if np.any(errors > 0) else None
        point, low, high = iqm_ci(x[:, None], reps=reps, seed=seed, stderr=noise)
        settings = dict(zip(keys, group[:len(keys)], strict=True))
        seeds = sorted(s for i in members for s in samples[i][2])
        out.append({**{k: settings[k] for k in shown}, "n": len(seeds), "seeds": seeds,
                    "iqm": point, "low": low, "high": high, "mean": float(x.mean())})
    return out


def _has_members(row: dict[str, Any], metric: str) -> bool:
    return bool(row.get(MEMBERS_KEY)) and metric in MEMBER_METRICS


def _samples(row: dict[str, Any], metric: str, normalized: bool) -> tuple[list[float], list[float], list[Any]]:
    """A row's values of ``metric``, their standard errors and seeds: its members', or its own value."""
    if _has_members(row, metric):
        members = row[MEMBERS_KEY]
        return ([m["final"] for m in members], [m["final_stderr"] for m in members], [m["seed"] for m in members])
    return [_value(row, metric, normalized)], [0.0], [row.get(SEED_KEY)]


@functools.cache
def _references(persona: str, ablate: tuple[str, ...], max_turns: int) -> dict[str, float]:
    context = PolicyContext.create(persona=persona, ablate=list(ablate), max_turns=max_turns)
    return {"random": float(random_value(context)), "oracle": float(oracle_value(context))}


def run_references(persona: str, ablate: Sequence[str], max_turns: int) -> dict[str, float]:
    """The exact random and oracle values of a run's (persona, ablation, turn limit), computed once per process."""
    return dict(_references(persona, tuple(sorted(ablate)), int(max_turns)))


def _value(row: dict[str, Any], metric: str, normalized: bool) -> float:
    value = float(row[metric])
    if not normalized:
        return value
    for key in ("persona", "ablate", "max_turns"):
        if key not in row:
            raise ValueError(f"normalized scores need the setting {key!r} in every row (train runs)")
    ablate = [] if row["ablate"] == "none" else str(row["ablate"]).split("-")
    refs = run_references(row["persona"], ablate, int(row["max_turns"]))
    return normalize(value, refs["random"], refs["oracle"])


def export_parquet(store: str | Path | Store, path: str | Path) -> Path:
    """Write the store's tidy rows (:func:`read_rows`) as a Parquet file, atomically; returns ``path``.

    Mapping or list values are written as canonical JSON text.
    """
    import pyarrow as pa  # optional extra (sweep)
    import pyarrow.parquet as pq  # optional extra (sweep)

    rows = read_rows(store)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist([{k: (_json(v) if isinstance(v, (dict, list)) else v) for k, v in r.items()}
                                  for r in rows])
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
