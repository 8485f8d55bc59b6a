"""Sweeps without Ray: study files and their errors, stable run ids, the store, tidy rows and IQMs."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from difficult_customer.experiments.library.sweep.engine import Progress, execute_run
from difficult_customer.experiments.library.sweep.results import export_parquet, read_rows, summarize
from difficult_customer.experiments.library.sweep.store import DETERMINISTIC_COLUMNS, Store
from difficult_customer.experiments.library.sweep.study import expand_study, load_study, run_id

STUDIES = Path(__file__).resolve().parents[1] / "experiments" / "studies"


def probe_study(**extra: Any) -> dict[str, Any]:
    return {"kind": "probe", "grid": {"label": ["a", "b"]}, "seeds": 3, **extra}


def test_grid_seeds_expand_to_every_combination_with_distinct_stable_ids() -> None:
    study = expand_study(probe_study())
    assert len(study.runs) == 6
    assert len({r.run_id for r in study.runs}) == 6
    assert [(r.settings["label"], r.settings["seed"]) for r in study.runs[:3]] == [("a", 0), ("a", 1), ("a", 2)]
    again = expand_study(probe_study())
    assert [r.run_id for r in again.runs] == [r.run_id for r in study.runs]
    # The id depends on the settings, not on the study: the same run in a larger study has the same id.
    bigger = expand_study({"kind": "probe", "grid": {"label": ["a", "b", "c"]}, "seeds": [0, 1, 2, 5]})
    assert {r.run_id for r in study.runs} < {r.run_id for r in bigger.runs}
    assert study.runs[0].run_id == run_id("probe", study.runs[0].settings)


def test_shipped_24_run_study_expands_to_3_algorithms_2_personas_4_seeds() -> None:
    study = load_study(STUDIES / "algorithms-by-persona.yaml")
    assert study.kind == "train"
    assert len(study.runs) == 24
    combos = {(r.settings["algo"], r.settings["persona"], r.settings["seed"]) for r in study.runs}
    assert len(combos) == 24
    assert {r.settings["steps"] for r in study.runs} == {2048}


def test_every_shipped_study_file_is_valid() -> None:
    files = sorted(STUDIES.glob("*.yaml"))
    assert files
    for path in files:
        assert load_study(path).runs, path


def test_sobol_and_random_samples_are_seeded_and_inside_their_box() -> None:
    space = {"seconds": {"low": 0.001, "high": 0.1, "log": True}}
    for method in ("sobol", "random"):
        spec = {"kind": "probe", "sample": {"method": method, "n": 8, "seed": 3, "space": space}}
        a, b = expand_study(spec), expand_study(spec)
        values = [r.settings["seconds"] for r in a.runs]
        assert values == [r.settings["seconds"] for r in b.runs]
        assert len(set(values)) == 8
        assert all(0.001 <= v <= 0.1 for v in values)
    other = expand_study({"kind": "probe", "sample": {"method": "sobol", "n": 8, "seed": 4, "space": space}})
    assert [r.settings["seconds"] for r in other.runs] != values


def test_dotted_keys_set_hyperparameters_and_cases_cross_the_grid() -> None:
    study = expand_study({"kind": "train", "fixed": {"steps": 64, "hyperparameters.learning_rate": 0.01},
                          "grid": {"algo": ["ppo", "a2c"]}, "cases": [{}, {"ablate": ["C4"]}], "seeds": 2})
    assert len(study.runs) == 8
    assert all(r.settings["hyperparameters"] == {"learning_rate": 0.01} for r in study.runs)
    assert sum(r.settings["ablate"] == ["C4"] for r in study.runs) == 4


@pytest.mark.parametrize(("spec", "message"), [
    ({"kind": "probe", "grdi": {}}, "unknown key 'grdi' in study; allowed: name, kind, fixed, grid"),
    ({"kind": "nope"}, "unknown run kind 'nope'; allowed: "),
    ({"kind": "probe", "grid": {"colour": [1]}}, "unknown setting 'colour' in grid; allowed: "),
    ({"kind": "probe", "grid": {"label": "a"}}, "grid.label must be a non-empty list"),
    ({"kind": "probe", "grid": {"seed": [1]}, "seeds": 2}, "seed set in both grid and seeds"),
    ({"kind": "probe", "seeds": 0}, "seeds=0; allowed: an integer >= 1"),
    ({"kind": "probe", "fixed": {"seconds": "long"}}, "setting seconds='long' is a str; allowed: float"),
    ({"kind": "probe", "fixed": {"seconds": -1}}, "seconds=-1; allowed is a number >= 0"),
    ({"kind": "probe", "cases": [{"label": "a"}, {"label": "a"}]}, "is the same run as run #1"),
    ({"kind": "probe", "cases": [{}], "variants": [{}]}, "'variants' is the old name of 'cases'"),
    ({"kind": "probe", "sample": {"method": "grid", "n": 2, "space": {"seconds": {"low": 0, "high": 1}}}},
     "sample.method='grid'; allowed: sobol, random"),
    ({"kind": "probe", "sample": {"n": 2, "space": {"seconds": {"low": 1, "high": 0}}}},
     "allowed: numbers with low < high"),
    ({"kind": "probe", "sample": {"n": 2, "space": {"seconds": {"low": 0, "hi": 1}}}},
     "unknown key 'hi' in sample.space.seconds"),
    ({"kind": "train", "grid": {"algo": ["ppo", "sarsa"]}}, "unknown algorithm 'sarsa'; allowed: ppo"),
    ({"kind": "train", "grid": {"persona": ["grumpy"]}}, "unknown persona 'grumpy'; allowed: "),
    ({"kind": "train", "fixed": {"hyperparameters.learning_rat": 0.1}},
     "unknown hyperparameter 'learning_rat' for ppo"),
    ({"kind": "train", "fixed": {"hyperparameters.learning_rate": "1e-3"}}, "write 1.0e-3"),
    ({"kind": "train", "fixed": {"steps": 1.5}}, "setting steps=1.5 is a float; allowed: int"),
    ({"kind": "train", "fixed": {"steps.x": 1}}, "'steps' is not a mapping"),
])
def test_bad_study_is_a_clear_error_naming_the_key_and_what_is_allowed(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as err:
        expand_study(spec)
    assert message in str(err.value)


def test_study_file_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: probe\nseeds: [1, 1]\n")
    with pytest.raises(ValueError, match=r"bad.yaml.*repeats a seed"):
        load_study(bad)
    bad.write_text("kind: probe\ngrid: [\n")
    with pytest.raises(ValueError, match="is not valid YAML"):
        load_study(bad)
    with pytest.raises(ValueError, match="does not exist"):
        load_study(tmp_path / "missing.yaml")


def _record(store: Store, run: Any, study: str = "s") -> bool:
    out = execute_run(run.kind, run.settings, run.run_id)
    return store.record(run.run_id, study, run.kind, run.settings, out["result"], score=out["result"]["value"],
                        artifacts=out["artifacts"], wall_seconds=out["wall_seconds"], host=out["host"])


def test_store_appends_each_run_once_with_its_artifacts(tmp_path: Path) -> None:
    study = expand_study(probe_study())
    store = Store(tmp_path / "store")
    assert all(_record(store, run) for run in study.runs)
    assert not _record(store, study.runs[0])  # a second finish of the same run changes nothing
    assert store.done_ids() == {r.run_id for r in study.runs}
    with sqlite3.connect(store.db) as conn:
        assert conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 6
    for run in study.runs:
        assert (store.artifact_dir(run.run_id) / "probe.txt").exists()
    rows = store.rows(deterministic=True)
    assert set(rows[0]) == set(DETERMINISTIC_COLUMNS)
    # The same runs done again elsewhere give the same deterministic rows.
    other = Store(tmp_path / "other")
    for run in reversed(study.runs):
        _record(other, run)
    assert other.rows(deterministic=True) == rows


def test_store_cleans_artifacts_of_a_driver_killed_mid_write(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    run = expand_study(probe_study()).runs[0]
    half = store.path / "artifacts" / f".tmp-{run.run_id}-x"
    half.mkdir()
    (half / "model.zip").write_bytes(b"partial")
    orphan = store.artifact_dir(run.run_id)  # renamed into place, then killed before the row
    orphan.mkdir()
    (orphan / "stale.txt").write_text("stale")
    store = Store(tmp_path / "store")
    assert not half.exists()
    assert _record(store, run)
    assert not (orphan / "stale.txt").exists()
    assert (orphan / "probe.txt").exists()


def test_failures_are_logged_and_stay_to_be_done(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    run = expand_study(probe_study()).runs[0]
    store.record_failure(run.run_id, "s", run.kind, run.settings, "RuntimeError: boom")
    assert store.failed_ids() == {run.run_id}
    assert run.run_id not in store.done_ids()
    assert store.failures()[0]["error"] == "RuntimeError: boom"
    _record(store, run)
    assert store.failed_ids() == set()


def test_artifact_names_cannot_leave_the_run_folder(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    with pytest.raises(ValueError, match="leaves the run's folder"):
        store.record("abc", "s", "probe", {}, {}, artifacts={"../../evil.txt": b"x"})
    assert not (tmp_path / "evil.txt").exists()
    assert store.done_ids() == set()


def test_probe_fail_raises_an_application_error(tmp_path: Path) -> None:
    run = expand_study({"kind": "probe", "fixed": {"fail": True}}).runs[0]
    with pytest.raises(RuntimeError, match="fails as asked"):
        execute_run(run.kind, run.settings, run.run_id)


def test_tidy_rows_and_iqm_per_group_across_seeds(tmp_path: Path) -> None:
    from difficult_customer.experiments.library.scores import iqm_ci

    study = expand_study({"kind": "probe", "grid": {"label": ["a", "b"]}, "seeds": 5})
    store = Store(tmp_path / "store")
    for run in study.runs:
        _record(store, run)
    rows = read_rows(store.path)
    assert len(rows) == 10
    assert {"run_id", "label", "seed", "value", "wall_seconds"} <= set(rows[0])
    groups = summarize(rows, metric="value")
    assert [g["label"] for g in sorted(groups, key=lambda g: g["label"])] == ["a", "b"]
    a = next(g for g in groups if g["label"] == "a")
    values = [r["value"] for r in rows if r["label"] == "a"]
    assert a["n"] == 5 and a["seeds"] == [0, 1, 2, 3, 4]
    expected = iqm_ci([[v] for v in values])
    assert (a["iqm"], a["low"], a["high"]) == pytest.approx(expected)
    assert a["low"] <= a["iqm"] <= a["high"]
    with pytest.raises(ValueError, match="no column 'final_return'"):
        summarize(rows)
    with pytest.raises(ValueError, match="is not a results store"):
        read_rows(tmp_path / "nothing")


def test_parquet_export_has_one_row_per_run(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    store = Store(tmp_path / "store")
    for run in expand_study(probe_study()).runs:
        _record(store, run)
    table = pq.read_table(export_parquet(store, tmp_path / "runs.parquet"))
    assert table.num_rows == 6
    assert sorted(table.column("run_id").to_pylist()) == sorted(store.done_ids())


def test_progress_counts_and_eta() -> None:
    state = Progress(total=10, done=4, done_before=2, started=100.0)
    assert state.remaining == 6
    assert state.runs_per_minute(now=160.0) == pytest.approx(2.0)  # 2 runs in 60 s
    assert state.eta_seconds(now=160.0) == pytest.approx(180.0)  # 6 runs at 2 per minute
    assert Progress(total=3, done=1, done_before=1).eta_seconds() is None  # nothing finished yet
    assert Progress(total=3, done=3).eta_seconds() == 0.0
    assert "4/10 done" in state.line()


def test_sweep_command_refuses_bad_input_with_status_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from difficult_customer.experiments.commands.sweep import Config, main

    bad = tmp_path / "s.yaml"
    bad.write_text("kind: probe\nfixed: {colour: red}\n")
    assert main(Config(study=str(bad), store=str(tmp_path / "st"))) == 2
    assert "unknown setting 'colour' in fixed" in capsys.readouterr().err
    good = tmp_path / "g.yaml"
    good.write_text("kind: probe\nseeds: 2\n")
    assert main(Config(study=str(good), store=str(tmp_path / "st"), num_cpus=0)) == 2
    assert main(Config(study=str(good), store=str(tmp_path / "st"), dry_run=True)) == 0
    assert "2 runs, 0 done" in capsys.readouterr().out


def test_normalized_iqm_uses_the_exact_references_of_each_rows_persona() -> None:
    from difficult_customer.agents import PolicyContext
    from difficult_customer.agents.exact.normalize import normalize
    from difficult_customer.experiments.library.scores import reference_values

    rows = [{"run_id": str(s), "study": "s", "kind": "train", "wall_seconds": 1.0, "host": "h", "algo": "ppo",
             "persona": "belligerent", "ablate": "none", "max_turns": 16, "seed": s, "final_return": r}
            for s, r in enumerate([-0.2, 0.1, 0.3, 0.9])]
    refs = reference_values(PolicyContext.create(persona="belligerent", ablate=[], max_turns=16))
    (group,) = summarize(rows, normalized=True)
    expected = sorted(normalize(r["final_return"], refs["random"], refs["oracle"]) for r in rows)
    assert group["n"] == 4
    assert group["mean"] == pytest.approx(sum(expected) / 4)
    assert group["iqm"] == pytest.approx((expected[1] + expected[2]) / 2)  # the middle two of four


def test_the_old_study_key_variants_still_works_with_a_warning() -> None:
    data = {"kind": "probe", "grid": {"label": ["a", "b"]}, "seeds": 1}
    with pytest.warns(DeprecationWarning, match="'variants' is deprecated; use 'cases'"):
        old = expand_study({**data, "variants": [{}, {"seconds": 0.001}]})
    new = expand_study({**data, "cases": [{}, {"seconds": 0.001}]})
    assert len(old.runs) == 4 and [r.settings for r in old.runs] == [r.settings for r in new.runs]
