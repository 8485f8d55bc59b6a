"""Sensitivity analysis: sampled models are the models they say, conclusions and words come from the numbers."""

from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from functools import partial

import numpy as np
import pytest

pytest.importorskip("SALib")

from difficult_customer.agents.exact import solve_oracle  # noqa: E402
from difficult_customer.customer_models import compile_model  # noqa: E402
from difficult_customer.experiments.library import sensitivity as sens  # noqa: E402
from difficult_customer.experiments.library.sensitivity import study as study_module  # noqa: E402
from difficult_customer.experiments.library.sensitivity import tables  # noqa: E402


@pytest.mark.parametrize("variant, builtin", [("default", "mixture"), ("guide_only", "guide_only")])
def test_the_default_sample_is_the_builtin_model(variant, builtin):
    space = sens.space_for(variant)
    sampled = compile_model(space.model(space.default_x()))
    reference = compile_model(builtin)
    assert sampled.n_states == reference.n_states
    assert solve_oracle(sampled, 16).value == pytest.approx(solve_oracle(reference, 16).value, abs=1e-12)


INERT = {
    ("default", "belligerent.abuse_onset"): "the belligerent customer opens abusive, and abuse never starts twice",
    ("default", "belligerent.escalation_abuse"): "likewise: escalation only turns a customer who is not abusive yet",
    ("guide_only", "shared.escalation_abuse"): "no move raises anger in the guide-only model (every anger rise is an "
    "assumption: A1, A2, A4, A7), so C9's escalation never happens there",
}
"""Parameters sampled although they cannot act, each with the reason."""


def _compiled_part(mixture, persona: str):
    """The tables of one persona of ``mixture`` alone (its switches kept), or of the whole mixture."""
    from difficult_customer.customer_models import Mixture

    if persona in ("shared", "weight"):
        return compile_model(mixture)
    p = next(p for p in mixture.personas if p.name == persona)
    return compile_model(Mixture(persona, (p,), (1.0,), mixture.ablate))


def _without_effect(variant: str, i: int) -> str | None:
    """``persona.name`` of sampled parameter ``i`` if moving it alone to the end of its range farther from an
    interior point leaves the compiled tables of its persona (the whole mixture for shared ones and weights) as
    they are; else None."""
    space = sens.space_for(variant)
    # An interior point: every persona takes part and every effect is possible, so a parameter
    # that still changes nothing is inert by construction (INERT says why) or a bug.
    start = [(spec.low + spec.high) / 2 for spec in space.specs]
    spec = space.specs[i]
    x = list(start)
    x[i] = spec.high if abs(spec.high - x[i]) >= abs(spec.low - x[i]) else spec.low
    part = "weight" if spec.name == "weight" else spec.persona
    t, base = _compiled_part(space.model(x), part), _compiled_part(space.model(start), part)
    same = t.n_states == base.n_states and all(
        np.array_equal(getattr(t, a), getattr(base, a)) for a in ("initial", "next_prob", "tone_prob", "next_state")
    )
    return f"{spec.persona}.{spec.name}" if same else None


@pytest.mark.parametrize("variant", [pytest.param("default", marks=pytest.mark.slow), "guide_only"])
def test_every_sampled_parameter_changes_the_model_somewhere_in_its_range(variant):
    space = sens.space_for(variant)
    check = partial(_without_effect, variant)
    indices = range(len(space.specs))
    if len(space.specs) <= 40:
        found = list(map(check, indices))
    else:  # one compile per parameter: the default variant's 100+ are shared by two processes (one per core)
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            found = list(pool.map(check, indices, chunksize=8))
    assert len(found) == len(space.specs)
    unchanged = [name for name in found if name is not None and (variant, name) not in INERT]
    assert not unchanged, f"sampled but without effect: {unchanged}"


def test_guide_only_space_samples_shared_readings_only():
    space = sens.space_for("guide_only")
    assert {s.persona for s in space.specs} == {"shared"}
    assert {s.support for s in space.specs} == {"reading"}
    assert len({s.name for s in space.specs}) == len(space.specs)


def test_unknown_variant_is_refused_with_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown variant 'nope'; allowed: default, guide_only"):
        sens.space_for("nope")


def test_bad_design_values_are_refused():
    with pytest.raises(ValueError, match="index_method='pca'"):
        sens.Design(index_method="pca")
    with pytest.raises(ValueError, match="lhs_samples=1"):
        sens.Design(lhs_samples=1)
    with pytest.raises(ValueError, match="power of 2"):
        sens.Design(index_method="sobol", index_trajectories=6)


@pytest.mark.parametrize(
    "share, low, high, word",
    [
        (0.97, 0.91, 0.99, "robust"),
        (0.95, 0.85, 0.99, "mostly holds"),
        (0.5, 0.3, 0.7, "fragile"),
        (0.05, 0.01, 0.15, "mostly fails"),
        (0.0, 0.0, 0.08, "rarely holds"),
    ],
)
def test_robustness_word_on_both_sides_of_each_mark(share, low, high, word):
    assert sens.robustness_word(share, low, high) == word


def test_robustness_word_refuses_an_interval_that_does_not_contain_the_share():
    with pytest.raises(ValueError, match="allowed is 0 <= low <= share <= high <= 1"):
        sens.robustness_word(0.5, 0.6, 0.7)


def _record(**guides):
    r = {"oracle": 1.0, "random": 0.0, "bracket_lower": 0.6, "bracket_upper": 0.8, "fixed_sequence": 0.3,
         "fixed_sequence_bound": 0.3}
    r.update({g: 0.1 for g in sens.GUIDES})
    r.update(guides)
    r.update({f"cost_R{i}": 0.0 for i in range(1, 7)})
    return r


def test_conclusions_hold_exactly_where_their_numbers_say():
    by_id = {c.id: c for c in sens.default_conclusions(adapt_threshold=0.2, hidden_threshold=0.05)}
    first = _record(guide_000=0.5, guide_001=0.4)
    assert by_id["guide_000_first"].holds(first) and not by_id["guide_001_first"].holds(first)
    assert by_id["adapting_worth"].holds(first)  # 0.6 - 0.3 > 0.2
    assert not by_id["adapting_worth"].holds({**first, "fixed_sequence_bound": 0.45})  # 0.15
    assert by_id["hidden_information_costs"].holds(first)  # 1 - 0.8 > 0.05
    assert not by_id["hidden_information_costs"].holds({**first, "bracket_upper": 0.97})
    assert by_id["guides_beat_random"].holds(first)
    assert not by_id["guides_beat_random"].holds({**first, "guide_004": -0.01})
    assert by_id["R2_cheap"].holds(first)
    assert not by_id["R2_cheap"].holds({**first, "cost_R2": 0.03})


def test_analysis_shares_ranks_and_morris_find_the_driver():
    problem = sens.Problem(names=("a", "b"), bounds=((0.0, 1.0), (0.0, 1.0)), groups=("A1", "A2"))
    design = sens.Design(lhs_samples=40, index_trajectories=6, seed=3)
    samples = sens.draw(problem, design)

    def record(x):  # guide_000 ahead exactly when a > 0.5; b does nothing
        return _record(guide_000=float(x[0]), guide_001=0.5)

    lhs = [record(s.x) for s in samples if s.design == "lhs"]
    index = [s for s in samples if s.design == "morris"]
    analysis = sens.analyze(problem, design, lhs, index, [record(s.x) for s in index],
                            sens.default_conclusions(), _record(guide_000=0.9, guide_001=0.5))
    entry = next(c for c in analysis.conclusions if c["id"] == "guide_000_first")
    expected = np.mean([s.x[0] > 0.5 for s in samples if s.design == "lhs"])
    assert entry["share"] == pytest.approx(expected)
    assert entry["share_ci"][0] < entry["share"] < entry["share_ci"][1]
    assert entry["holds_in_default"] is True
    assert entry["index"]["A1"] > 0.1 and entry["index"]["A2"] == pytest.approx(0.0, abs=1e-12)
    assert analysis.ranks["guide_000"][0] == pytest.approx(expected)
    assert sum(analysis.ranks["guide_002"]) == pytest.approx(1.0)


def test_study_is_seeded_resumable_and_writes_what_it_promises(tmp_path, monkeypatch):
    design = sens.Design(lhs_samples=2, index_trajectories=2, seed=1)
    settings = sens.SolveSettings(bracket_points=4, bracket_depth=0, conformance_episodes=20)
    first = sens.run_study("guide_only", design, settings, tmp_path, workers=1, progress=False)
    files = sorted((tmp_path / "samples" / "guide_only").glob("*.json"))
    assert len(files) == first["models_solved"] == 2 + 2 * (len(first["groups"]) + 1) + 1
    files[1].unlink()  # as if the run had stopped before this sample
    calls = []
    real = study_module.solve_sample
    monkeypatch.setattr(study_module, "solve_sample", lambda *a: calls.append(1) or real(*a))
    second = sens.run_study("guide_only", design, settings, tmp_path, workers=1, progress=False)
    assert len(calls) == 1
    for a, b in zip(first["conclusions"], second["conclusions"], strict=True):
        assert a["share"] == b["share"] and a["index"] == b["index"]
    changed = sens.run_study("guide_only", sens.Design(lhs_samples=2, index_trajectories=2, seed=2), settings,
                             tmp_path, workers=1, progress=False)
    assert changed["fingerprint"] != first["fingerprint"] and len(calls) > 1


def test_command_writes_json_markdown_and_plots(tmp_path):
    from difficult_customer.experiments.commands.sensitivity import Config, main

    config = Config(out=tmp_path, variants=("guide_only",), lhs_samples=2, index_trajectories=2,
                    bracket_points=4, conformance_episodes=0, workers=1)
    assert main(config) == 0
    document = json.loads((tmp_path / "sensitivity.json").read_text())
    study = document["variants"]["guide_only"]
    ids = {c["id"] for c in study["conclusions"]}
    assert {"guide_000_first", "adapting_worth", "hidden_information_costs", "R2_cheap"} <= ids
    for c in study["conclusions"]:
        assert 0.0 <= c["share_ci"][0] <= c["share"] <= c["share_ci"][1] <= 1.0
        assert c["share_ci"][1] > c["share_ci"][0]  # never an interval of zero width
        assert set(c["index"]) == set(study["groups"])
    for name in ("ranks_guide_only.png", "indices_guide_only.png", "sensitivity.md"):
        assert (tmp_path / name).stat().st_size > 0
    assert "| guide_004 |" in (tmp_path / "sensitivity.md").read_text()


def test_learned_summary_puts_each_learned_policy_beside_its_own_models_optimum():
    study = {"records": {"default": {"conf_R1": 0.5, "cost_R1": 0.1}, "lhs-00000": {"conf_R1": 1.0, "cost_R1": 0.0}}}
    learned = {"rows": [
        {"model": "default", "normalized": 0.4, "conformance": {"R1": [0.2, 0.1, 0.3]}},
        {"model": "lhs-00000", "normalized": 0.8, "conformance": {"R1": [0.6, 0.5, 0.7]}},
    ]}
    score, r1 = sens.learned_summary(study, learned, ["R1"])
    assert score["learned"][1] == pytest.approx(0.6) and score["models"] == 2
    assert r1["learned"] == pytest.approx([0.3, 0.4, 0.5])
    assert r1["optimum"] == pytest.approx([0.625, 0.75, 0.875])
    assert r1["cost"][1] == pytest.approx(0.05)


@pytest.mark.slow
def test_learn_retrains_on_sampled_models_and_scores_each_exactly(tmp_path):
    pytest.importorskip("ray")
    pytest.importorskip("stable_baselines3")
    from difficult_customer import agents
    from difficult_customer.agents.exact.memoryless_value import memoryless_value
    from difficult_customer.experiments.library.training import TrainConfig

    design = sens.Design(lhs_samples=2, index_trajectories=2, seed=0)
    learn = sens.LearnSettings(samples=1, steps=256, conformance_episodes=30)
    out = sens.run_learning("guide_only", design, learn, tmp_path, max_turns=16, progress=False)
    assert [r["model"] for r in out["rows"]] == ["default", "lhs-00000"]
    space = sens.space_for("guide_only")
    lhs = [s for s in sens.draw(space.problem, design) if s.design == "lhs"][0]
    config = TrainConfig(algo="ppo", steps=256, seed=0, eval_every=0, eval_episodes=50,
                         sample={"variant": "guide_only", "x": list(lhs.x)})
    model_path = tmp_path / "runs" / "artifacts" / out["rows"][1]["run_id"] / "model.zip"
    context = config.context()
    expected = memoryless_value(agents.make(str(model_path), context), context).value
    assert out["rows"][1]["value"] == pytest.approx(expected, abs=1e-12)
    for rates in (r["conformance"] for r in out["rows"]):
        for interval in filter(None, rates.values()):
            assert interval[1] <= interval[0] <= interval[2] and interval[2] > interval[1]


def test_claim_grouping_folds_each_assumption_into_its_claim():
    space = sens.space_for("default")
    by_switch, by_claim = space.problem.groups, space.problem_for("claim").groups
    pairs = set(zip(by_switch, by_claim, strict=True))
    assert ("A1", "C2") in pairs and ("A6", "C8") in pairs and ("A17", "A17") in pairs
    assert ("initial_anger", "start") in pairs
    assert len(set(by_claim)) < len(set(by_switch))
    with pytest.raises(ValueError, match="group_by='persona'; allowed: 'switch', 'claim'"):
        sens.Design(group_by="persona")


def test_quartile_cells_never_print_a_negative_zero():
    assert tables._iqr([-1e-16, -0.0, 0.01234]) == "0.000 [0.000, 0.012]"
    assert tables._iqr(None) == "—"
