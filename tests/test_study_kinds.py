"""A study whose cases name their own run kind (a study of SB3 and JAX learners in one store)."""

from __future__ import annotations

import pytest

from difficult_customer.experiments.library.sweep.study import expand_study

pytest.importorskip("jax")


def test_a_case_may_name_its_own_run_kind():
    study = expand_study({"kind": "train", "fixed": {"persona": "mixture"}, "seeds": 2, "cases": [
        {"algo": "ppo", "steps": 512},
        {"kind": "train_jax", "algo": "gru_ppo_jax", "steps": 4096, "n_seeds": 10, "seeds": [0, 10]},
        {"kind": "train_jax", "algo": "ppo_jax", "steps": 4096, "n_seeds": 10, "seeds": [0]},
    ]})
    kinds = [run.kind for run in study.runs]
    assert kinds == ["train", "train", "train_jax", "train_jax", "train_jax"]
    assert [run.settings["seed"] for run in study.runs] == [0, 1, 0, 10, 0]
    jax_run = study.runs[2].settings
    assert jax_run["n_seeds"] == 10 and jax_run["algo"] == "gru_ppo_jax" and "observation" not in jax_run
    assert "n_seeds" not in study.runs[0].settings
    assert len({run.run_id for run in study.runs}) == 5


def test_a_setting_the_case_kind_lacks_is_named_with_the_kind():
    with pytest.raises(ValueError, match=r"unknown setting 'observation' in fixed \(train_jax\)"):
        expand_study({"kind": "train", "fixed": {"observation": "partial"},
                      "cases": [{"algo": "ppo"}, {"kind": "train_jax", "algo": "ppo_jax"}]})
    with pytest.raises(ValueError, match="seeds=0"):
        expand_study({"cases": [{"algo": "ppo", "seeds": 0}]})
    with pytest.raises(ValueError, match="unknown run kind 'nope'"):
        expand_study({"cases": [{"kind": "nope"}]})
