"""The converged baselines: a store report from stored scores (no models), train_jax runs expanded into their seeds,
the converged table, the generated docs/baselines.md kept current, and the default report showing them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.experiments.library.report import render
from difficult_customer.experiments.library.report.baselines import (
    REGENERATE,
    RESULTS_FILE,
    STORE_NAME,
    intro_path,
    load_baselines,
)
from difficult_customer.experiments.library.report.files import (
    BASELINES_HEADER,
    baselines_markdown,
    write_baselines_doc,
    write_report,
)
from difficult_customer.experiments.library.report.results import Results, Settings, StoreResults, load
from difficult_customer.experiments.library.report.store import store_results, stored_score
from difficult_customer.experiments.library.sweep.engine import execute_run
from difficult_customer.experiments.library.sweep.results import read_rows, summarize
from difficult_customer.experiments.library.sweep.store import Store
from difficult_customer.experiments.library.sweep.study import expand_study

pytest.importorskip("stable_baselines3")
pytest.importorskip("jax")

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "experiments" / "baselines"
DOC = ROOT / "docs" / "baselines.md"
SMALL = {"points": 32, "depth": 2, "lower_depth": 0}
"""Cheap certified brackets for the tiny store (the report's own precision takes about 25 s)."""

TINY_SB3 = {"algo": "ppo", "steps": 256, "n_envs": 4, "eval_every": 128, "eval_episodes": 20}
TINY_JAX = {"algo": "ppo_jax", "steps": 3 * 8 * 16, "n_envs": 8, "n_steps": 16, "epochs": 2, "minibatches": 4,
            "hidden": [16, 16], "gru_size": 8, "curve_every": 128, "n_seeds": 2}


def _record(store: Store, study: dict[str, Any]) -> list[str]:
    ids = []
    for run in expand_study(study).runs:
        out = execute_run(run.kind, run.settings, run.run_id)
        metric = "iqm" if run.kind == "train_jax" else "final_return"
        store.record(run.run_id, "tiny", run.kind, run.settings, out["result"], score=out["result"][metric],
                     artifacts=out["artifacts"], wall_seconds=out["wall_seconds"], host=out["host"])
        ids.append(run.run_id)
    return ids


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """A tiny study's store (PPO on 2 seeds, PPO on belief features on 1, ppo_jax on 2 seeds in one run) and a copy
    without its artifacts, as the baselines are committed."""
    root = tmp_path_factory.mktemp("baselines")
    store = Store(root / "store")
    _record(store, {"kind": "train", "fixed": TINY_SB3, "seeds": 2})
    _record(store, {"kind": "train", "fixed": {**TINY_SB3, "observation": "belief"}, "seeds": 1})
    _record(store, {"kind": "train_jax", "fixed": TINY_JAX})
    shutil.copytree(store.path, root / "committed", ignore=shutil.ignore_patterns("artifacts"))
    return {"models": store.path, "committed": root / "committed", "root": root}


@pytest.fixture(scope="module")
def built(stores) -> dict[str, StoreResults]:
    root = stores["root"]
    return {"models": store_results(stores["models"], root / "out-models", "tiny", precision=SMALL),
            "committed": store_results(stores["committed"], root / "out-committed", "tiny", precision=SMALL,
                                       name="committed")}


def _groups(results: StoreResults) -> dict[str, Any]:
    return {g.learner: g for g in results.groups}


# ----------------------------------------------------------------------------- the store report
def test_a_store_without_models_is_scored_from_the_scores_its_runs_stored(built):
    committed, models = _groups(built["committed"]), _groups(built["models"])
    assert set(committed) == set(models) == {"ppo", "ppo_belief", "ppo_jax"}
    assert {g.scored_from for g in committed.values()} == {"store"}
    assert {g.scored_from for g in models.values()} == {"model"}
    for learner in ("ppo", "ppo_jax"):  # memoryless: the stored score is the model's exact value
        a, b = committed[learner].score, models[learner].score
        assert a.exact_per_seed and b.exact_per_seed
        assert a.per_seed == pytest.approx(b.per_seed, abs=1e-9)
        assert (a.normalized, a.normalized_low, a.normalized_high) == pytest.approx(
            (b.normalized, b.normalized_low, b.normalized_high), abs=1e-9)
    belief = committed["ppo_belief"].score  # sampled on the run's 20 evaluation conversations, with its noise
    assert not belief.exact_per_seed and belief.episodes_per_seed == 20 and belief.seeds == 1
    assert belief.normalized_low < belief.normalized < belief.normalized_high
    assert models["ppo_belief"].score.episodes_per_seed == 200  # the model scored again on the budget's


def test_a_jax_run_is_one_group_whose_members_are_its_seeds(built, stores):
    jax = _groups(built["committed"])["ppo_jax"]
    (row,) = [r for r in Store(stores["committed"]).rows() if r["kind"] == "train_jax"]
    result = row["result"]
    assert jax.kind == "train_jax" and jax.runs == [row["run_id"]]
    assert jax.training_seeds == result["seeds"] == [0, 1]
    assert jax.score.per_seed == pytest.approx(result["final"], abs=1e-9)
    assert jax.score.seeds == 2 and jax.score.normalized_low < jax.score.normalized_high
    assert jax.curve.steps == result["steps"] and jax.curve.scores == result["curves"]
    conv = jax.curve.convergence
    assert conv.label == result["summary"]["verdict"]
    assert [r.target for r in conv.reach] == [0.80, 0.85]
    assert [r.reached for r in conv.reach] == [result["summary"]["steps_to_reach"][t]["reached"]
                                               for t in ("0.80", "0.85")]
    assert jax.steps_per_second == pytest.approx(result["steps_per_second"])
    assert jax.train_seconds == pytest.approx(result["train_seconds"])
    assert jax.best_seed == result["seeds"][max(range(2), key=lambda i: result["final"][i])]


def test_sb3_curves_are_normalized_and_speed_comes_from_the_rows(built, stores):
    ppo = _groups(built["committed"])["ppo"]
    rows = sorted((r for r in Store(stores["committed"]).rows() if r["kind"] == "train"
                   and r["settings"]["observation"] == "partial"), key=lambda r: r["settings"]["seed"])
    refs = built["committed"].contexts[ppo.context].references
    assert ppo.context == "mixture/none/16" and ppo.training_seeds == [0, 1]
    first = rows[0]["result"]["curve"]
    assert ppo.curve.steps == [int(s) for s, _ in first]
    assert ppo.curve.scores[0] == pytest.approx([normalize(v, refs.random, refs.oracle) for _, v in first])
    wall = sum(r["wall_seconds"] for r in rows)
    assert ppo.train_seconds == pytest.approx(wall)
    assert ppo.steps_per_second == pytest.approx(sum(r["result"]["curve"][-1][0] for r in rows) / wall)
    assert ppo.reads == "the current observation" and _groups(built["committed"])["ppo_belief"].reads.startswith(
        "exact belief features")


def test_a_sampled_score_without_its_standard_error_is_a_clear_error():
    row = {"run_id": "abc123", "settings": {"algo": "recurrent_ppo", "observation": "partial", "seed": 3},
           "result": {"final_return": 0.1}}
    with pytest.raises(ValueError, match=r"run abc123 \(recurrent_ppo seed 3\).*final_stderr"):
        stored_score(row)
    row["result"].update(final_stderr=0.02, final_episodes=200)
    assert stored_score(row) == {"return": 0.1, "stderr": 0.02, "source": "monte carlo", "episodes": 200}
    exact = {**row, "settings": {"algo": "ppo", "observation": "partial", "seed": 3}}
    assert stored_score(exact)["source"] == "exact" and stored_score(exact)["stderr"] == 0.0


def test_a_sampled_train_run_stores_its_standard_error(stores):
    (belief,) = [r for r in Store(stores["committed"]).rows() if r["settings"].get("observation") == "belief"]
    assert belief["result"]["final_episodes"] == 20 and belief["result"]["final_stderr"] > 0
    (plain, _) = [r for r in Store(stores["committed"]).rows() if r["settings"].get("observation") == "partial"]
    assert plain["result"]["final_stderr"] == 0.0 and plain["result"]["final_episodes"] == 0


def test_the_store_report_is_the_same_markdown_from_the_same_store(built, stores, tmp_path):
    again = store_results(stores["committed"], tmp_path, "tiny", precision=SMALL, name="committed")
    text = render.render(built["committed"])
    assert render.render(again) == text
    assert "Wall time" not in text and "Versions" not in text
    table = text.split("## Convergence and speed")[1].split("\n## ")[0]
    for g in built["committed"].groups:
        assert f"| {g.label} | {g.reads} | {render.scored_cell(g.score)} | {g.curve.convergence.label} |" in table
    assert "(IQM of 2 seeds); exact per seed |" in table and "(1 seed, 20 conversations) |" in table
    for low, high in re.findall(r"\[(-?\d+\.\d+), (-?\d+\.\d+)\]", text):
        assert float(low) < float(high)
    path = write_report(built["committed"], tmp_path / "report")
    assert load(tmp_path / "report" / "results.json") == built["committed"]
    assert path.read_text() == text


def test_a_learners_cell_says_how_each_seed_was_scored():
    from difficult_customer.experiments.library.report.results import Score

    sampled = Score(kind="learned", value=0.0, normalized=0.8, normalized_low=0.75, normalized_high=0.85,
                    source="iqm", interval="", seeds=3, episodes_per_seed=2000)
    assert render.scored_cell(sampled) == "0.800 [0.750, 0.850] (IQM of 3 seeds); sampled, 2000 conversations per seed"
    sampled.exact_per_seed = True
    assert render.scored_cell(sampled).endswith("(IQM of 3 seeds); exact per seed")


def test_durations_are_read_in_the_unit_that_fits():
    assert render.duration(None) == "—" and render.duration(42.4) == "42 s"
    assert render.duration(750) == "12.5 min" and render.duration(3 * 3600) == "3.0 h"


# ----------------------------------------------------------------------------- sweep summary
def test_the_sweep_summary_aggregates_the_seeds_of_a_jax_run(stores):
    rows = read_rows(stores["committed"])
    (jax,) = summarize([r for r in rows if r["kind"] == "train_jax"], metric="iqm")
    (row,) = [r for r in Store(stores["committed"]).rows() if r["kind"] == "train_jax"]
    from difficult_customer.experiments.library.scores import iqm_ci

    assert jax["n"] == 2 and jax["seeds"] == [0, 1]
    assert (jax["iqm"], jax["low"], jax["high"]) == pytest.approx(iqm_ci([[f] for f in row["result"]["final"]]))
    assert jax["low"] < jax["high"]  # no longer one value with a zero-width interval
    sb3 = summarize([r for r in rows if r["kind"] == "train" and r["observation"] == "partial"])
    assert [g["n"] for g in sb3] == [2]


# ----------------------------------------------------------------------------- docs/baselines.md
def test_the_baselines_page_is_the_header_the_preamble_and_the_store_report(built, stores, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(stores["committed"], store)
    doc = tmp_path / "docs" / "baselines.md"
    doc.parent.mkdir()
    intro_path(doc).write_text("# Converged baselines\n\nWhy PPO stalls: written by hand.\n")
    text = write_baselines_doc(built["committed"], store, doc).read_text()
    assert text.startswith("<!-- Generated from the committed store by `" + REGENERATE + "`")
    assert "\n\n# Converged baselines\n\nWhy PPO stalls: written by hand.\n\n## Groups of the study" in text
    body = render.render(built["committed"]).split("\n\n", 1)[1]
    assert render.TITLE not in text and text.endswith(body.replace("](scores.png)", "](images/baselines/scores.png)")
                                                      .replace("](learning_curves.png)",
                                                               "](images/baselines/learning_curves.png)"))
    for image in re.findall(r"\]\((images/baselines/[\w-]+\.png)\)", text):
        assert (doc.parent / image).read_bytes()[:4] == b"\x89PNG", image
    assert load(store / RESULTS_FILE) == built["committed"]
    assert load_baselines(store) == (built["committed"], "")
    assert baselines_markdown(built["committed"]).startswith(BASELINES_HEADER.format(intro="docs/baselines.intro.md"))


def test_docs_baselines_md_is_current_with_the_committed_store(tmp_path):
    if not (COMMITTED / "runs.sqlite").is_file():
        pytest.skip(f"{STORE_NAME}/ is not committed yet: run experiments/studies/baselines.yaml, commit its store "
                    f"without artifacts, then `{REGENERATE}`")
    assert DOC.is_file(), f"docs/baselines.md is missing: run `{REGENERATE}`"
    committed, note = load_baselines(COMMITTED)
    assert committed is not None, note
    store = tmp_path / "baselines"  # a copy: building the report must not touch the committed files
    shutil.copytree(COMMITTED, store, ignore=shutil.ignore_patterns("artifacts"))
    rebuilt = store_results(store, tmp_path / "out", name=STORE_NAME,
                            brackets={k: c.bracket for k, c in committed.contexts.items()})
    intro = intro_path(DOC)
    expected = baselines_markdown(rebuilt, intro.read_text() if intro.is_file() else "")
    assert DOC.read_text() == expected, f"docs/baselines.md is not current: run `{REGENERATE}`"
    assert render.render(committed) == render.render(rebuilt), f"{RESULTS_FILE} is not current: run `{REGENERATE}`"


# ----------------------------------------------------------------------------- the default report
def _report(baselines: StoreResults | None, note: str = "") -> Results:
    return Results(settings=Settings(budget="tiny", main_persona="mixture", max_turns=16), baselines=baselines,
                   baselines_note=note)


def test_the_default_report_shows_the_baselines_or_says_in_one_line_there_are_none(built, tmp_path):
    from difficult_customer.experiments.library.report.build import add_baselines

    absent = add_baselines(_report(None), tmp_path / "nowhere")
    assert absent.baselines is None
    lines = [line for line in render.section_baselines(absent) if line]
    assert len(lines) == 1 and "none committed" in lines[0]
    folder = tmp_path / "store"
    folder.mkdir()
    (folder / RESULTS_FILE).write_text(json.dumps({"kind": "report", "settings": {}}))
    broken = add_baselines(_report(None), folder)
    assert broken.baselines is None and "baselines.json cannot be read" in broken.baselines_note
    write_baselines_doc(built["committed"], folder, tmp_path / "doc.md")
    shown = add_baselines(_report(None), folder)
    assert shown.baselines == built["committed"] and shown.baselines_note == ""
    text = "\n".join(render.section_baselines(shown))
    assert text.startswith("### Converged baselines (committed store committed, 1 to 2 seeds)")
    for g in built["committed"].groups:
        assert f"| {g.label} | {g.reads} | {render.scored_cell(g.score)} |" in text
    other = add_baselines(Results(settings=Settings(budget="tiny", main_persona="belligerent", max_turns=16)), folder)
    assert other.baselines is not None and "not on this report's model (belligerent/none/16)" in other.baselines_note
    assert other.baselines_note in render.section_baselines(other)


def test_the_converged_best_seeds_get_conformance_rows_or_a_one_line_note():
    from difficult_customer.experiments.library.conformance import RULES
    from difficult_customer.experiments.library.report.results import RuleRate

    keeps = {r: RuleRate(rate=0.98, applicable=200, low=0.95, high=0.99) for r in RULES}
    report = _report(None)
    report.converged_note = "The converged learners' conformance is left out: not registered."
    text = "\n".join(render.section_conformance(report))
    assert report.converged_note in text and "ppo_converged" not in text
    report.conformance = {"ppo_converged": keeps}
    text = "\n".join(render.section_conformance(report))
    assert "| ppo_converged | " + " | ".join(render.rate_cell(keeps[r]) for r in RULES) + " |" in text
    assert "ppo_converged: the best seed of a converged baseline" in text and report.converged_note not in text
