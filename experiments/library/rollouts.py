"""The one evaluation path: run any registered policy on the environment, seeded.

Every policy (scripted, exact, oracle, learned) goes through :func:`run_episodes`, which
uses SB3's ``predict`` convention (``state`` and ``episode_start``), so the numbers of
the benchmark, the report and the tests are comparable.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from difficult_customer import agents
from difficult_customer.agents import Policy, PolicyContext
from difficult_customer.customer_models import Reaction, Tone
from difficult_customer.envs.customer_env import CustomerEnv


@dataclass
class Episode:
    """One conversation, as the benchmark and the conformance checks need it."""

    seed: int
    persona: str
    outcome: str
    ret: float
    turns: int
    moves: list[int] = field(default_factory=list)
    reactions: list[int] = field(default_factory=list)
    """Reaction shown before each move, then the last one (length turns + 1)."""
    tones: list[int] = field(default_factory=list)
    anger: list[int] = field(default_factory=list)
    """Hidden anger before each move, then at the end (length turns + 1)."""
    trust: list[int] = field(default_factory=list)
    abusive: list[bool] = field(default_factory=list)
    """Hidden: the customer was abusive before each move (and at the end)."""
    solved_before: list[bool] = field(default_factory=list)
    """Hidden = visible: the problem was solved before each move (and at the end)."""

    @property
    def success(self) -> bool:
        return self.outcome == "solved_and_followed_up"


def policy_context_for(name: str, context: PolicyContext) -> PolicyContext:
    """The context a policy runs in: oracles get the full observation."""
    if ":" not in name and agents.spec(name).kind == "oracle":
        return replace(context, observation="full")
    return context


def run_episodes(
    policy_name: str | Policy,
    context: PolicyContext,
    seeds: Sequence[int] | Iterable[int],
    deterministic: bool = True,
    progress: Any = None,
) -> list[Episode]:
    """Play one episode per seed with the policy ``policy_name``.

    Args:
        policy_name: a registered policy name (see ``difficult_customer.agents.names()``), a prefix path
            (``"ppo:model.zip"``), or a policy object with ``predict``.
        context: the environment (persona, ablation, turn limit, rewards). The policy's
            own random seed is ``context.seed``.
        seeds: one environment seed per episode.
        deterministic: passed to ``predict``.
        progress: optional callable called with 1 after each episode (e.g. a tqdm update).

    Returns:
        The episodes, in the order of ``seeds``.
    """
    if isinstance(policy_name, str):
        context = policy_context_for(policy_name, context)
        policy = agents.make(policy_name, context)
    else:
        policy = policy_name
    env = CustomerEnv(**context.env_kwargs())
    episodes = []
    for seed in seeds:
        obs, info = env.reset(seed=int(seed))
        state = None
        start = np.ones((1,), dtype=bool)
        hidden = info["hidden_state"]
        ep = Episode(seed=int(seed), persona=str(hidden["persona"]), outcome="", ret=0.0, turns=0)
        while True:
            ep.reactions.append(int(Reaction[info["reaction"]]))
            ep.tones.append(int(Tone[info["tone"]]))
            ep.anger.append(int(hidden["anger"]))
            ep.trust.append(int(hidden["trust"]))
            ep.abusive.append(hidden["abuse"] == "abusive")
            ep.solved_before.append(bool(hidden["solved"]))
            if ep.outcome:
                break
            action, state = policy.predict(obs[None], state=state, episode_start=start, deterministic=deterministic)
            start = np.zeros((1,), dtype=bool)
            move = int(np.asarray(action).reshape(-1)[0])
            obs, reward, terminated, truncated, info = env.step(move)
            hidden = info["hidden_state"]
            ep.moves.append(move)
            ep.ret += float(reward)
            ep.turns += 1
            if terminated or truncated:
                ep.outcome = info["outcome"]
        episodes.append(ep)
        if progress is not None:
            progress(1)
    return episodes
