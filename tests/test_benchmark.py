"""The benchmark command: files, reproducibility, resuming, errors; and atomic result files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import difficult_customer.experiments.library.evaluation as evaluation
from difficult_customer.experiments.commands.benchmark import Config as BenchmarkConfig
from difficult_customer.experiments.commands.benchmark import run_benchmark
from difficult_customer.experiments.library.io import atomic_write_json, read_json

SMALL = dict(episodes=25, personas=["genuine_grievance", "belligerent"],
             policies=["random", "guide_000", "tone_reader"],
             progress=False)


def test_benchmark_writes_json_and_csv_with_a_row_per_cell(tmp_path):
    result = run_benchmark(BenchmarkConfig(out=str(tmp_path), **SMALL))
    assert len(result["rows"]) == 6
    data = json.loads((tmp_path / "benchmark.json").read_text())
    assert data["rows"] == result["rows"]
    csv_lines = (tmp_path / "benchmark.csv").read_text().strip().splitlines()
    assert len(csv_lines) == 7 and csv_lines[0].startswith("persona,policy,episodes,return_mean")
    assert "kind" in csv_lines[0].split(",") and "normalized" in csv_lines[0].split(",")
    for row in result["rows"]:
        assert row["return_ci_low"] <= row["return_mean"] <= row["return_ci_high"]
        assert 0 <= row["success_ci_low"] <= row["success_rate"] <= row["success_ci_high"] <= 1
        rates = row["solved_rate"] + row["walk_away_rate"] + row["abuse_end_rate"] + row["timeout_rate"]
        assert rates == pytest.approx(1.0)


def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path):
    a = run_benchmark(BenchmarkConfig(out=str(tmp_path / "a"), **SMALL))["rows"]
    b = run_benchmark(BenchmarkConfig(out=str(tmp_path / "b"), **SMALL))["rows"]
    c = run_benchmark(BenchmarkConfig(out=str(tmp_path / "c"), seed=1, **SMALL))["rows"]
    assert a == b
    assert [r["return_mean"] for r in a] != [r["return_mean"] for r in c]


def test_an_interrupted_run_resumes_from_finished_cells(tmp_path, monkeypatch):
    config = BenchmarkConfig(out=str(tmp_path), **SMALL)
    calls = []
    real = evaluation.run_episodes

    def dying(policy, context, seeds, **kwargs):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(policy)
        return real(policy, context, seeds, **kwargs)

    monkeypatch.setattr(evaluation, "run_episodes", dying)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(config)
    assert len(list((tmp_path / "cells").glob("*.json"))) == 3
    assert not list(tmp_path.rglob("*.tmp"))

    calls.clear()
    monkeypatch.setattr(evaluation, "run_episodes", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    resumed = run_benchmark(config)["rows"]
    assert len(calls) == 3  # only the cells that had not finished
    monkeypatch.setattr(evaluation, "run_episodes", real)
    fresh = run_benchmark(BenchmarkConfig(out=str(tmp_path / "fresh"), **SMALL))["rows"]
    assert resumed == fresh


def test_changed_settings_recompute_cells(tmp_path, monkeypatch):
    run_benchmark(BenchmarkConfig(out=str(tmp_path), **SMALL))
    calls = []
    real = evaluation.run_episodes
    monkeypatch.setattr(evaluation, "run_episodes", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    run_benchmark(BenchmarkConfig(out=str(tmp_path), **{**SMALL, "episodes": 10}))
    assert len(calls) == 6


@pytest.mark.parametrize(
    "change, message",
    [
        ({"personas": ["angry_bob"]}, "unknown persona 'angry_bob'"),
        ({"policies": ["nope"]}, "unknown policy 'nope'"),
        ({"episodes": 0}, "episodes=0"),
        ({"ablate": ["C11"]}, "unknown switch id 'C11'"),
    ],
)
def test_bad_settings_are_named(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        run_benchmark(BenchmarkConfig(out=str(tmp_path), **{**SMALL, **change}))


def test_command_line_prints_the_table_and_rejects_bad_input(tmp_path):
    cmd = [sys.executable, "-m", "difficult_customer.experiments", "benchmark", "--episodes", "10",
           "--personas", "reasonable",
           "--policies", "random", "solution_first", "--no-progress", "--out", str(tmp_path)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    assert "solution_first" in done.stdout and "return (95% CI)" in done.stdout
    bad = subprocess.run([*cmd[:-2], "--personas", "nobody", "--out", str(tmp_path)], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown persona 'nobody'" in bad.stderr
    unknown = subprocess.run([sys.executable, "-m", "difficult_customer.experiments", "frobnicate"],
                             capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown command 'frobnicate'" in unknown.stderr


def test_atomic_write_replaces_whole_files_and_bad_json_is_named(tmp_path):
    path = tmp_path / "x" / "r.json"
    atomic_write_json(path, {"a": 1})
    atomic_write_json(path, {"a": 2})
    assert read_json(path) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]
    path.write_text("{not json")
    with pytest.raises(ValueError, match=r"r\.json is not valid JSON"):
        read_json(path)
    assert read_json(Path(tmp_path) / "missing.json") is None


def test_normalized_score_is_0_for_random_and_1_for_the_oracle_and_exact_where_possible(tmp_path):
    rows = run_benchmark(BenchmarkConfig(out=str(tmp_path), episodes=40, personas=["mixture"],
                                         policies=["random", "oracle", "guide_000", "qmdp"], progress=False))["rows"]
    by = {r["policy"]: r for r in rows}
    assert by["random"]["normalized"] == pytest.approx(0.0) and by["oracle"]["normalized"] == pytest.approx(1.0)
    assert by["guide_000"]["source"] == "exact" and by["qmdp"]["source"] == "monte carlo"
    assert by["oracle"]["kind"] == "oracle" and by["qmdp"]["kind"] == "exact" and by["guide_000"]["kind"] == "guide"
    q = by["qmdp"]  # sampled on 40 conversations: only its interval can be held against exact bounds
    assert q["normalized_low"] < q["normalized"] < q["normalized_high"]
    assert 0.2 < by["guide_000"]["normalized"] < q["normalized_high"] and q["normalized_low"] < 1.0


def test_resumed_scores_are_read_back_not_recomputed(tmp_path, monkeypatch):
    config = BenchmarkConfig(out=str(tmp_path), episodes=20, personas=["mixture"], policies=["guide_000", "qmdp"],
                             progress=False)
    first = run_benchmark(config)["rows"]

    def no_values(*args, **kwargs):
        raise AssertionError("a stored score was recomputed")

    monkeypatch.setattr(evaluation, "policy_value", no_values)
    monkeypatch.setattr(evaluation, "run_episodes", no_values)
    assert run_benchmark(config)["rows"] == first


def test_the_shared_grid_scores_only_what_it_is_asked_to(tmp_path):
    from difficult_customer.experiments.library.evaluation import evaluate_grid

    grid = evaluate_grid(["random", "guide_000"], ["reasonable", "belligerent"], range(12), tmp_path,
                         score=["guide_000"], progress=False)
    assert set(grid.episodes) == {(p, n) for p in ("reasonable", "belligerent") for n in ("random", "guide_000")}
    assert set(grid.scores) == {("reasonable", "guide_000"), ("belligerent", "guide_000")}
    assert all(len(eps) == 12 for eps in grid.episodes.values())
    pooled = grid.pooled("reasonable", ["random", "guide_000"])
    assert pooled == grid.episodes[("reasonable", "random")] + grid.episodes[("reasonable", "guide_000")]
    refs = grid.references["belligerent"]
    assert refs["random"] < refs["oracle"] and grid.contexts["belligerent"].persona == "belligerent"
