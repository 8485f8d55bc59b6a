"""Run a study (many trainings) on Ray: every core of this machine by default, or a cluster.

``difficult-customer sweep STUDY.yaml`` expands the study file (algorithms,
hyperparameters, personas, ablations, random or Sobol samples, seeds; see
``experiments/studies/*.yaml``) into runs with stable ids, runs those not yet in the
store on an embedded Ray over all cores, and appends each result to the store as it
finishes (``runs.sqlite``, one row per run, and ``artifacts/<run_id>/``). Running the
command again continues the study; a finished run is never redone, a failed one is
tried again. ``--address auto`` (or ``HOST:PORT``) runs the same study on a running Ray
cluster. See docs/scale.md.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from difficult_customer.experiments.library.sweep.engine import DEFAULT_MAX_RETRIES, run_study
from difficult_customer.experiments.library.sweep.results import read_rows, summarize
from difficult_customer.experiments.library.sweep.runs import get_kind
from difficult_customer.experiments.library.sweep.store import Store
from difficult_customer.experiments.library.sweep.study import load_study


@dataclass
class Config:
    """Options of ``difficult-customer sweep``."""

    study: Annotated[str, tyro.conf.Positional]
    """The study file (YAML): what to vary, see experiments/studies/."""
    store: str | None = None
    """Folder of the results store; by default results/sweeps/<study name>."""
    address: str | None = None
    """Ray to run on: none starts an embedded Ray on this machine; 'auto' or HOST:PORT joins a running cluster."""
    num_cpus: int | None = None
    """CPUs of the embedded Ray (default: all); ignored with --address."""
    max_retries: int = DEFAULT_MAX_RETRIES
    """Times a run is retried when its worker process or node dies."""
    max_in_flight: int | None = None
    """Runs submitted at once (default: the cluster's CPUs); raise it on an autoscaling cluster."""
    dry_run: bool = False
    """List the runs (and which are done) without running anything."""
    progress: bool = True
    """Show a progress bar (done, running, failed, ETA)."""
    export: str | None = None
    """Copy the store's rows and study files (no artifacts, no host names) to this new folder, and run nothing."""


def main(config: Config) -> int:
    """Run (or continue) the study; 0 if every run is done, 1 if some failed, 2 on bad input."""
    try:
        study = load_study(config.study)
        if config.num_cpus is not None and config.num_cpus < 1:
            raise ValueError(f"num_cpus={config.num_cpus}; allowed is an integer >= 1")
        if config.max_in_flight is not None and config.max_in_flight < 1:
            raise ValueError(f"max_in_flight={config.max_in_flight}; allowed is an integer >= 1")
        if config.max_retries < 0:
            raise ValueError(f"max_retries={config.max_retries}; allowed is an integer >= 0")
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    store = Store(Path(config.store) if config.store else Path("results") / "sweeps" / study.name)
    if config.export:
        try:
            copy = store.export(config.export)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"{len(copy.rows())} runs of {store.path} copied without artifacts to {copy.path}")
        return 0
    if config.dry_run:
        done = store.done_ids()
        for run in study.runs:
            print(f"{run.run_id}  {'done' if run.run_id in done else 'todo'}  {run.settings}")
        print(f"{len(study.runs)} runs, {sum(r.run_id in done for r in study.runs)} done; store {store.path}")
        return 0
    print(f"study {study.name}: {len(study.runs)} runs -> {store.path}", file=sys.stderr)
    state = run_study(study, store, address=config.address, num_cpus=config.num_cpus,
                      max_retries=config.max_retries, max_in_flight=config.max_in_flight,
                      progress=config.progress)
    print(state.line(), file=sys.stderr)
    for failure in state.failures:
        print(f"failed {failure['run_id']}: {failure['error'].splitlines()[0]}", file=sys.stderr)
    if state.failed:
        print("run the same command again to retry the failed runs", file=sys.stderr)
        return 1
    order = {r.run_id: i for i, r in enumerate(study.runs)}
    rows = sorted((r for r in read_rows(store) if r["run_id"] in order), key=lambda r: order[r["run_id"]])
    for kind in dict.fromkeys(r["kind"] for r in rows):  # a study's cases may be of several run kinds
        metric = get_kind(kind).metric
        for group in summarize([r for r in rows if r["kind"] == kind], metric=metric):
            label = ", ".join(f"{k}={v}" for k, v in group.items()
                              if k not in ("n", "seeds", "iqm", "low", "high", "mean"))
            print(f"{label or 'all'}: IQM {metric} {group['iqm']:+.3f} [{group['low']:+.3f}, {group['high']:+.3f}] "
                  f"over {group['n']} seeds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(tyro.cli(Config)))
