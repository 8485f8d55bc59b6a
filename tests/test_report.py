"""The report on a tiny budget: every file, honest intervals, exact scores, findings, resuming, a store."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from difficult_customer.experiments.commands.report import Config as ReportConfig
from difficult_customer.experiments.library import findings
from difficult_customer.experiments.library.budgets import BUDGETS
from difficult_customer.experiments.library.conformance import RULES
from difficult_customer.experiments.library.numbers import fmt, interval
from difficult_customer.experiments.library.report import build, render, robustness
from difficult_customer.experiments.library.report.build import build_results
from difficult_customer.experiments.library.report.files import write_report
from difficult_customer.experiments.library.report.render import rate_cell, score_cell
from difficult_customer.experiments.library.report.results import (
    Headline,
    Results,
    RuleRate,
    Score,
    from_data,
    load,
    to_data,
)
from difficult_customer.experiments.library.report.store import store_results

pytest.importorskip("stable_baselines3")
pytest.importorskip("matplotlib")

PERSONAS = ["mixture", "belligerent"]


def _strip(results: Results) -> dict:
    """Results without wall times and paths, which differ between runs."""
    data = json.loads(json.dumps(to_data(results), sort_keys=True))
    data["settings"].pop("wall_seconds")
    for runs in data["training"].values():
        for run in runs:
            run.pop("wall_seconds")
            run.pop("model")
    for bracket in data["brackets"].values():
        bracket.pop("seconds")
    return data


def _config(out, **change) -> ReportConfig:
    return ReportConfig(budget="tiny", out=str(out), workers=1, progress=False, personas=PERSONAS, **change)


@pytest.fixture(scope="module")
def side_study(tmp_path_factory):
    """A report's quick sensitivity study of 2 models, in the process a report starts for it (``build._start_study``).

    Requested first by ``tiny``, so that it is solved beside the tiny report's evaluation, as a
    report solves its study beside its own (on the core the evaluation leaves idle).
    """
    out = tmp_path_factory.mktemp("side-study")
    side = build._start_study(ReportConfig(out=str(out), robustness_samples=2), "default", out)
    yield out, side
    if side.is_alive():
        side.terminate()
        side.join()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, side_study, shared_ray):
    out = tmp_path_factory.mktemp("report")
    results = build_results(_config(out))
    write_report(results, out)
    return out, results


# ----------------------------------------------------------------------------- formatting (fast)
def _score(**fields) -> Score:
    return Score(**{"kind": "learned", "value": 0.0, "interval": "", **fields})


@pytest.mark.parametrize("score, text", [
    ({"normalized": 0.5, "normalized_low": 0.5, "normalized_high": 0.5, "source": "exact"}, "0.500 (exact)"),
    ({"normalized": 0.876, "normalized_low": 0.876, "normalized_high": 0.876, "source": "iqm", "seeds": 1},
     "0.876 (1 seed, exact)"),
    ({"normalized": 0.876, "normalized_low": 0.806, "normalized_high": 0.946, "source": "iqm", "seeds": 1,
      "episodes_per_seed": 2000}, "0.876 [0.806, 0.946] (1 seed, 2000 conversations)"),
    ({"normalized": 0.7, "normalized_low": 0.7, "normalized_high": 0.7, "source": "iqm", "seeds": 5},
     "0.700 (all 5 seeds equal, exact)"),
    ({"normalized": 0.7, "normalized_low": 0.65, "normalized_high": 0.75, "source": "iqm", "seeds": 5},
     "0.700 [0.650, 0.750] (IQM of 5 seeds)"),
    ({"normalized": 0.9, "normalized_low": 0.85, "normalized_high": 0.95, "source": "monte carlo",
      "episodes": 4000}, "0.900 [0.850, 0.950] (4000 conversations)"),
])
def test_a_score_is_exact_one_seed_or_an_interval_never_of_zero_width(score, text):
    assert score_cell(_score(**score)) == text


def test_an_interval_gets_the_decimals_that_tell_its_ends_apart():
    assert interval(0.8761, 0.8764) == "[0.8761, 0.8764]"
    assert interval(0.1, 0.2) == "[0.100, 0.200]"
    with pytest.raises(ValueError, match=r"interval \[0.5, 0.5\] has zero width"):
        interval(0.5, 0.5)
    assert rate_cell(RuleRate(rate=1.0, low=1.0, high=1.0, applicable=3)) == "1.000"
    assert rate_cell(None) == "n/a" and fmt(-0.0001) == "0.000"


@pytest.mark.parametrize("change, message", [
    ({"budget": "huge"}, "unknown budget 'huge'; allowed: default, quick, tiny"),
    ({"personas": ["nobody"]}, "unknown persona 'nobody'"),
    ({"ablate": ["C13"]}, "unknown switch id 'C13'"),
    ({"workers": 0}, "workers=0"),
    ({"variant": "mine"}, "unknown variant 'mine'; allowed: default, guide_only"),
    ({"robustness_samples": 1}, "robustness_samples=1; allowed is 0 or an integer >= 2"),
    ({"sensitivity": "nowhere.json"}, "sensitivity='nowhere.json' is not a file"),
    ({"from_store": "nowhere"}, "from='nowhere' is not a results store"),
])
def test_bad_report_settings_are_named(tmp_path, change, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ReportConfig(out=str(tmp_path), **change).validate()
    assert not (tmp_path / "runs").exists()  # refused before anything trains


def test_quick_is_the_quick_budget_and_only_the_default_runs_a_study():
    assert ReportConfig(quick=True).budget_name == "quick" and ReportConfig().budget_name == "default"
    assert ReportConfig().study_samples == robustness.QUICK_STUDY_SAMPLES
    assert ReportConfig(quick=True).study_samples == 0
    assert ReportConfig(sensitivity="x.json").study_samples == 0


def test_the_default_budget_trains_every_learner_on_at_least_five_seeds():
    assert all(seeds >= 5 for _, seeds in BUDGETS["default"].learners.values())
    assert BUDGETS["default"].learned_mc_episodes >= 2000 and BUDGETS["quick"].learned_mc_episodes >= 2000
    assert BUDGETS["default"].mc_episodes >= 2000 and BUDGETS["quick"].mc_episodes >= 2000


def test_read_sensitivity_takes_the_variants_conclusions(tmp_path):
    path = tmp_path / "sensitivity.json"
    path.write_text(json.dumps({"variants": {"default": {"lhs_samples": 64, "conclusions": [
        {"id": "hidden_information_costs", "text": "t", "share": 0.9, "share_ci": [0.8, 0.95],
         "holds_in_default": True}]}}}))
    sens = robustness.read_sensitivity(path, "default")
    assert sens.samples == 64 and sens.conclusions["hidden_information_costs"].share == 0.9
    assert robustness.read_sensitivity(path, "guide_only") is None
    path.write_text("[]")
    with pytest.raises(ValueError, match="is not a sensitivity.json"):
        robustness.read_sensitivity(path, "default")


# ----------------------------------------------------------------------------- the tiny report (slow)
@pytest.mark.slow
def test_report_writes_every_file(tiny):
    out, _ = tiny
    for name in ("report.md", "results.json", "scores.png", "conformance.png", "strategies.png",
                 "learning_curves.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "scores.png").read_bytes()[:4] == b"\x89PNG"
    text = (out / "report.md").read_text()
    for section in ("## Headline", "## The certified optimum", "## Scores", "## Scores by persona", "## Reliability",
                    "## Conformance", "## What the guides say and what we assumed", "## Settings"):
        assert section in text, section
    assert "belief optimum" not in text


@pytest.mark.slow
def test_no_interval_in_the_report_has_zero_width(tiny):
    out, _ = tiny
    text = (out / "report.md").read_text()
    pairs = re.findall(r"\[(-?\d+\.\d+), (-?\d+\.\d+)\]", text)
    assert len(pairs) > 20
    for low, high in pairs:
        assert low != high and float(low) < float(high), (low, high)


@pytest.mark.slow
def test_the_headline_names_the_variant_and_states_the_bracket_as_a_range(tiny):
    out, results = tiny
    text = (out / "report.md").read_text()
    headline = text.split("## Headline")[1].split("\n## ")[0]
    assert "Model variant: **default**" in headline
    b = results.brackets["mixture"]
    assert f"Hidden information costs between {fmt(1 - b.upper_normalized)} and {fmt(1 - b.lower_normalized)}" \
        in headline
    assert results.headline.variant == "default"
    assert b.lower_normalized < b.upper_normalized < 1.0
    for finding in results.headline.findings:
        assert finding.sentence in headline



@pytest.mark.slow
def test_results_json_is_the_typed_results_and_loads_back(tiny):
    out, results = tiny
    loaded = load(out / "results.json")
    assert isinstance(loaded, Results) and loaded == results
    assert from_data(to_data(results)) == results
    assert render.render(loaded) == (out / "report.md").read_text()


@pytest.mark.slow
def test_every_number_in_the_report_matches_results_json(tiny):
    out, _ = tiny
    results = load(out / "results.json")
    text = (out / "report.md").read_text()
    for persona, rows in results.scores.items():
        for name, v in rows.items():
            assert score_cell(v) in text, (persona, name)
    for name, rules in results.conformance.items():
        assert f"| {render.row_name(results, name)} | " + " | ".join(rate_cell(rules[r]) for r in RULES) + " |" in text
    assert "| ppo_belief (model's filter) |" in text
    # every three-decimal number of the report's own sections occurs in results.json (the faithfulness,
    # sensitivity and imitation sections are rendered by their library modules from results.faithfulness,
    # .sensitivity and .imitation; tests/test_imitation_report.py checks the imitation section's numbers)
    library = (render.section_faithfulness, render.section_sensitivity, render.section_imitation)
    own = [s for s in render.SECTIONS if s not in library]
    numbers = set(re.findall(r"-?\d+\.\d{3}\b", render.render(results, own)))
    flat = json.dumps(to_data(results))
    values = {fmt(float(x)) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", flat)} | {"0.000", "1.000"}
    for b in results.brackets.values():
        values |= {fmt(1 - b.upper_normalized), fmt(1 - b.lower_normalized),
                   fmt(b.upper_normalized - b.lower_normalized)}
    b, fixed = results.brackets[results.persona], results.fixed_sequence[results.persona]
    values |= {fmt(b.lower_normalized - fixed.bound_normalized), fmt(b.upper_normalized - fixed.normalized)}
    assert numbers <= values, numbers - values


@pytest.mark.slow
def test_memoryless_learners_are_scored_exactly_and_learners_with_memory_are_sampled(tiny):
    from difficult_customer import agents
    from difficult_customer.agents.base import PolicyContext
    from difficult_customer.agents.exact.memoryless_value import memoryless_value
    from difficult_customer.agents.exact.normalize import normalize

    _, results = tiny
    context = PolicyContext.create(persona="mixture")
    refs = results.references["mixture"]
    ppo = results.scores["mixture"]["ppo"]
    assert ppo.exact_per_seed and ppo.per_seed_source == ["exact", "exact"]
    for run, value in zip(results.training["ppo"], ppo.per_seed, strict=True):
        exact = memoryless_value(agents.make(run.model, context), context).value
        assert value == pytest.approx(normalize(exact, refs.random, refs.oracle), abs=1e-9)
    belief = results.scores["mixture"]["ppo_belief"]
    assert belief.per_seed_source == ["monte carlo"] and belief.seeds == 1
    assert belief.normalized_low < belief.normalized < belief.normalized_high
    assert belief.group == findings.GROUP_FILTER and ppo.group == findings.GROUP_OBSERVATION
    mixture = results.scores["mixture"]
    assert mixture["random"].normalized == pytest.approx(0.0) and mixture["random"].source == "exact"
    for name in ("guide_000", "tone_reader", "best_fixed_sequence"):
        assert mixture[name].source == "exact"
    assert mixture["qmdp"].source == "monte carlo" and mixture["qmdp"].episodes == BUDGETS["tiny"].mc_episodes


@pytest.mark.slow
def test_the_report_is_built_from_section_functions(tiny):
    _, results = tiny
    text = render.render(results)
    starts = [text.index("\n".join(section(results)).strip()) for section in render.SECTIONS if section(results)]
    assert starts == sorted(starts)  # every section's text, in the order of SECTIONS
    extra = render.render(results, [*render.SECTIONS, lambda r: ["## Extra", "", "added"]])
    assert extra.rstrip().endswith("## Extra\n\nadded")
    only_scores = render.render(results, [render.section_scores])
    assert "## Scores" in only_scores and "## Headline" not in only_scores


@pytest.mark.slow
def test_the_faithfulness_section_shows_both_variants(tiny):
    out, results = tiny
    text = (out / "report.md").read_text()
    section = text.split("## What the guides say and what we assumed")[1].split("\n## ")[0]
    assert "| | default | guide_only |" in section
    assert set(results.faithfulness) == {"default", "guide_only"}
    assert results.faithfulness["default"].oracle == pytest.approx(results.references["mixture"].oracle)


@pytest.mark.slow
def test_report_shows_example_transcripts_of_the_learned_policy(tiny):
    out, results = tiny
    text = (out / "report.md").read_text()
    assert len(results.transcripts) == 3
    for t in results.transcripts:
        assert "Agent (" in t.text and "Customer [" in t.text and "hidden: anger" in t.text
        assert t.text.rstrip() in text


@pytest.mark.slow
def test_an_interrupted_report_resumes_to_the_same_results(tiny, tmp_path):
    from difficult_customer.experiments.library.sweep.trainings import train_all

    out, uninterrupted = tiny
    # interrupted after the PPO runs were stored (the sweep store keeps each finished run); the certified
    # brackets and the belief lookahead's exact scores (cells), solved before, are read back (they take most of
    # a tiny report's time); everything else is trained, played and scored again
    train_all(BUDGETS["tiny"].only("ppo"), out=tmp_path, workers=1, progress=False)
    shutil.copytree(out / "brackets", tmp_path / "brackets")
    (tmp_path / "cells").mkdir()
    for cell in (out / "cells").glob("*__belief_lookahead.json"):
        shutil.copy(cell, tmp_path / "cells" / cell.name)
    resumed = build_results(_config(tmp_path))
    assert _strip(resumed) == _strip(uninterrupted)


@pytest.mark.slow
def test_a_report_from_a_store_scores_each_group_like_the_report(tiny, tmp_path):
    out, results = tiny
    from_store = store_results(out / "runs", tmp_path, budget_name="tiny")
    path = write_report(from_store, tmp_path)
    assert load(tmp_path / "results.json") == from_store
    groups = {g.learner: g for g in from_store.groups}
    assert set(groups) == {"ppo", "ppo_belief"}
    for learner, group in groups.items():
        same = results.scores["mixture"][learner]
        assert group.score.per_seed == pytest.approx(same.per_seed)
        assert (group.score.normalized, group.score.normalized_low, group.score.normalized_high) == pytest.approx(
            (same.normalized, same.normalized_low, same.normalized_high))
    text = path.read_text()
    assert text.startswith(render.TITLE)  # one render for both kinds of report
    assert "## Groups of the study" in text and score_cell(groups["ppo"].score) in text
    assert (tmp_path / "scores.png").stat().st_size > 0 and (tmp_path / "learning_curves.png").stat().st_size > 0
    for low, high in re.findall(r"\[(-?\d+\.\d+), (-?\d+\.\d+)\]", text):
        assert float(low) < float(high)


@pytest.mark.slow
def test_a_quick_sensitivity_study_puts_shares_beside_the_headline_in_words(tiny, tmp_path):
    _, results = tiny
    sens = robustness.quick_sensitivity("default", 2, tmp_path, max_turns=16)
    assert set(sens.conclusions) >= {"hidden_information_costs", "adapting_worth", "guide_000_first", "R2_cheap"}
    for c in sens.conclusions.values():
        assert 0 <= c.share_ci[0] <= c.share <= c.share_ci[1] <= 1
    again = robustness.quick_sensitivity("default", 2, tmp_path, max_turns=16)  # read back, not solved again
    assert again.conclusions == sens.conclusions
    with_shares = from_data(to_data(results))
    with_shares.sensitivity = sens
    with_shares.headline = Headline(persona=results.persona, variant="default", focus=results.headline.focus)
    with_shares.headline.findings = findings.headline_findings(with_shares)
    headline = "\n".join(render.section_headline(with_shares))
    assert "hidden information costs the agent more than 0.05 holds in" in headline
    assert "of 2 plausible models" in headline
    assert "hidden_information_costs" not in headline and "R1_cheap" not in headline  # words, not ids
    assert "## How robust the conclusions are" in render.render(with_shares)


@pytest.mark.slow
def test_the_study_solved_beside_the_evaluation_is_read_back_not_solved_again(side_study, monkeypatch):
    import difficult_customer.experiments.library.sensitivity.study as study

    out, side = side_study
    side.join()
    assert side.exitcode == 0

    def no_solving(*args, **kwargs):
        raise AssertionError("a model of the study was solved again")

    monkeypatch.setattr(study, "solve_sample", no_solving)
    sens = robustness.robustness_of(None, 2, "default", out, 16, 0, 1)
    assert sens.samples == 2 and "hidden_information_costs" in sens.conclusions
    assert build._start_study(ReportConfig(out=str(out), quick=True), "default", out) is None


# ----------------------------------------------------------------------------- the committed example report
EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example-report"


def _headings(text: str) -> list[str]:
    return re.findall(r"^## .+$", text, flags=re.M)


def test_the_example_report_parses():
    text = (EXAMPLE / "report.md").read_text()
    assert text.startswith(render.TITLE + "\n")
    for image in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text):
        assert (EXAMPLE / image).read_bytes()[:4] == b"\x89PNG", image
    for table in re.findall(r"(?:^\|.*\|\n)+", text, flags=re.M):
        rows = [r for r in table.splitlines() if r.strip()]
        widths = {len(re.split(r"(?<!\\)\|", r)) for r in rows}
        assert len(widths) == 1, rows[0]


@pytest.mark.slow
def test_the_example_report_names_the_same_sections_as_a_fresh_report(tiny):
    out, _ = tiny
    assert _headings((EXAMPLE / "report.md").read_text()) == _headings((out / "report.md").read_text())
