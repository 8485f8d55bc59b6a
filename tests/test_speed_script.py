"""Smoke test of ``experiments/speed.py --quick``: the table has its rows, the JSON is written.

No timing is asserted: the quick run takes too few steps to mean anything.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from difficult_customer.experiments.commands import speed
from difficult_customer.experiments.library.training_speed import TrainingSpeed

ROWS = [
    "single env (gym.make)",
    "single env (unwrapped)",
    "batched N=1",
    "batched N=64",
    "batched N=1024",
    "batched N=16384",
    "batched vs SyncVectorEnv N=64",
    "PPO 1 env",
    "PPO 16 envs",
    "peak memory N=16384 (traced)",
    "peak memory N=16384 (max RSS)",
]


def measurements(table: str) -> list[str]:
    """The first cell of each row of a printed table, rich (box drawing) or plain text."""
    boxed = "│" in table
    names = []
    for line in table.splitlines():
        if boxed:
            cells = [c.strip() for c in line.split("│")] if line.startswith("│") else []
        else:
            cells = [] if line.startswith(("(", "-")) else re.split(r"\s{2,}", line.strip())
        cells = [c for c in cells if c]
        if cells and cells[0] != speed.COLUMNS[0]:
            names.append(cells[0])
    return names


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("speed") / "speed.json"
    result = subprocess.run(
        [sys.executable, "-m", "difficult_customer.experiments", "speed", "--quick", "--skip-training", "--json",
         str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    return result, out


def test_quick_run_prints_every_row(quick_run):
    result, _ = quick_run
    assert result.returncode == 0, result.stderr
    found = measurements(result.stdout)
    for name in ROWS:
        assert name in found, f"{name!r} missing from\n{result.stdout}"
    assert speed.QUICK_NOTE in result.stdout


def test_quick_run_writes_the_json_atomically(quick_run):
    result, out = quick_run
    data = json.loads(out.read_text())
    assert [row["name"] for row in data["rows"]] == ROWS
    assert data["config"]["quick"] is True
    for row in data["rows"]:
        assert row["value"] > 0 and row["met"] is None
    ratios = {row["name"]: row["ratio"] for row in data["rows"]}
    assert all(ratios[name] > 0 for name in ROWS[:9])
    assert [p.name for p in out.parent.iterdir()] == ["speed.json"]  # no temporary file left behind
    assert f"written: {out}" in result.stdout


@pytest.mark.parametrize("rich_output", [False, True])
def test_printed_table_has_every_row(rich_output, capsys):
    rows = [speed.Row(name, 1000.0, "reference", 500.0) for name in ROWS]
    speed.print_table(rows, quick=True, rich_output=rich_output)
    table = capsys.readouterr().out
    assert measurements(table) == ROWS
    assert "2.00x" in table and speed.QUICK_NOTE in table


def test_profile_prints_the_step(capsys):
    assert speed.main(speed.Config(profile=32, quick=True)) == 0
    out = capsys.readouterr().out
    assert "customer_vector_env.py" in out and "(step)" in out
    stages = re.findall(r"^  (.+?)\s+[\d.]+ us", out, flags=re.MULTILINE)
    assert stages[: len(speed.STAGES)] == list(speed.STAGES)


@pytest.mark.parametrize("config", [speed.Config(repeats=0), speed.Config(profile=0)])
def test_bad_options_exit_with_2(config, capsys):
    assert speed.main(config) == 2
    assert "allowed" in capsys.readouterr().err


def test_command_line_options_reach_the_config(capsys):
    from difficult_customer.experiments.cli import main as cli_main

    assert cli_main(["speed", "--repeats", "0"]) == 2
    assert "--repeats=0" in capsys.readouterr().err
    assert cli_main(["speed", "--profile", "16", "--quick"]) == 0
    assert "N=16" in capsys.readouterr().out


@pytest.mark.slow
def test_the_training_table_puts_each_jax_learner_beside_sb3_at_64_envs(monkeypatch):
    """The table's layout and what each row is compared with (the JAX trainer itself is tested in test_jax_ppo)."""
    pytest.importorskip("sb3_contrib")
    asked = []

    def jax_speed(algo, steps_per_seed):
        asked.append((algo, steps_per_seed))
        return TrainingSpeed(f"JAX {algo}, 10 seeds at once", 1e5, 10)

    monkeypatch.setattr(speed, "jax_speed", jax_speed)
    monkeypatch.setattr(speed, "time_to_target", lambda speeds: [])
    rows = speed.measure_training(speed.QUICK, seed=0)
    assert asked == [("ppo_jax", speed.QUICK.jax_train), ("gru_ppo_jax", speed.QUICK.jax_train)]
    assert [r.name for r in rows] == ["train: SB3 ppo, 8 envs", "train: JAX ppo_jax, 10 seeds at once",
                                      "train: SB3 recurrent_ppo, 8 envs", "train: JAX gru_ppo_jax, 10 seeds at once"]
    assert [r.reference for r in rows[1::2]] == ["SB3 ppo, 64 envs", "SB3 recurrent_ppo, 64 envs"]
    assert all(r.value > 0 for r in rows) and rows[3].ratio == pytest.approx(1e5 / rows[3].reference_value)
    assert rows[3].bar == ">= 10x"


def test_time_to_target_divides_the_baselines_steps_by_the_measured_speed(monkeypatch):
    """Seeds x steps to reach 0.85 (the committed baselines' IQM) / steps per second measured in the run."""
    pytest.importorskip("cattrs")
    from types import SimpleNamespace

    from difficult_customer.experiments.library.report import baselines

    reach = SimpleNamespace(target=0.85, iqm=200_000.0, reached=9, seeds=10)
    group = SimpleNamespace(learner="ppo_jax", curve=SimpleNamespace(convergence=SimpleNamespace(reach=[reach])))
    monkeypatch.setattr(baselines, "load_baselines", lambda: (SimpleNamespace(groups=[group]), ""))
    rows = speed.time_to_target({"ppo_jax": TrainingSpeed("JAX ppo_jax, 10 seeds at once", 1e5, 10),
                                 "recurrent_ppo": TrainingSpeed("SB3 recurrent_ppo, 8 envs", 700.0)})
    assert rows[0].value == pytest.approx(10 * 200_000 / 1e5) and rows[0].unit == "s"
    assert "9/10 seeds" in rows[0].reference
    assert rows[1].value != rows[1].value and "not in the committed baselines" in rows[1].reference
