"""Sweeps on Ray, with faults: a worker killed, a node removed, the driver killed and the study resumed.

Runs are ``probe`` runs (no learning; a deterministic value from their settings) except
one tiny real training, so the tests measure the engine, not SB3. The tests on an embedded
Ray share one (started and shut down around them); the others start their own, with one
CPU per node (the machine has two cores, shared). Nothing here asserts on time: waits
poll for a state and give up only after a generous limit, failing with what was seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from difficult_customer import agents  # noqa: E402
from difficult_customer.experiments.library.sweep.engine import run_study  # noqa: E402
from difficult_customer.experiments.library.sweep.runs import get_kind  # noqa: E402
from difficult_customer.experiments.library.sweep.store import Store  # noqa: E402
from difficult_customer.experiments.library.sweep.study import expand_study  # noqa: E402
from difficult_customer.experiments.library.sweep.trainings import run_trainings  # noqa: E402
from difficult_customer.experiments.library.training import TrainConfig, train  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def wait_for(condition: Callable[[], Any], what: str, limit: float = 180.0) -> Any:
    """Poll ``condition`` until it is truthy (returned) or ``limit`` seconds pass (the test fails)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"gave up waiting for {what}")


def markers(folder: Path, label: str) -> list[dict[str, Any]]:
    """The attempts of probe ``label``, oldest first (one marker file per attempt: seed, pid, node id)."""
    out = []
    for path in sorted(folder.glob(f"{label}.*"), key=lambda p: int(p.name.rsplit(".", 1)[1])):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):  # being written
            continue
    return out


def expected_values(study: Any, tmp: Path) -> dict[str, float]:
    """What each probe run returns, computed in this process (marker_dir emptied so as not to count).

    The runs are computed side by side in threads: a probe mostly sleeps its ``seconds``.
    """
    def value(run: Any) -> float:
        work = tmp / f"expected-{run.run_id}"
        work.mkdir()
        return get_kind("probe").run({**run.settings, "marker_dir": ""}, work)["value"]

    with ThreadPoolExecutor(max_workers=len(study.runs)) as pool:
        return dict(zip([r.run_id for r in study.runs], pool.map(value, study.runs), strict=True))


def assert_complete(store: Store, study: Any, tmp: Path) -> None:
    """Every run stored exactly once, with the value it must have."""
    with sqlite3.connect(store.db) as conn:
        ids = [row[0] for row in conn.execute("SELECT run_id FROM runs")]
    assert sorted(ids) == sorted(r.run_id for r in study.runs)  # nothing lost, nothing twice
    expected = expected_values(study, tmp)
    got = {row["run_id"]: row["result"]["value"] for row in store.rows()}
    assert got == expected


@pytest.fixture(scope="class")
def embedded_ray() -> Iterator[None]:
    """One embedded Ray (one CPU) for the tests of a class; shut down before the cluster tests start their own."""
    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.usefixtures("embedded_ray")
class TestOnEmbeddedRay:
    """Runs on one embedded Ray, started once for both tests."""

    def test_killed_worker_run_is_retried_and_application_errors_are_logged(self, tmp_path: Path) -> None:
        marks = tmp_path / "marks"
        marks.mkdir()
        study = expand_study({"name": "worker-kill", "kind": "probe",
                              "fixed": {"seconds": 1.0, "marker_dir": str(marks)},
                              "grid": {"label": ["victim", "other"]}, "seeds": 2})
        victims = [r for r in study.runs if r.settings["label"] == "victim" and r.settings["seed"] == 0]
        assert len(victims) == 1
        victim_label = "victim"
        killed: list[int] = []

        def kill_first_victim_attempt() -> None:
            # Labels are shared by two seeds: the first run of the study (victim, seed 0) starts first.
            first = wait_for(lambda: markers(marks, victim_label), "the victim run to start")
            killed.append(first[0]["pid"])
            os.kill(first[0]["pid"], signal.SIGKILL)

        killer = threading.Thread(target=kill_first_victim_attempt, daemon=True)
        killer.start()
        store = Store(tmp_path / "store")
        state = run_study(study, store, max_retries=3, progress=False)
        killer.join(timeout=5)
        assert killed, "the worker was never killed"
        assert state.failed == 0 and state.done == 4
        attempts = [m["pid"] for m in markers(marks, victim_label) if m["seed"] == 0]
        assert len(attempts) == 2 and attempts[0] == killed[0] != attempts[1]  # killed, then retried elsewhere
        assert_complete(store, study, tmp_path)

        # An exception in a run is an application error: logged, not retried by Ray, redone next time.
        failing = expand_study({"name": "fails", "kind": "probe", "fixed": {"fail": True, "label": "f"}})
        state = run_study(failing, store, progress=False)
        assert state.failed == 1 and state.done == 0
        assert "fails as asked" in state.failures[0]["error"]
        state = run_study(failing, store, progress=False)
        assert state.failed == 1
        assert len(store.failures()) == 2
        assert store.failed_ids() == {failing.runs[0].run_id}
        # A finished study is not redone.
        again = run_study(study, store, progress=False)
        assert again.done == again.done_before == 4

    def test_run_trainings_trains_once_through_the_store(self, tmp_path: Path) -> None:
        configs = [TrainConfig(algo="ppo", persona="mixture", steps=128, n_envs=2, eval_every=0, eval_episodes=4,
                               seed=s, hyperparameters={"n_steps": 64, "batch_size": 64, "n_epochs": 1})
                   for s in (0, 1, 0)]
        results = run_trainings(configs, tmp_path / "store", progress=False)
        assert [r["config"]["seed"] for r in results] == [0, 1, 0]
        assert results[0]["run_id"] == results[2]["run_id"] != results[1]["run_id"]
        # named in words; " #2", " #3", ... where another model of this process holds the name already
        assert Path(results[0]["model"]).exists() and re.fullmatch(r"ppo seed 0( #\d+)?", results[0]["policy"])
        assert agents.spec(results[0]["policy"]).path == Path(results[0]["model"])
        assert all(isinstance(r["final_return"], float) for r in results)
        rows = Store(tmp_path / "store").rows()
        assert len(rows) == 2
        # Deterministic given the seed: the same training in this process gives the same result.
        local = train(TrainConfig(**{**results[1]["config"], "out": str(tmp_path / "local")}), progress=False)
        assert local["final_return"] == results[1]["final_return"]
        assert local["curve"] == results[1]["curve"]
        again = run_trainings(configs[:1], tmp_path / "store", progress=False)  # stored: nothing is trained
        assert again[0]["final_return"] == results[0]["final_return"]


def test_two_node_cluster_runs_a_study_and_survives_losing_a_node(tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    # The head checks each node's health every second and declares it dead after 3 failed checks (the
    # defaults, every 3 s and 5 checks, spend 15 s noticing the node removed below).
    health = {"health_check_initial_delay_ms": 0, "health_check_period_ms": 1000,
              "health_check_failure_threshold": 3}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                             "_system_config": health})
    try:
        worker = cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, logging_level="WARNING")
        head_id = ray.get_runtime_context().get_node_id()
        worker_id = worker.node_id
        assert head_id != worker_id

        # A small study across both nodes.
        marks = tmp_path / "marks"
        marks.mkdir()
        study = expand_study({"name": "two-nodes", "kind": "probe",
                              "fixed": {"seconds": 1.0, "marker_dir": str(marks)},
                              "grid": {"label": ["x", "y"]}, "seeds": 2})
        store = Store(tmp_path / "store")
        state = run_study(study, store, address=cluster.address, progress=False)
        assert state.done == 4 and state.failed == 0
        assert {row["node_id"] for row in store.rows()} == {head_id, worker_id}
        assert_complete(store, study, tmp_path)

        # The worker node is removed while a run is on it: the study completes on the head.
        lost = expand_study({"name": "node-lost", "kind": "probe",
                             "fixed": {"seconds": 1.5, "marker_dir": str(marks)},
                             "grid": {"label": ["n0", "n1", "n2"]}, "seeds": 2})
        removed: list[str] = []

        def remove_worker_node() -> None:
            def started_on_worker() -> list[dict[str, Any]]:
                return [m for label in ("n0", "n1", "n2") for m in markers(marks, label) if m["node_id"] == worker_id]

            wait_for(started_on_worker, "a run to start on the worker node")
            cluster.remove_node(worker, allow_graceful=False)
            removed.append(worker_id)

        remover = threading.Thread(target=remove_worker_node, daemon=True)
        remover.start()
        store2 = Store(tmp_path / "store2")
        state = run_study(lost, store2, address=cluster.address, max_retries=5, progress=False)
        remover.join(timeout=30)
        assert removed, "the worker node was never removed"
        assert state.failed == 0 and state.done == 6
        on_worker = {(label, m["seed"]) for label in ("n0", "n1", "n2") for m in markers(marks, label)
                     if m["node_id"] == worker_id}
        assert on_worker
        finished_on = {(row["settings"]["label"], row["settings"]["seed"]): row["node_id"] for row in store2.rows()}
        # A run caught on the removed node was retried and finished on the head.
        assert any(finished_on[run] == head_id for run in on_worker)
        assert_complete(store2, lost, tmp_path)
    finally:
        ray.shutdown()
        cluster.shutdown()


SWEEP = [sys.executable, "-m", "difficult_customer.experiments.commands.sweep"]


def _sweep(study: Path, store: Path) -> subprocess.Popen[bytes]:
    # Its own session: killing its process group ends the embedded Ray it started, nothing else.
    return subprocess.Popen([*SWEEP, str(study), "--store", str(store), "--num-cpus", "1", "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _stored(store: Path) -> int:
    try:
        with sqlite3.connect(store / "runs.sqlite", timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_driver_killed_mid_study_then_run_again_equals_an_uninterrupted_study(tmp_path: Path) -> None:
    study_file = tmp_path / "resume.yaml"
    study_file.write_text("name: resume\nkind: probe\nfixed: {seconds: 0.3}\ngrid:\n  label: [a, b, c]\nseeds: 3\n")
    interrupted, uninterrupted = tmp_path / "interrupted", tmp_path / "uninterrupted"

    # The uninterrupted study runs beside the whole interrupted one (its own session and embedded Ray).
    whole = _sweep(study_file, uninterrupted)
    try:
        proc = _sweep(study_file, interrupted)
        try:
            wait_for(lambda: _stored(interrupted) >= 2 or proc.poll() is not None, "the first runs to be stored")
            os.kill(proc.pid, signal.SIGKILL)  # the driver only, mid-study
        finally:
            _kill_group(proc)  # and the embedded Ray it leaves behind
        stored_when_killed = _stored(interrupted)
        assert 2 <= stored_when_killed < 9, "the driver was not killed mid-study"

        resumed = _sweep(study_file, interrupted)
        try:
            for sweep in (resumed, whole):
                _, err = sweep.communicate(timeout=300)
                assert sweep.returncode == 0, err.decode()[-2000:]
        finally:
            _kill_group(resumed)
    finally:
        _kill_group(whole)
    a, b = Store(interrupted), Store(uninterrupted)
    assert len(a.rows()) == 9
    assert a.rows(deterministic=True) == b.rows(deterministic=True)
