"""Run a study's runs on Ray: embedded on this machine by default, or on a cluster.

Ray Core, not Ray Tune: a run here is an independent function call (train, evaluate,
return), which is exactly a Ray task, and Ray Core gives what a study needs without a
layer on top: tasks are retried when their worker process or node dies
(``max_retries``), the driver collects results as they finish (``ray.wait``), and the
same code runs on one machine or a cluster (``ray.init(address=...)``). Tune would add
trial schedulers and search algorithms we do not use, keep its own experiment state
beside ours, and name trials by its own ids; resuming would mean restoring Tune's state
rather than reading our store. Here the store is the only state: a run is done when its
row is in the store, so a study is resumed by running it again, on any cluster.

Application errors (an exception in a run) are not retried by Ray (the same settings
would fail the same way); they are logged in the store's ``failures`` table and the run
is tried again the next time the study is run. System failures (a worker process killed,
a node lost) are retried by Ray up to ``max_retries`` times.

Only the driver writes the store, as results arrive; workers send back their result and
artifact files (bytes) through Ray's object store.
"""

from __future__ import annotations

import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from difficult_customer.experiments.library.notices import quiet_gym_notice
from difficult_customer.experiments.library.sweep.runs import get_kind
from difficult_customer.experiments.library.sweep.store import Store
from difficult_customer.experiments.library.sweep.study import Run, Study

DEFAULT_MAX_RETRIES = 3
"""Times Ray retries a run whose worker or node died (application errors are not retried)."""


@dataclass
class Progress:
    """Where a study stands: runs done, running, failed, and the time left."""

    total: int
    done: int = 0
    """Runs in the store (finished before or during this session)."""
    running: int = 0
    """Runs submitted to Ray and not finished (at most the cluster's CPUs)."""
    failed: int = 0
    """Runs that failed in this session (logged; tried again when the study is run again)."""
    done_before: int = 0
    """Runs already in the store when this session started."""
    started: float = field(default_factory=time.monotonic)
    failures: list[dict[str, str]] = field(default_factory=list)
    """``{"run_id", "error"}`` of each failure in this session."""

    @property
    def remaining(self) -> int:
        """Runs neither done nor failed in this session."""
        return self.total - self.done - self.failed

    def runs_per_minute(self, now: float | None = None) -> float | None:
        """Runs finished per minute in this session (None before the first)."""
        finished = self.done - self.done_before
        elapsed = (time.monotonic() if now is None else now) - self.started
        if finished <= 0 or elapsed <= 0:
            return None
        return 60.0 * finished / elapsed

    def eta_seconds(self, now: float | None = None) -> float | None:
        """Estimated seconds left, from this session's rate (None before the first run finishes)."""
        if self.remaining <= 0:
            return 0.0
        rate = self.runs_per_minute(now)
        if rate is None:
            return None
        return 60.0 * self.remaining / rate

    def line(self) -> str:
        """A one-line summary: ``12/24 done, 2 running, 0 failed, ETA 1m30s``."""
        eta = self.eta_seconds()
        return (f"{self.done}/{self.total} done, {self.running} running, {self.failed} failed, "
                f"ETA {_duration(eta) if eta is not None else '?'}")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


def execute_run(kind: str, settings: dict[str, Any], rid: str) -> dict[str, Any]:
    """Do one run in this process (a Ray worker, or any process): the task body.

    Returns:
        ``result`` (the kind's result), ``artifacts`` (file name -> bytes, from the run's
        work folder), ``wall_seconds``, ``host`` and ``node_id`` (where it ran).
    """
    node_id = ""
    try:
        import ray  # optional extra (sweep)

        if ray.is_initialized():
            node_id = ray.get_runtime_context().get_node_id()
    except ImportError:
        pass
    workdir = Path(tempfile.mkdtemp(prefix=f"difficult-customer-run-{rid}-"))
    try:
        started = time.perf_counter()
        result = get_kind(kind).run(settings, workdir)
        wall = time.perf_counter() - started
        artifacts = {p.relative_to(workdir).as_posix(): p.read_bytes()
                     for p in sorted(workdir.rglob("*")) if p.is_file()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return {"result": result, "artifacts": artifacts, "wall_seconds": wall, "host": socket.gethostname(),
            "node_id": node_id}


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Connect to Ray for the duration of the block.

    Args:
        address: None (or ``"local"``) starts an embedded Ray on this machine, stopped at
            the end; ``"auto"`` or ``"HOST:PORT"`` connects to a running cluster. If Ray is
            already initialized in this process, that connection is used and left open.
        num_cpus: CPUs of the embedded Ray (all of this machine's by default); ignored
            when connecting to a cluster.
    """
    import ray  # optional extra (sweep)

    if ray.is_initialized():
        yield
        return
    if address in (None, "", "local"):
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, logging_level="WARNING",
                 runtime_env={"worker_process_setup_hook": quiet_gym_notice})
    else:
        ray.init(address=address, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


def run_study(study: Study, store: Store | str | Path, address: str | None = None, num_cpus: int | None = None,
              max_retries: int = DEFAULT_MAX_RETRIES, max_in_flight: int | None = None, progress: bool = True,
              on_result: Callable[[Run, Progress], None] | None = None) -> Progress:
    """Run every run of ``study`` that is not in ``store`` yet, on Ray.

    Results are stored as they arrive, so killing this (or the machine) loses at most the
    runs in flight; running it again continues. Returns when every run is done or failed.

    Args:
        study: the runs (see ``study.load_study``).
        store: the results store (or its folder).
        address: see :func:`ray_session`.
        num_cpus: CPUs of the embedded Ray.
        max_retries: times Ray retries a run whose worker or node died.
        max_in_flight: runs submitted to Ray at once; by default the cluster's CPUs,
            re-read as nodes come and go (so ``running`` counts runs that are running).
            Raise it on an autoscaling cluster, so that queued runs ask for more nodes.
        progress: show a progress bar (done, running, failed, ETA) on stderr, or, when
            stderr is not a terminal, a line per finished run.
        on_result: called after each run is stored or has failed.

    Returns:
        The final :class:`Progress`: ``failed`` > 0 means some runs are still to do.
    """
    store = store if isinstance(store, Store) else Store(store)
    if study.source:
        store.save_study(study.name, study.source)
    done = store.done_ids()
    todo = [r for r in study.runs if r.run_id not in done]
    state = Progress(total=len(study.runs), done=len(study.runs) - len(todo))
    state.done_before = state.done
    if not todo:
        return state
    if max_retries < 0:
        raise ValueError(f"max_retries={max_retries}; allowed is an integer >= 0")

    bar = _bar(study.name, state) if progress and sys.stderr.isatty() else None
    lines = progress and bar is None  # a log, not a terminal: one line per finished run
    with ray_session(address, num_cpus):
        import ray  # optional extra (sweep)

        remote = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(execute_run)
        pending = list(reversed(todo))
        in_flight: dict[Any, Run] = {}
        cap, cap_checked = 1, 0.0
        state.started = time.monotonic()
        while pending or in_flight:
            if max_in_flight is not None:
                cap = max_in_flight
            elif time.monotonic() - cap_checked > 5.0:
                cap = max(1, int(ray.cluster_resources().get("CPU", 1)))
                cap_checked = time.monotonic()
            while pending and len(in_flight) < cap:
                run = pending.pop()
                in_flight[remote.remote(run.kind, run.settings, run.run_id)] = run
            state.running = len(in_flight)
            _show(bar, state)
            ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
            for ref in ready:
                run = in_flight.pop(ref)
                try:
                    out = ray.get(ref)
                except ray.exceptions.RayError as err:
                    message = f"{type(err).__name__}: {err}"
                    store.record_failure(run.run_id, study.name, run.kind, run.settings, message)
                    state.failed += 1
                    state.failures.append({"run_id": run.run_id, "error": message})
                else:
                    kind = get_kind(run.kind)
                    score = out["result"].get(kind.metric)
                    store.record(run.run_id, study.name, run.kind, run.settings, out["result"],
                                 score=float(score) if isinstance(score, (int, float)) else None,
                                 artifacts=out["artifacts"], wall_seconds=out["wall_seconds"],
                                 host=out["host"], node_id=out["node_id"])
                    state.done += 1
                state.running = len(in_flight)
                if lines:
                    print(f"{study.name}: {state.line()}", file=sys.stderr, flush=True)
                if on_result is not None:
                    on_result(run, state)
            _show(bar, state)
    if bar is not None:
        bar.close()
    return state


def _bar(name: str, state: Progress) -> Any:
    try:
        from tqdm.auto import tqdm  # optional extra (cli)
    except ImportError:
        return None
    return tqdm(total=state.total, initial=state.done, desc=name, file=sys.stderr, dynamic_ncols=True,
                bar_format="{desc}: {n}/{total} done |{bar}|{postfix}")


def _show(bar: Any, state: Progress) -> None:
    if bar is None:
        return
    bar.n = state.done
    eta = state.eta_seconds()
    rate = state.runs_per_minute()
    bar.set_postfix_str(f"{state.running} running, {state.failed} failed, "
                        f"{f'{rate:.1f} runs/min, ' if rate else ''}ETA {_duration(eta) if eta is not None else '?'}")
