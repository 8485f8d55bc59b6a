"""The report's imitation section: sentences computed from the numbers, on both sides; the committed file; the study."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("cattrs")

from difficult_customer.experiments.library.report import imitation as section  # noqa: E402


def s(mid: float, low: float, high: float, seeds: int = 3) -> dict:
    return {"values": [low, mid, high][:seeds], "iqm": mid, "low": low, "high": high, "seeds": seeds}


def results(bc_belief=(0.80, 0.79, 0.81), rl_same=(0.70, 0.68, 0.72), tuned=(0.85, 0.84, 0.86),
            scratch=(0.82, 0.81, 0.83), cql=(0.75, 0.74, 0.76), guide_gaps=(0.004, -0.2)) -> dict:
    """Imitation results of a made-up study; each score is (IQM, low, high) over 3 seeds."""
    bc_belief, rl_same, tuned, scratch, cql = (s(*x) for x in (bc_belief, rl_same, tuned, scratch, cql))
    fidelity = [{"policy": f"guide_00{k}", "kind": "guide", "decides_on": "partial", "policy_normalized": 0.5,
                 "policy_source": "exact", "policy_low": 0.5, "policy_high": 0.5, "policy_episodes": 0,
                 "transitions": 1000, "bc": s(0.5 + gap, 0.5 + gap - 0.01, 0.5 + gap + 0.01),
                 "held_out_accuracy": s(0.9, 0.9, 0.9)} for k, gap in enumerate(guide_gaps)]
    fidelity.append({"policy": "belief_lookahead", "kind": "exact", "decides_on": "belief",
                     "policy_normalized": 0.9, "policy_source": "monte carlo", "policy_low": 0.89,
                     "policy_high": 0.91, "policy_episodes": 20000, "transitions": 60000, "bc": bc_belief,
                     "held_out_accuracy": s(0.8, 0.79, 0.81)})
    curve = [[0, 0.1], [10, 0.5], [20, 0.8]]
    return {"kind": "imitation", "setting": {"persona": "mixture", "ablate": [], "max_turns": 16},
            "fidelity": fidelity,
            "belief_vs_rl": {"steps": 60000, "bc": bc_belief, "rl": rl_same, "policy_normalized": 0.9},
            "bc_rl": {"from": "guide_000", "steps": 20, "eval_every": 10,
                      "bc_rl": {"final": tuned, "curves": [curve, curve]},
                      "rl": {"final": scratch, "curves": [curve, [[0, 0.0], [10, 0.4], [20, 0.7]]]}},
            "offline": {"cql": cql, "bc": s(0.6, 0.59, 0.61), "data": {"mean": 0.6, "low": 0.58, "high": 0.62,
                                                                         "episodes": 100},
                        "best_in_data": {"policy": "belief_lookahead", "policy_normalized": 0.9,
                                         "policy_source": "monte carlo"},
                        "bracket": [0.897, 0.923], "mixed_from": ["random", "guide_000"]}}


def test_compare_reads_two_intervals_on_every_side():
    assert section.compare(s(0.8, 0.79, 0.81), s(0.7, 0.69, 0.71)) == "beats"
    assert section.compare(s(0.7, 0.69, 0.71), s(0.8, 0.79, 0.81)) == "falls short of"
    assert section.compare(s(0.75, 0.70, 0.80), s(0.76, 0.74, 0.78)) == "cannot be told apart from"


def test_headline_sentences_follow_the_numbers_on_both_sides():
    up = section.headline(results())
    assert "reproduces 1 of 2 guides" in up[0] and "guide_001's, -0.200" in up[0]
    assert "belief_lookahead (60,000 transitions) beats PPO" in up[1]
    assert "followed by PPO beats PPO from scratch" in up[2]
    assert "cannot be told apart from" not in up[3] and "it beats the data's own mean" in up[3]
    assert "below the best policy in the data" in up[3] and "0.147 below the lower end" in up[3]
    down = section.headline(results(bc_belief=(0.6, 0.59, 0.61), tuned=(0.7, 0.69, 0.71), cql=(0.5, 0.49, 0.51),
                                    guide_gaps=(0.004, 0.009)))
    assert "reproduces 2 of 2 guides" in down[0] and "guide_001's, +0.009" in down[0]
    tiny = section.headline(results(guide_gaps=(4e-7, -1e-7)))[0]
    assert "reproduces 2 of 2 guides" in tiny and "guide_000's, +4.0e-07" in tiny
    assert "falls short of PPO" in down[1] and "followed by PPO falls short of" in down[2]
    assert "it falls short of the data's own mean" in down[3]
    above = section.headline(results(cql=(0.95, 0.94, 0.96)))[3]
    assert "above the best policy in the data" in above and "-0.053 below" in above


def test_gaps_too_small_for_three_decimals_are_printed_in_full():
    assert [section.gap_text(g) for g in (0.0, 4.2e-17, 4.2e-7, -0.05)] == ["0", "0", "+4.2e-07", "-0.050"]


def test_seeds_text_never_prints_an_interval_of_zero_width():
    assert section.seeds_text(s(0.5, 0.5, 0.5)) == "0.500 (all 3 seeds)"
    assert section.seeds_text(s(0.5, 0.5, 0.5, seeds=1)) == "0.500 (1 seed)"
    assert section.seeds_text(s(0.5, 0.49, 0.51)) == "0.500 [0.490, 0.510] (3 seeds)"
    assert section.seeds_text(s(0.5, 0.5 - 2e-7, 0.5 + 2e-7)) == "0.500 (3 seeds, spread under 1e-6)"
    assert section.seeds_text(s(0.5, 0.5 - 1e-6, 0.5 + 1e-6)) == "0.500 [0.499999, 0.500001] (3 seeds)"


def test_the_section_shows_every_part():
    text = "\n".join(section.render_imitation(results()))
    for heading in ("(fidelity)", "against RL at the same sample count", "then PPO, against PPO from scratch",
                    "Offline RL on the mixed dataset"):
        assert heading in text
    assert "0.900 [0.890, 0.910] (sampled, 20,000 conversations)" in text  # belief_lookahead is sampled
    assert "| 20 | 0.800 (all 2 seeds) | 0.750 [0.700, 0.800] (2 seeds) |" in text
    assert "[0.897, 0.923]" in text


def test_the_committed_file_is_shown_only_on_its_own_model(tmp_path):
    data, note = section.committed_imitation("mixture/none/16", tmp_path)
    assert data is None and "no committed study" in note
    (tmp_path / "imitation.json").write_text(json.dumps({"kind": "store"}))
    assert "another kind" in section.committed_imitation("mixture/none/16", tmp_path)[1]
    (tmp_path / "imitation.json").write_text(json.dumps(results()))
    data, note = section.committed_imitation("mixture/none/16", tmp_path)
    assert data is not None and note == ""
    data, note = section.committed_imitation("belligerent/none/16", tmp_path)
    assert data is None and "ran on mixture/none/16" in note


@pytest.mark.slow
def test_a_tiny_study_writes_every_part_and_resumes_without_recomputing(tmp_path, monkeypatch):
    pytest.importorskip("minari")
    pytest.importorskip("d3rlpy")
    from difficult_customer.agents.exact import evaluation
    from difficult_customer.experiments.library import imitation, imitation_study

    # belief_lookahead's exact value is out of reach on the mixture (its history tree exceeds the budget after
    # about 12 s), so the study samples it; skip the attempt here and sample at once
    monkeypatch.setattr(evaluation, "history_tree_value", lambda *args, **kwargs: None)
    config = imitation_study.StudyConfig(
        data=str(tmp_path / "data"), out=str(tmp_path / "out"), episodes=30, bc_seeds=2, rl_seeds=2, rl_steps=512,
        eval_every=2048, cql_seeds=1, mc_episodes=40, bc=imitation.BCConfig(epochs=1),
        cql=imitation.CQLConfig(steps=10), bracket={"points": 8, "depth": 1}, progress=False)
    first = imitation_study.run_study(config, log=lambda _: None)
    assert [f["policy"] for f in first["fidelity"]] == list(imitation_study.IMITATED)
    assert first["belief_vs_rl"]["steps"] == first["fidelity"][-1]["transitions"]
    assert first["bc_rl"]["from"] in imitation_study.GUIDES
    assert len(first["bc_rl"]["rl"]["curves"]) == 2 and first["bc_rl"]["rl"]["curves"][0][-1][0] >= 512
    assert json.loads((tmp_path / "out" / "imitation.json").read_text())["kind"] == "imitation"

    def recompute(*args, **kwargs):
        raise AssertionError("a finished part was computed again")

    monkeypatch.setattr(imitation_study, "bc_scores", recompute)
    monkeypatch.setattr(imitation_study, "rl_runs", recompute)
    again = imitation_study.run_study(config, log=lambda _: None)
    assert again["fidelity"] == first["fidelity"] and again["offline"] == first["offline"]


def test_the_committed_study_is_of_the_current_model():
    """The committed imitation.json's exact scores of the policies it imitates are today's: regenerate it when not."""
    from difficult_customer.agents.base import PolicyContext
    from difficult_customer.agents.exact.evaluation import normalized
    from difficult_customer.experiments.library.evaluation import policy_value

    data, note = section.committed_imitation("mixture/none/16")
    assert data is not None, note
    context = PolicyContext.create("mixture")
    for row in data["fidelity"]:
        if row["policy_source"] == "exact":
            now = normalized(policy_value(row["policy"], context)["return"], context)
            assert row["policy_normalized"] == pytest.approx(now, abs=1e-9), f"rerun `{section.REGENERATE}`"
    assert "### Imitation and offline RL" in "\n".join(section.section_imitation(_Report(data)))


def test_every_number_of_the_committed_section_is_in_its_file_or_derived_from_it():
    """Each three-decimal number the section prints is a value of imitation.json, or one of the few it derives:
    a clone's gap to its policy, the bracket's lower end minus CQL, and the IQM and interval of each curve step."""
    import re

    from difficult_customer.experiments.library.imitation_study import summary
    from difficult_customer.experiments.library.numbers import fmt

    data, note = section.committed_imitation("mixture/none/16")
    assert data is not None, note
    text = "\n".join(section.render_imitation(data))
    numbers = set(re.findall(r"-?\d+\.\d{3}\b", text))
    values = {fmt(float(x)) for x in re.findall(r"-?\d+\.\d+(?:e-?\d+)?", json.dumps(data))}
    values |= {fmt(r["bc"]["iqm"] - r["policy_normalized"]) for r in data["fidelity"]}
    values.add(fmt(data["offline"]["bracket"][0] - data["offline"]["cql"]["iqm"]))
    for arm in ("bc_rl", "rl"):
        curves = data["bc_rl"][arm]["curves"]
        for k in range(len(curves[0])):
            at = summary([c[k][1] for c in curves])
            values |= {fmt(at["iqm"]), fmt(at["low"]), fmt(at["high"])}
    assert numbers and numbers <= values, numbers - values


class _Report:
    """The two fields of a report's results that the imitation section reads."""

    def __init__(self, imitation: dict) -> None:
        self.imitation, self.imitation_note = imitation, ""
