"""The README's example conversation is what the environment plays."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym

from difficult_customer import agents, envs  # noqa: F401  (registers the id)
from difficult_customer.customer_models.vocabulary import Outcome

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_example_conversation_is_what_the_env_plays():
    text = README.read_text()
    intro = re.search(r"guide (\d{3}) on a genuine\s+grievance, seed (\d+)\)", text)
    assert intro, "the README names the guide and seed of its example"
    block = text[intro.end():].split("```text\n", 1)[1].split("```", 1)[0]
    shown = re.findall(r"^\[\s*\d+\] Agent \((\w+)\):.*\n\s+Customer \[(\w+), (\w+)\]", block, flags=re.M)
    env = gym.make("DifficultCustomer-v0", persona="genuine_grievance")
    policy = agents.make(f"guide_{intro.group(1)}")
    obs, info = env.reset(seed=int(intro.group(2)))
    played, done = [], False
    while not done:
        move = int(policy.predict(obs)[0])
        obs, _, terminated, truncated, info = env.step(move)
        played.append((envs.MOVE_NAMES[move], info["tone"], info["reaction"]))
        done = terminated or truncated
    assert shown == played


def _first_screen() -> str:
    return "\n".join(README.read_text().splitlines()[:40])


def test_the_first_screen_has_the_install_a_gym_make_loop_and_the_report_command_with_its_output():
    first = _first_screen()
    assert "pip install -e ." in first
    assert re.search(r"gym\.make\(\"DifficultCustomer-v0\".*\n(.*\n)*while not done:", first)
    assert re.search(r"^difficult-customer report$", first, flags=re.M)  # on a line of its own
    assert "results/report/report.md" in first and "docs/example-report/report.md" in first
    assert (README.parent / "docs" / "example-report" / "report.md").is_file()


def test_the_first_screens_loop_runs(capsys):
    code = _first_screen().split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md", "exec"), {})
    outcome = capsys.readouterr().out.split()[0]
    assert outcome in {o.name for o in Outcome} - {"ongoing"}
