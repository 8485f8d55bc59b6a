"""Episodes of any registered policy on the environment, seeded, as the benchmark and conformance read them.

:func:`run_episodes` plays any policy (scripted, exact, oracle, learned) through SB3's
``predict`` convention (``state`` and ``episode_start``). It is a thin layer over
:func:`difficult_customer.envs.rollout.rollout`: all seeds are played in lockstep through the
conversation core, episode ``i`` being exactly ``CustomerEnv.reset(seed=seeds[i])``'s
conversation under the policy's moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from difficult_customer import agents
from difficult_customer.agents import Policy, PolicyContext
from difficult_customer.customer_models import Abuse
from difficult_customer.envs.rollout import Rollout, rollout


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
    """Play one episode per seed with the policy ``policy_name``, all seeds in lockstep.

    Episode ``i`` is the conversation of ``CustomerEnv.reset(seed=seeds[i])`` under the
    policy's moves; the policy is called once per turn on the batch of all seeds (a
    policy that draws random numbers draws them in another order than it would one
    conversation at a time).

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
    seeds = [int(seed) for seed in seeds]
    if not seeds:
        return []
    played = rollout(
        policy,
        context.tables,
        seeds=seeds,
        max_turns=context.max_turns,
        observation=context.observation,
        deterministic=deterministic,
        progress=progress,
    )
    return episodes_of(played)


def episodes_of(played: Rollout) -> list[Episode]:
    """The :class:`Episode` records of a rollout's conversations (seeds -1 when it had none)."""
    persona_names = played.tables.persona_names
    persona = played.hidden("persona")[:, 0]
    outcomes = played.outcome_names()
    reactions, tones = played.reactions.tolist(), played.tones.tolist()
    anger, trust = played.hidden("anger").tolist(), played.hidden("trust").tolist()
    abuse, solved = played.hidden("abuse").tolist(), played.hidden("solved").tolist()
    moves, returns, turns = played.moves.tolist(), played.returns.tolist(), played.turns.tolist()
    seeds = [-1] * played.n if played.seeds is None else played.seeds.tolist()
    episodes = []
    for i in range(played.n):
        end = turns[i] + 1
        episodes.append(
            Episode(
                seed=seeds[i],
                persona=persona_names[persona[i]],
                outcome=outcomes[i],
                ret=returns[i],
                turns=turns[i],
                moves=moves[i][: turns[i]],
                reactions=reactions[i][:end],
                tones=tones[i][:end],
                anger=anger[i][:end],
                trust=trust[i][:end],
                abusive=[a == Abuse.abusive for a in abuse[i][:end]],
                solved_before=[bool(v) for v in solved[i][:end]],
            )
        )
    return episodes
