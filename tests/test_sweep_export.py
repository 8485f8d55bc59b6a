"""Exporting a results store without its artifacts (what experiments/baselines/ is made with)."""

from __future__ import annotations

import pytest

from difficult_customer.experiments.commands import sweep
from difficult_customer.experiments.library.sweep.store import Store


def test_an_export_keeps_rows_and_studies_but_no_artifacts_or_hosts(tmp_path):
    store = Store(tmp_path / "s")
    store.record("a", "st", "probe", {"seed": 0}, {"value": 0.5}, artifacts={"model.zip": b"x" * 100}, host="pc-1")
    store.record("b", "st", "probe", {"seed": 1}, {"value": 0.7}, host="pc-2")
    store.record_failure("c", "st", "probe", {"seed": 2}, "boom")
    store.save_study("st", "kind: probe\n")
    copy = store.export(tmp_path / "copy")
    assert copy.rows(deterministic=True) == store.rows(deterministic=True)
    assert {r["host"] for r in copy.rows()} == {""} and copy.failures() == []
    assert (tmp_path / "copy" / "studies" / "st.yaml").read_text() == "kind: probe\n"
    assert not any((tmp_path / "copy").rglob("model.zip"))
    with pytest.raises(ValueError, match="already holds a store"):
        store.export(tmp_path / "copy")


def test_the_sweep_command_exports(tmp_path, capsys):
    study = tmp_path / "st.yaml"
    study.write_text("kind: probe\nseeds: 2\n")
    Store(tmp_path / "s").record("a", "st", "probe", {"seed": 0}, {"value": 0.5})
    assert sweep.main(sweep.Config(study=str(study), store=str(tmp_path / "s"), export=str(tmp_path / "e"))) == 0
    assert "1 runs of" in capsys.readouterr().out
    assert sweep.main(sweep.Config(study=str(study), store=str(tmp_path / "s"), export=str(tmp_path / "e"))) == 2


def test_the_summary_of_a_study_of_two_run_kinds_uses_each_kinds_metric(tmp_path, capsys):
    from difficult_customer.experiments.library.sweep.study import load_study

    study_file = tmp_path / "mixed.yaml"
    study_file.write_text("kind: probe\ncases:\n  - {seeds: [0, 1]}\n"
                          "  - {kind: train, algo: ppo, steps: 64, eval_every: 0, seeds: [0, 1]}\n")
    store = Store(tmp_path / "s")
    for i, run in enumerate(load_study(study_file).runs):
        result = {"value": 0.1 * i} if run.kind == "probe" else {"final_return": 0.5 + 0.1 * i}
        store.record(run.run_id, "mixed", run.kind, run.settings, result)
    assert sweep.main(sweep.Config(study=str(study_file), store=str(tmp_path / "s"), progress=False)) == 0
    out = capsys.readouterr().out
    assert "IQM value" in out and "IQM final_return" in out
