"""The ablation study on a tiny budget: rows per claim, conformance changes, files, resuming."""

from __future__ import annotations

import json

import pytest

import difficult_customer.experiments.library.training as training
from difficult_customer.experiments.commands.ablations import AblationConfig, run_ablations, write_ablations
from difficult_customer.experiments.library.budgets import BUDGETS
from difficult_customer.experiments.library.conformance import RULES

pytest.importorskip("stable_baselines3")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("ablations")
    config = AblationConfig(claims=["C6", "C7"], out=str(out), workers=1, budget="tiny", progress=False)
    results = run_ablations(config)
    write_ablations(results, out)
    return config, out, results


@pytest.mark.slow
def test_one_row_per_claim_and_the_optimum_follows_the_ablation(study):
    _, out, results = study
    settings = results["settings"]
    assert list(settings) == ["none", "C6", "C7"]
    steps, seeds = BUDGETS["tiny"].learners["ppo"]
    assert (results["config"]["steps"], results["config"]["seeds"]) == (steps, seeds)
    assert all(len(s["ppo"]["per_seed"]) == seeds for s in settings.values())
    assert settings["C6"]["ablate"] == ["C6"]
    for s in settings.values():
        assert set(s["ppo"]["conformance"]) == set(RULES)
        assert s["optimum"]["low"] <= s["optimum"]["normalized"] <= s["optimum"]["high"]
        assert s["ppo"]["exact_per_seed"]  # PPO's MLP reads only the current observation: valued exactly
        assert 0 < s["bracket"]["lower_normalized"] < s["bracket"]["upper_normalized"] <= 1
    # With C7 off a follow-up earns nothing, so the exact optimum stops following up (R5 collapses).
    assert settings["none"]["optimum"]["conformance"]["R5"]["rate"] > 0.9
    assert settings["C7"]["optimum"]["conformance"]["R5"]["rate"] < 0.5
    text = (out / "ablations.md").read_text()
    assert "| C7 |" in text and (out / "conformance_ppo.png").stat().st_size > 0
    assert json.loads((out / "ablations.json").read_text())["settings"].keys() == settings.keys()


@pytest.mark.slow
def test_a_rerun_trains_nothing_again(study, monkeypatch):
    config, _, results = study

    def no_training(algo):
        raise AssertionError(f"{algo} was trained again")

    monkeypatch.setattr(training, "algorithm_class", no_training)
    again = run_ablations(config)
    assert again["settings"] == results["settings"]


def test_bad_ablation_settings_are_named(tmp_path):
    with pytest.raises(ValueError, match="unknown switch id 'C12'"):
        run_ablations(AblationConfig(claims=["C12"], out=str(tmp_path)))
    with pytest.raises(ValueError, match="unknown budget 'huge'"):
        run_ablations(AblationConfig(budget="huge", out=str(tmp_path)))
    with pytest.raises(ValueError, match="workers=0"):
        run_ablations(AblationConfig(workers=0, out=str(tmp_path)))
