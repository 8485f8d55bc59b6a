"""The README's example conversation is what the environment plays."""

from __future__ import annotations

import re
from pathlib import Path

import gymnasium as gym

from difficult_customer import agents, envs  # noqa: F401  (registers the id)

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
