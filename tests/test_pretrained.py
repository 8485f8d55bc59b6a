"""Pretrained agents: the numpy networks equal JaxPolicy's, play without jax, register from pretrained.json,
and ``difficult-customer pretrained`` writes them from a sweep store (a made-up one, and a tiny real train_jax study).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.evaluation import Z95
from difficult_customer.agents.jax_models import save_model
from difficult_customer.agents.learned import (
    PRETRAINED_INDEX,
    pretrained_spec,
    read_pretrained,
    register_pretrained,
)
from difficult_customer.agents.numpy_networks import NumpyNetworkPolicy, gru_step, mlp_apply
from difficult_customer.customer_models.vocabulary import N_MOVES
from difficult_customer.envs.observation import PARTIAL_SIZE
from difficult_customer.experiments import cli
from difficult_customer.experiments.commands import pretrained as command
from difficult_customer.experiments.library.sweep.store import Store

ALGOS = ("ppo_jax", "gru_ppo_jax")


# ------------------------------------------------------------------ random networks
def _dense(rng: np.random.Generator, n_in: int, n_out: int) -> dict[str, np.ndarray]:
    """A dense layer with large enough random weights and biases that every gate and unit is exercised."""
    return {"w": (rng.normal(size=(n_in, n_out)) * 1.5 / np.sqrt(n_in)).astype(np.float32),
            "b": (rng.normal(size=n_out) * 0.5).astype(np.float32)}


def _head(rng: np.random.Generator, sizes: list[int]) -> dict[str, Any]:
    return {str(i): _dense(rng, sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)}


def random_params(algo: str, rng: np.random.Generator, hidden: tuple[int, ...] = (16, 16),
                  gru_size: int = 8) -> dict[str, Any]:
    """Random parameters in the layout of jax_policy's init_mlp / init_gru."""
    if algo == "ppo_jax":
        sizes = [PARTIAL_SIZE, *hidden]
        return {"actor": _head(rng, [*sizes, N_MOVES]), "critic": _head(rng, [*sizes, 1])}
    heads = [gru_size, *hidden[1:]]
    gru = {"wi": (rng.normal(size=(hidden[0], 3 * gru_size)) / np.sqrt(hidden[0])).astype(np.float32),
           "wh": (rng.normal(size=(gru_size, 3 * gru_size)) * 1.5 / np.sqrt(gru_size)).astype(np.float32),
           "bi": (rng.normal(size=3 * gru_size) * 0.5).astype(np.float32),
           "bh": (rng.normal(size=3 * gru_size) * 0.5).astype(np.float32)}
    return {"embed": _dense(rng, PARTIAL_SIZE, hidden[0]), "gru": gru,
            "actor": _head(rng, [*heads, N_MOVES]), "critic": _head(rng, [*heads, 1])}


def save_random_model(path: Path, algo: str, seed: int = 0, hidden: tuple[int, ...] = (16, 16)) -> Path:
    params = random_params(algo, np.random.default_rng(seed), hidden)
    return save_model(path, params, {"algo": algo, "hidden": list(hidden), "gru_size": 8, "max_turns": 16,
                                     "persona": "mixture", "ablate": [], "seed": seed})


def observations(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random observations: the partial observation's width plus a few columns the policies must ignore."""
    return rng.normal(size=(n, PARTIAL_SIZE + 3)).astype(np.float32)


# ------------------------------------------------------------------ numpy == jax
@pytest.mark.parametrize("algo", ALGOS)
def test_numpy_forward_equals_jax_policy_over_steps_with_episode_starts(algo: str) -> None:
    pytest.importorskip("jax")
    import jax.numpy as jnp

    from difficult_customer.agents import jax_policy

    rng = np.random.default_rng(7)
    for trial in range(3):
        params = random_params(algo, rng, hidden=(16, 12), gru_size=8)
        jax_agent = jax_policy.JaxPolicy.from_params(algo, params)
        numpy_agent = NumpyNetworkPolicy.from_params(algo, params)
        n = 5 + trial
        jax_state = numpy_state = None
        hidden = np.zeros((n, 8), dtype=np.float32)
        for step in range(6):
            obs = observations(rng, n)
            start = np.ones(n, dtype=bool) if step == 0 else rng.random(n) < 0.3
            jax_logits, jax_state = jax_agent.logits(obs[:, :PARTIAL_SIZE], jax_state, start)
            np_logits, numpy_state = numpy_agent.logits(obs[:, :PARTIAL_SIZE], numpy_state, start)
            np.testing.assert_allclose(np_logits, jax_logits, rtol=1e-5, atol=1e-5)
            if algo == "gru_ppo_jax":
                np.testing.assert_allclose(numpy_state, jax_state, rtol=1e-5, atol=1e-5)
                # the pure functions too, values included
                want = jax_policy.gru_step(params, jnp.asarray(hidden), jnp.asarray(obs[:, :PARTIAL_SIZE]),
                                           jnp.asarray(start))
                got = gru_step(params, hidden, obs[:, :PARTIAL_SIZE], start)
                for a, b in zip(got, want, strict=True):
                    np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-5)
                hidden = got[0]
            else:
                assert numpy_state is None and jax_state is None
                want = jax_policy.mlp_apply(params, jnp.asarray(obs[:, :PARTIAL_SIZE]))
                for a, b in zip(mlp_apply(params, obs[:, :PARTIAL_SIZE]), want, strict=True):
                    np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-5)
            # the same moves wherever the best move is clear (a near tie may round either way)
            top2 = np.sort(np_logits, axis=-1)[:, -2:]
            clear = top2[:, 1] - top2[:, 0] > 1e-4
            assert clear.any()
            assert (np_logits.argmax(-1) == jax_logits.argmax(-1))[clear].all()


@pytest.mark.parametrize("algo", ALGOS)
def test_predict_takes_one_observation_or_a_batch_and_episode_start_blanks_the_memory(algo: str) -> None:
    policy = NumpyNetworkPolicy.from_params(algo, random_params(algo, np.random.default_rng(1)))
    obs = observations(np.random.default_rng(2), 4)
    moves, state = policy.predict(obs)
    assert moves.shape == (4,) and moves.dtype == np.int64 and ((moves >= 0) & (moves < N_MOVES)).all()
    one, one_state = policy.predict(obs[0], None, np.ones(1, dtype=bool))
    assert one.shape == () and int(one) == int(moves[0])
    if algo == "ppo_jax":
        assert state is None and one_state is None
        return
    assert state.shape == (4, 8) and state.dtype == np.float32
    later, _ = policy.predict(obs, state, np.zeros(4, dtype=bool))
    restarted, _ = policy.predict(obs, state + 5.0, np.ones(4, dtype=bool))  # a start forgets any memory
    np.testing.assert_array_equal(restarted, moves)
    assert later.shape == (4,)
    sampled, _ = NumpyNetworkPolicy.from_params(algo, policy.params, seed=0).predict(obs, None, None, False)
    again, _ = NumpyNetworkPolicy.from_params(algo, policy.params, seed=0).predict(obs, None, None, False)
    np.testing.assert_array_equal(sampled, again)


def test_bad_observations_and_parameters_are_named_errors(tmp_path: Path) -> None:
    policy = NumpyNetworkPolicy.from_params("ppo_jax", random_params("ppo_jax", np.random.default_rng(0)))
    with pytest.raises(ValueError, match="observation of shape"):
        policy.predict(np.zeros(3))
    with pytest.raises(ValueError, match="allowed: ppo_jax, gru_ppo_jax"):
        NumpyNetworkPolicy.from_params("ppo", policy.params)
    with pytest.raises(ValueError, match="lack a layer"):
        NumpyNetworkPolicy.from_params("gru_ppo_jax", policy.params)
    params = random_params("ppo_jax", np.random.default_rng(0))
    params["actor"]["1"]["w"] = params["actor"]["1"]["w"][:5]
    with pytest.raises(ValueError, match="mismatched layer shapes"):
        NumpyNetworkPolicy.from_params("ppo_jax", params)
    with pytest.raises(ValueError, match="no JAX model"):
        NumpyNetworkPolicy(tmp_path / "missing.npz")
    loaded = NumpyNetworkPolicy(save_random_model(tmp_path / "m.npz", "gru_ppo_jax"))
    assert loaded.algo == "gru_ppo_jax" and loaded.recurrent and loaded.path == tmp_path / "m.npz"


# ------------------------------------------------------------------ a made-up sweep store
def _model_bytes(tmp_path: Path, algo: str, seed: int, hidden: tuple[int, ...] = (16, 16)) -> bytes:
    return save_random_model(tmp_path / f"made-{algo}-{seed}-{len(hidden)}.npz", algo, seed, hidden).read_bytes()


def _result(seeds: list[int], final: list[float], stderr: list[float], source: str, iqm: float) -> dict[str, Any]:
    return {"iqm": iqm, "seeds": seeds, "final": final, "final_stderr": stderr, "curve_source": source,
            "steps": [128, 384]}


def _settings(algo: str, seed: int, **extra: Any) -> dict[str, Any]:
    return {"algo": algo, "persona": "mixture", "ablate": [], "max_turns": 16, "hidden": [16, 16], "gru_size": 8,
            "steps": 384, "seed": seed, "n_seeds": 2, **extra}


def make_store(tmp_path: Path, big: bool = False) -> Path:
    """Two ppo_jax runs (the IQM's best and the best single seed differ), a gru_ppo_jax run, and runs to skip."""
    store = Store(tmp_path / "store")
    runs = [
        ("mlp_a", _settings("ppo_jax", 0), _result([0, 1], [0.5, 0.7], [0, 0], "exact", 0.6)),
        ("mlp_b", _settings("ppo_jax", 2), _result([2, 3], [0.9, 0.1], [0, 0], "exact", 0.5)),
        ("gru_a", _settings("gru_ppo_jax", 0), _result([0, 1], [0.3, 0.4], [0.01, 0.02], "sampled", 0.35)),
        ("other_persona", {**_settings("ppo_jax", 4), "persona": "belligerent"},
         _result([4, 5], [1.0, 1.0], [0, 0], "exact", 1.0)),
        ("ablated", _settings("ppo_jax", 6, ablate=["C4"]), _result([6, 7], [1.0, 1.0], [0, 0], "exact", 1.0)),
    ]
    for run_id, settings, result in runs:
        hidden = (700, 400) if big and run_id == "mlp_a" else (16, 16)
        artifacts = {f"seed{s}/model.npz": _model_bytes(tmp_path, settings["algo"], s, hidden)
                     for s in result["seeds"]}
        store.record(run_id, "made-up", "train_jax", settings, result, result["iqm"], artifacts)
    store.record("probe", "made-up", "probe", {"seed": 0}, {"value": 1.0}, 1.0, {})
    return store.path


def test_command_picks_the_best_iqm_runs_best_seed_and_writes_the_files(tmp_path: Path, capsys) -> None:
    store, out = make_store(tmp_path), tmp_path / "out"
    assert cli.main(["pretrained", "--store", str(store), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "ppo_converged: ppo_jax seed 1" in printed and "recurrent_converged: gru_ppo_jax seed 1" in printed
    entries = json.loads((out / PRETRAINED_INDEX).read_text())
    assert sorted(entries) == ["ppo_converged", "recurrent_converged"]
    mlp, gru = entries["ppo_converged"], entries["recurrent_converged"]
    assert (mlp["file"], mlp["algo"], mlp["reads"], mlp["trained_on"], mlp["steps"], mlp["seed"]) == (
        "ppo_converged.npz", "ppo_jax", "observation", "mixture", 384, 1)
    assert mlp["score"] == {"normalized": 0.7, "low": 0.7, "high": 0.7, "source": "exact"}
    assert mlp["run"]["run_id"] == "mlp_a" and "among 2 ppo_jax runs" in mlp["selection"]
    assert mlp["settings"] == _settings("ppo_jax", 0)
    assert mlp["regenerate"] == f"difficult-customer pretrained --store {store} --out {out}"
    assert (gru["reads"], gru["seed"], gru["score"]["source"]) == ("observation history", 1, "sampled")
    assert gru["score"]["low"] == pytest.approx(0.4 - Z95 * 0.02) and gru["score"]["high"] == pytest.approx(
        0.4 + Z95 * 0.02)
    assert "GRU 8" in gru["learner"] and "MLP (16, 16)" in mlp["learner"]
    for name, entry in entries.items():
        data = (out / f"{name}.npz").read_bytes()
        assert data == (store / "artifacts" / entry["run"]["run_id"] / f"seed{entry['seed']}/model.npz").read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    assert not list(out.glob(".*"))  # no temporary file left behind
    assert read_pretrained(out) == entries


def test_best_seed_pick_and_entries_of_other_names_are_kept(tmp_path: Path) -> None:
    store, out = make_store(tmp_path), tmp_path / "out"
    out.mkdir()
    (out / PRETRAINED_INDEX).write_text(json.dumps({"kept": {"file": "kept.npz"}}))
    config = command.Config(store=str(store), out=str(out), pick="best-seed")
    assert command.main(config) == 0
    entries = json.loads((out / PRETRAINED_INDEX).read_text())
    assert entries["kept"] == {"file": "kept.npz"}
    assert (entries["ppo_converged"]["run"]["run_id"], entries["ppo_converged"]["seed"]) == ("mlp_b", 2)
    assert entries["ppo_converged"]["score"]["normalized"] == 0.9
    assert entries["ppo_converged"]["regenerate"].endswith("--pick best-seed")
    belligerent = command.Config(store=str(store), out=str(tmp_path / "b"), persona="belligerent")
    assert command.main(belligerent) == 0
    assert list(json.loads((tmp_path / "b" / PRETRAINED_INDEX).read_text())) == ["ppo_converged"]


def test_command_refuses_a_model_over_1_mb_and_bad_stores_with_status_2(tmp_path: Path, capsys) -> None:
    store, out = make_store(tmp_path, big=True), tmp_path / "out"
    assert command.main(command.Config(store=str(store), out=str(out))) == 2
    err = capsys.readouterr().err
    assert "at most 1,000,000 bytes (1 MB)" in err and "seed1/model.npz" in err
    assert not out.exists()  # nothing written: every model is checked first
    assert command.main(command.Config(store=str(tmp_path / "nowhere"), out=str(out))) == 2
    assert "no sweep store" in capsys.readouterr().err
    assert command.main(command.Config(store=str(store), out=str(out), persona="reasonable")) == 2
    assert "no train_jax runs of ppo_jax or gru_ppo_jax on persona 'reasonable'" in capsys.readouterr().err


# ------------------------------------------------------------------ registration
def test_absent_empty_or_broken_pretrained_files_register_nothing_without_failing(tmp_path: Path) -> None:
    before = agents.names()
    assert register_pretrained(tmp_path / "absent") == []
    tmp_path.joinpath(PRETRAINED_INDEX).write_text("")
    assert register_pretrained(tmp_path) == []
    tmp_path.joinpath(PRETRAINED_INDEX).write_text("{}")
    assert register_pretrained(tmp_path) == []
    tmp_path.joinpath(PRETRAINED_INDEX).write_text("{not json")
    with pytest.warns(RuntimeWarning, match="not valid JSON"):
        assert register_pretrained(tmp_path) == []
    entry = {"file": "gone.npz", "algo": "ppo_jax", "reads": "observation", "trained_on": "mixture",
             "score": {"normalized": 0.5, "low": 0.5, "high": 0.5, "source": "exact"}}
    tmp_path.joinpath(PRETRAINED_INDEX).write_text(json.dumps({"test_gone": entry}))
    with pytest.warns(RuntimeWarning, match="'test_gone' not registered: .*no model file"):
        assert register_pretrained(tmp_path) == []
    assert agents.names() == before
    save_random_model(tmp_path / "gone.npz", "ppo_jax")
    with pytest.raises(ValueError, match="reads the observation history, not 'observation'"):
        pretrained_spec("x", {**entry, "algo": "gru_ppo_jax"}, tmp_path)
    with pytest.raises(ValueError, match="must be the name of a .npz file"):
        pretrained_spec("x", {**entry, "file": "../gone.npz"}, tmp_path)
    with pytest.raises(ValueError, match="score must have"):
        pretrained_spec("x", {**entry, "score": {"normalized": 0.5}}, tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = pretrained_spec("x", entry, tmp_path)
    assert (spec.kind, spec.memory, spec.decides_on) == ("learned", False, "partial")
    assert "normalized score 0.500 (exact)" in spec.description


NO_JAX = textwrap.dedent("""
    import sys

    class Blocked:  # any import of jax or torch fails, as in a core install
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("jax", "jaxlib", "torch"):
                raise ImportError(f"{name} is blocked")
            return None

    sys.meta_path.insert(0, Blocked())
    sys.modules["jax"] = None
    import json
    import numpy as np
    from difficult_customer import agents
    from difficult_customer.agents.base import PolicyContext
    from difficult_customer.agents.learned import register_pretrained
    from difficult_customer.experiments.library.evaluation import is_memoryless, policy_value
    from difficult_customer.experiments.library.rollouts import run_episodes
    try:
        import jax
    except ImportError:
        pass
    else:
        raise SystemExit("jax imported")
    before = set(agents.names())
    specs = register_pretrained(sys.argv[1])
    again = register_pretrained(sys.argv[1])  # the same folder again: the same specs
    assert [s.name for s in again] == [s.name for s in specs]
    out = {}
    context = PolicyContext.create(max_turns=4)
    for spec in specs:
        policy = agents.make(spec.name, context)
        moves, state = policy.predict(np.zeros((3, 30), dtype=np.float32), None, np.ones(3, dtype=bool))
        value = policy_value(spec.name, context, mc_episodes=40)
        episodes = run_episodes(spec.name, context, range(3))
        out[spec.name] = {"kind": spec.kind, "memory": spec.memory, "decides_on": spec.decides_on,
                          "memoryless": is_memoryless(spec.name), "description": spec.description,
                          "type": type(policy).__name__, "moves": moves.tolist(), "source": value["source"],
                          "episodes": len(episodes), "path": str(spec.path)}
    loaded = [m for m, module in sys.modules.items() if m.split(".")[0] in ("jax", "torch") and module is not None]
    assert not loaded, loaded
    print(json.dumps(out))
""")


def test_pretrained_agents_register_and_play_without_jax(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert command.main(command.Config(store=str(make_store(tmp_path)), out=str(out))) == 0
    done = subprocess.run([sys.executable, "-c", NO_JAX, str(out)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(seen) == ["ppo_converged", "recurrent_converged"]
    mlp, gru = seen["ppo_converged"], seen["recurrent_converged"]
    assert all(s["kind"] == "learned" and s["decides_on"] == "partial" for s in seen.values())
    # the folder registered explicitly wins over the package's own agents of the same names
    assert all(Path(s["path"]).resolve().parent == out.resolve() for s in seen.values())
    assert all(s["type"] == "NumpyNetworkPolicy" and s["episodes"] == 3 for s in seen.values())
    # the MLP reads only the observation: valued exactly, like a registered ppo_jax model; the GRU is sampled
    assert (mlp["memory"], mlp["memoryless"], mlp["source"]) == (False, True, "exact")
    assert (gru["memory"], gru["memoryless"], gru["source"]) == (True, False, "monte carlo")
    assert "normalized score 0.700 (exact)" in mlp["description"]
    assert f"normalized score 0.400 [{0.4 - Z95 * 0.02:.3f}, {0.4 + Z95 * 0.02:.3f}] (sampled)" in gru["description"]
    assert "reads the observation history" in gru["description"]


# ------------------------------------------------------------------ a tiny real train_jax study
TINY = {"steps": 3 * 8 * 16, "n_envs": 8, "n_steps": 16, "epochs": 2, "minibatches": 4, "hidden": [16, 16],
        "gru_size": 8, "curve_every": 128, "n_seeds": 2, "eval_episodes": 50}


@pytest.mark.timeout(600)
def test_command_on_a_tiny_train_jax_study_ships_models_equal_to_the_jax_ones(tmp_path: Path) -> None:
    pytest.importorskip("jax")
    pytest.importorskip("optax")
    from difficult_customer.agents.exact.memoryless_value import memoryless_value
    from difficult_customer.agents.exact.normalize import normalize
    from difficult_customer.agents.jax_policy import JaxPolicy
    from difficult_customer.experiments.library.scores import reference_values
    from difficult_customer.experiments.library.sweep.engine import execute_run
    from difficult_customer.experiments.library.sweep.study import expand_study

    study = expand_study({"name": "tiny", "kind": "train_jax", "fixed": TINY,
                          "grid": {"algo": ["ppo_jax", "gru_ppo_jax"]}})
    store = Store(tmp_path / "store")
    for run in study.runs:
        done = execute_run(run.kind, run.settings, run.run_id)
        assert store.record(run.run_id, study.name, run.kind, run.settings, done["result"],
                            done["result"]["iqm"], done["artifacts"])
    out = tmp_path / "pretrained"
    assert command.main(command.Config(store=str(store.path), out=str(out))) == 0
    entries = read_pretrained(out)
    assert sorted(entries) == ["ppo_converged", "recurrent_converged"]
    context = PolicyContext.create(persona="mixture", max_turns=16)
    rng = np.random.default_rng(0)
    for name, entry in entries.items():
        path = out / entry["file"]
        assert path.stat().st_size <= command.MAX_MODEL_BYTES
        assert entry["steps"] == 3 * 8 * 16 and entry["trained_on"] == "mixture"
        numpy_agent, jax_agent = NumpyNetworkPolicy(path), JaxPolicy(path)
        numpy_state = jax_state = None
        for step in range(4):
            obs = observations(rng, 6)[:, :PARTIAL_SIZE]
            start = np.full(6, step == 0)
            a, numpy_state = numpy_agent.logits(obs, numpy_state, start)
            b, jax_state = jax_agent.logits(obs, jax_state, start)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        spec = pretrained_spec(name, entry, out)
        if entry["algo"] == "ppo_jax":
            # the score shipped is the exact value of the numpy policy shipped
            assert entry["score"]["source"] == "exact" and entry["score"]["low"] == entry["score"]["high"]
            refs = reference_values(context)
            value = memoryless_value(spec.make(context), context).value
            assert normalize(value, refs["random"], refs["oracle"]) == pytest.approx(entry["score"]["normalized"],
                                                                                      abs=1e-9)
            assert not spec.memory
        else:
            assert entry["score"]["source"] == "sampled" and entry["score"]["low"] < entry["score"]["high"]
            assert spec.memory


COMMANDS = textwrap.dedent("""
    import sys
    from difficult_customer.agents.learned import register_pretrained
    from difficult_customer.experiments import cli
    from difficult_customer.experiments.teaching.session import check_policy
    names = [s.name for s in register_pretrained(sys.argv[1])]
    for name in names:
        assert check_policy(name, allow_files=False) == name  # what serve accepts from the page
        assert cli.main(["watch", "--policy", name, "--all-at-once", "--seed", "1"]) == 0
        assert cli.main(["explain", "--policy", name, "--seed", "1", "--max-turns", "4"]) == 0
    assert cli.main(["benchmark", "--policies", *names, "--personas", "mixture", "--episodes", "8",
                     "--max-turns", "4", "--out", sys.argv[2]]) == 0
    print("ok", *names)
""")


def test_watch_explain_benchmark_and_serve_accept_a_pretrained_name(tmp_path: Path) -> None:
    pytest.importorskip("tyro")
    pytest.importorskip("rich")
    out = tmp_path / "out"
    assert command.main(command.Config(store=str(make_store(tmp_path)), out=str(out))) == 0
    done = subprocess.run([sys.executable, "-c", COMMANDS, str(out), str(tmp_path / "bench")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "ok ppo_converged recurrent_converged"
