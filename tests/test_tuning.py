"""Choosing tuned hyperparameters from a tuning store (experiments/library/tuning.py)."""

from __future__ import annotations

import pytest

from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.experiments.library.sweep.results import run_references
from difficult_customer.experiments.library.sweep.store import Store
from difficult_customer.experiments.library.tuning import read_tuned, tuning_table, write_tuned

JAX = {"algo": "ppo_jax", "persona": "mixture", "ablate": [], "max_turns": 16, "steps": 1000, "n_envs": 8,
       "n_steps": 16, "epochs": 4, "minibatches": 4, "clip": 0.2, "gae_lambda": 0.95, "hidden": [16, 16]}


def jax_row(store: Store, rid: str, lr: float, finals: list[float]) -> None:
    store.record(rid, "tune", "train_jax", {**JAX, "lr": lr, "seed": 0, "n_seeds": len(finals)},
                 {"final": finals, "final_stderr": [0.0] * len(finals), "curve_source": "exact", "iqm": 0.0})


def test_points_are_ranked_by_the_iqm_of_their_seeds(tmp_path):
    store = Store(tmp_path / "s")
    jax_row(store, "a", 1e-3, [0.80, 0.81, 0.82, 0.10])   # one bad seed: the IQM trims it
    jax_row(store, "b", 3e-4, [0.70, 0.90, 0.71, 0.72])
    table = tuning_table(tmp_path / "s")
    assert [p.hyperparameters["lr"] for p in table.points] == [1e-3, 3e-4]
    assert table.best.low < table.best.iqm < table.best.high  # seeds differ: a real interval
    yaml_path, json_path = write_tuned(table, tmp_path / "tuned")
    tuned = read_tuned(yaml_path)
    assert tuned["lr"] == 1e-3 and tuned["hidden"] == [16, 16] and "seed" not in tuned and "n_seeds" not in tuned
    assert "0.8" in yaml_path.read_text().splitlines()[1]
    assert json_path.exists()


def test_sb3_rows_are_normalized_by_the_exact_references(tmp_path):
    store = Store(tmp_path / "s")
    settings = {"algo": "ppo", "persona": "mixture", "ablate": [], "max_turns": 16, "steps": 1000}
    refs = run_references(settings["persona"], settings["ablate"], settings["max_turns"])
    for seed, ret in enumerate([refs["oracle"], refs["random"]]):
        store.record(f"r{seed}", "tune", "train", {**settings, "seed": seed, "hyperparameters": {"ent_coef": 0.0}},
                     {"final_return": ret, "curve_source": "exact"})
    table = tuning_table(tmp_path / "s")
    assert sorted(table.best.scores) == pytest.approx([0.0, 1.0])
    assert normalize(refs["oracle"], refs["random"], refs["oracle"]) == pytest.approx(1.0)


def test_bad_stores_are_named(tmp_path):
    store = Store(tmp_path / "s")
    with pytest.raises(ValueError, match="no runs"):
        tuning_table(tmp_path / "s")
    jax_row(store, "a", 1e-3, [0.8])
    with pytest.raises(ValueError, match="needs >= 2"):
        tuning_table(tmp_path / "s")
    (tmp_path / "bad.yaml").write_text("other: {}\n")
    with pytest.raises(ValueError, match="DifficultCustomer-v0"):
        read_tuned(tmp_path / "bad.yaml")


def test_the_tuned_command_prints_the_ranking_and_writes_the_files(tmp_path, capsys):
    from difficult_customer.experiments.commands import tuned

    store = Store(tmp_path / "s")
    jax_row(store, "a", 1e-3, [0.80, 0.81, 0.82])
    jax_row(store, "b", 3e-4, [0.70, 0.71, 0.72])
    assert tuned.main(tuned.Config(store=str(tmp_path / "s"), out=str(tmp_path / "tuned"))) == 0
    out = capsys.readouterr().out
    assert "| rank | IQM [95% interval] | seeds | lr |" in out  # only the varied hyperparameter is a column
    assert read_tuned(tmp_path / "tuned" / "ppo_jax.yaml")["lr"] == 1e-3
    assert tuned.main(tuned.Config(store=str(tmp_path / "empty"))) == 2
