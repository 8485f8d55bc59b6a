"""A whole sensitivity study of one variant: sample, solve (resumably, in parallel), analyze."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

from difficult_customer.customer_models.space import Space, space_for
from difficult_customer.experiments.library.io import atomic_write_json
from difficult_customer.experiments.library.progress import progress_bar
from difficult_customer.experiments.library.sensitivity.analysis import analyze
from difficult_customer.experiments.library.sensitivity.checks import default_conclusions, scale_defined
from difficult_customer.experiments.library.sensitivity.design import Design, design_fingerprint, draw
from difficult_customer.experiments.library.sensitivity.models import Record, SolveSettings, finite_record, solve_sample


def read_records(folder: Path, fingerprint: str) -> dict[str, Record]:
    """Records already solved for this fingerprint (resuming), by sample key."""
    out = {}
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a file from an interrupted write is never renamed into place; be safe anyway
        if data.get("fingerprint") == fingerprint:
            out[data["key"]] = data["record"]
    return out


def _solve_one(args: tuple[Space, tuple[float, ...], SolveSettings]) -> Record:
    space, x, settings = args
    return solve_sample(space, x, settings)


def solve_models(
    space: Space,
    jobs: Sequence[tuple[str, Sequence[float]]],
    settings: SolveSettings,
    folder: Path,
    fingerprint: str,
    workers: int = 1,
    progress: str | None = None,
) -> dict[str, Record]:
    """Solve every ``(key, x)`` job not yet stored in ``folder`` under ``fingerprint``, in ``workers`` processes.

    Each record is written atomically to ``folder/<key>.json`` with the fingerprint, so an
    interrupted study resumes and a changed design never mixes with old results.

    Args:
        progress: the progress bar's label, or None for none.

    Returns:
        The record of every job, by key.
    """
    folder.mkdir(parents=True, exist_ok=True)
    done = read_records(folder, fingerprint)
    todo = [(key, tuple(x)) for key, x in jobs if key not in done]
    bar = progress_bar(len(jobs), progress or "", enabled=progress is not None, unit="model")
    bar.update(len(jobs) - len(todo))

    def store(key: str, record: Record) -> None:
        atomic_write_json(folder / f"{key}.json", {"key": key, "fingerprint": fingerprint, "record": record})
        done[key] = record
        bar.update(1)

    try:
        if workers <= 1 or len(todo) < 2:
            for key, x in todo:
                store(key, solve_sample(space, x, settings))
        else:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                results = pool.map(_solve_one, [(space, x, settings) for _, x in todo])
                for (key, _), record in zip(todo, results, strict=True):
                    store(key, record)
    finally:
        bar.close()
    return {key: done[key] for key, _ in jobs}


def run_study(
    variant: str,
    design: Design,
    settings: SolveSettings,
    out: Path,
    workers: int = 1,
    progress: bool = True,
) -> dict[str, Any]:
    """Sample, solve (resumably, in ``workers`` processes) and analyze one variant.

    Every solved sample is written atomically to ``out/samples/<variant>/<key>.json``
    with a fingerprint of the design and settings, so an interrupted study resumes where
    it stopped, and a changed design never mixes with old results.

    Returns:
        The variant's part of ``sensitivity.json``: ``lhs_samples`` counts the models the
        shares are over, ``undefined_models`` the keys of models left out because their
        oracle is no better than random.
    """
    start = time.perf_counter()
    space = space_for(variant)
    problem = space.problem_for(design.group_by)
    fingerprint = design_fingerprint(problem, design, asdict(settings))
    folder = out / "samples" / variant
    samples = draw(problem, design)
    jobs = [("default", space.default_x()), *((s.key, s.x) for s in samples)]
    done = solve_models(space, jobs, settings, folder, fingerprint, workers,
                        f"sensitivity {variant}" if progress else None)
    default = done.pop("default")
    lhs = [s for s in samples if s.design == "lhs"]
    index_samples = [s for s in samples if s.design != "lhs"]
    numeric = {s.key: finite_record(done[s.key]) for s in samples}
    analysis = analyze(problem, design, [numeric[s.key] for s in lhs], index_samples,
                       [numeric[s.key] for s in index_samples], default_conclusions(), finite_record(default))
    return {
        "variant": variant,
        "fingerprint": fingerprint,
        "parameters": [
            {"name": n, "low": b[0], "high": b[1], "group": g, "support": s.support}
            for n, b, g, s in zip(problem.names, problem.bounds, problem.groups, space.specs, strict=True)
        ],
        "groups": sorted(set(problem.groups)),
        "models_solved": len(samples) + 1,
        "default": default,
        "records": {"default": default, **{s.key: done[s.key] for s in lhs}},
        "conclusions": analysis.conclusions,
        "ranks": analysis.ranks,
        "lhs_samples": analysis.samples,
        "undefined_models": [s.key for s in lhs if not scale_defined(numeric[s.key])],
        "seconds": time.perf_counter() - start,
    }


__all__ = ["read_records", "run_study", "solve_models"]
