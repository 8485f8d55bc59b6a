"""The ablation study on a tiny budget: rows per claim, conformance changes, files, resuming."""

from __future__ import annotations

import pytest

import difficult_customer.experiments.library.sweep.engine as engine
import difficult_customer.experiments.library.training as training
from difficult_customer.experiments.commands.ablations import Config, main
from difficult_customer.experiments.library.budgets import BUDGETS
from difficult_customer.experiments.library.conformance import RULES
from difficult_customer.experiments.library.report.ablations import build_ablations
from difficult_customer.experiments.library.report.files import write_report
from difficult_customer.experiments.library.report.render import render, score_cell
from difficult_customer.experiments.library.report.results import AblationResults, load

pytest.importorskip("stable_baselines3")

CLAIMS = ["C7"]


@pytest.fixture(scope="module")
def study(tmp_path_factory, shared_ray):
    out = tmp_path_factory.mktemp("ablations")
    results = build_ablations(CLAIMS, out, budget_name="tiny", workers=1, progress=False)
    write_report(results, out)
    return out, results


@pytest.mark.slow
def test_one_row_per_claim_and_the_optimum_follows_the_ablation(study):
    out, results = study
    settings = results.settings
    assert list(settings) == ["none", "C7"]
    steps, seeds = BUDGETS["tiny"].learners["ppo"]
    assert (results.steps, results.seeds) == (steps, seeds)
    assert all(len(s.learner.per_seed) == seeds for s in settings.values())
    assert settings["C7"].ablate == ["C7"]
    for s in settings.values():
        assert set(s.learner_conformance) == set(RULES)
        assert s.optimum.normalized_low <= s.optimum.normalized <= s.optimum.normalized_high
        assert s.learner.exact_per_seed  # PPO's MLP reads only the current observation: valued exactly
        assert 0 < s.bracket.lower_normalized < s.bracket.upper_normalized <= 1
    # With C7 off a follow-up earns nothing, so the exact optimum stops following up (R5 collapses).
    assert settings["none"].optimum_conformance["R5"].rate > 0.9
    assert settings["C7"].optimum_conformance["R5"].rate < 0.5


@pytest.mark.slow
def test_the_study_is_written_through_the_report_pipeline_and_loads_back(study):
    out, results = study
    loaded = load(out / "ablations.json")
    assert isinstance(loaded, AblationResults) and loaded == results
    text = (out / "ablations.md").read_text()
    assert text == render(results)
    assert "| C7 |" in text and score_cell(results.settings["C7"].learner) in text
    assert (out / "conformance_learner.png").stat().st_size > 0 and (out / "conformance_optimum.png").exists()


@pytest.mark.slow
def test_a_rerun_trains_nothing_again(study, monkeypatch):
    out, results = study

    def no_training(algo):
        raise AssertionError(f"{algo} was trained again")

    def no_ray(*args, **kwargs):
        raise AssertionError("runs were sent to Ray to be trained again")

    monkeypatch.setattr(training, "algorithm_class", no_training)  # trained in this process (without Ray)
    monkeypatch.setattr(engine, "ray_session", no_ray)  # or on Ray, whose workers this patch does not reach
    again = build_ablations(CLAIMS, out, budget_name="tiny", workers=1, progress=False)
    assert again.settings == results.settings


@pytest.mark.parametrize("change, message", [
    ({"claims": ["C12"]}, "unknown switch id 'C12'"),
    ({"budget": "huge"}, "unknown budget 'huge'"),
    ({"workers": 0}, "workers=0"),
])
def test_bad_ablation_settings_are_named(tmp_path, capsys, change, message):
    assert main(Config(out=str(tmp_path), **change)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before anything trains
