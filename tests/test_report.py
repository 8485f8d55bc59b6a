"""The report on a tiny budget: every file, numbers that match results.json, resumable, seeded."""

from __future__ import annotations

import json
import re

import pytest

import difficult_customer.experiments.library.training as training
from difficult_customer.experiments.commands import report
from difficult_customer.experiments.commands.report import ReportConfig, build_results, fmt, score_cell, write_report
from difficult_customer.experiments.library.conformance import RULES

pytest.importorskip("stable_baselines3")
pytest.importorskip("matplotlib")


def _strip(results: dict) -> dict:
    """Results without wall times and paths, which differ between runs."""
    text = json.dumps(results, sort_keys=True)
    data = json.loads(text)
    data["settings"].pop("wall_seconds")
    data["settings"]["config"].pop("out")
    for runs in data["training"].values():
        for run in runs:
            run.pop("wall_seconds")
            run.pop("model")
    return data


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    results = build_results(ReportConfig(budget="tiny", out=str(out), workers=1, progress=False))
    write_report(results, out)
    return out, results


@pytest.mark.slow
def test_report_writes_every_file(tiny):
    out, _ = tiny
    for name in ("report.md", "results.json", "scores.png", "conformance.png", "strategies.png",
                 "learning_curves.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "scores.png").read_bytes()[:4] == b"\x89PNG"
    text = (out / "report.md").read_text()
    for section in ("## Headline", "## Scores", "## Reliability", "## Conformance", "## Settings"):
        assert section in text


@pytest.mark.slow
def test_every_number_in_the_report_matches_results_json(tiny):
    out, _ = tiny
    results = json.loads((out / "results.json").read_text())
    text = (out / "report.md").read_text()
    for persona, rows in results["scores"].items():
        for name, v in rows.items():
            assert score_cell(v) in text, (persona, name)
            if v["source"] == "exact":
                assert v["normalized_low"] == v["normalized"] == v["normalized_high"]
    persona = results["headline"]["persona"]
    for name, v in results["reliability"][persona].items():
        row = f"| {name} | {fmt(v['success_rate'])} | " + " | ".join(fmt(v[f"pass^{k}"]) for k in (1, 2, 4, 8))
        assert row in text
    for name, rules in results["conformance"].items():
        assert f"| {name} | " + " | ".join(fmt(rules[r]["rate"]) for r in RULES) + " |" in text
    # every three-decimal number in the report occurs in results.json
    numbers = set(re.findall(r"-?\d+\.\d{3}\b", text))
    flat = json.dumps(results)
    values = {fmt(float(x)) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", flat)} | {"0.000", "1.000"}
    assert numbers <= values


@pytest.mark.slow
def test_a_killed_report_resumes_to_the_same_results(tiny, tmp_path, monkeypatch):
    _, uninterrupted = tiny
    calls = []
    real = training._train_one

    def dies_after_first(config):
        if calls:
            raise KeyboardInterrupt
        calls.append(config)
        return real(config)

    monkeypatch.setattr(training, "_train_one", dies_after_first)
    with pytest.raises(KeyboardInterrupt):
        build_results(ReportConfig(budget="tiny", out=str(tmp_path), workers=1, progress=False))
    monkeypatch.setattr(training, "_train_one", real)
    resumed = build_results(ReportConfig(budget="tiny", out=str(tmp_path), workers=1, progress=False))
    assert _strip(resumed) == _strip(uninterrupted)


@pytest.mark.parametrize("change, message", [
    ({"budget": "huge"}, "unknown budget 'huge'; allowed: default, quick, tiny"),
    ({"personas": ["nobody"]}, "unknown persona 'nobody'"),
    ({"ablate": ["C13"]}, "unknown switch id 'C13'"),
    ({"workers": 0}, "workers=0"),
])
def test_bad_report_settings_are_named(tmp_path, change, message):
    with pytest.raises(ValueError, match=message):
        build_results(ReportConfig(out=str(tmp_path), **change))
    assert not (tmp_path / "runs").exists()  # refused before anything trains


def test_quick_is_the_quick_budget():
    assert ReportConfig(quick=True).budget_name == "quick" and ReportConfig().budget_name == "default"


@pytest.mark.slow
def test_the_report_is_built_from_section_functions(tiny):
    _, results = tiny
    text = report.render_markdown(results)
    starts = [text.index("\n".join(section(results)).strip()) for section in report.SECTIONS if section(results)]
    assert starts == sorted(starts)  # every section's text, in the order of SECTIONS
    extra = report.render_markdown(results, [*report.SECTIONS, lambda r: ["## Extra", "", "added"]])
    assert extra.rstrip().endswith("## Extra\n\nadded")
    only_scores = report.render_markdown(results, [report.section_scores])
    assert "## Scores" in only_scores and "## Headline" not in only_scores


@pytest.mark.slow
def test_report_scores_are_exact_where_the_tables_allow(tiny):
    _, results = tiny
    mixture = results["scores"]["mixture"]
    assert mixture["random"]["normalized"] == pytest.approx(0.0) and mixture["random"]["source"] == "exact"
    assert mixture["oracle"]["normalized"] == pytest.approx(1.0)
    for name in ("guide_000", "tone_reader", "best_fixed_sequence"):
        assert mixture[name]["source"] == "exact"
    assert mixture["qmdp"]["source"] == "monte carlo"
    assert mixture["ppo"]["source"] == "iqm" and len(mixture["ppo"]["per_seed"]) == 2
    assert mixture["qmdp"]["normalized_low"] < mixture["qmdp"]["normalized"] < mixture["qmdp"]["normalized_high"]


@pytest.mark.slow
def test_report_shows_example_transcripts_of_the_learned_policy(tiny):
    out, results = tiny
    text = (out / "report.md").read_text()
    assert len(results["transcripts"]) == 3
    for t in results["transcripts"]:
        assert "Agent (" in t["text"] and "Customer [" in t["text"] and "hidden: anger" in t["text"]
        assert t["text"].rstrip() in text
