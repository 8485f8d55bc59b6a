"""Annotated conversations: why each move is good or bad, turn by turn.

:func:`explain_conversation` plays one conversation with any registered policy and
records, at every turn, the value of every move under the oracle (which sees the true
hidden state) and under a belief-based policy (which sees only what the agent sees),
together with the Bayes filter's belief over persona and its expected anger and trust.
:func:`format_explanation` prints it next to the environment's transcript.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from difficult_customer.agents.base import Policy, PolicyContext
from difficult_customer.agents.exact.oracle import OracleValueIteration, solve_oracle
from difficult_customer.agents.exact.policies import BeliefPolicy
from difficult_customer.agents.registry import make, spec
from difficult_customer.customer_models import Move
from difficult_customer.envs.observation import PARTIAL_SIZE


@dataclass(frozen=True)
class TurnExplanation:
    """What was known and what each move was worth at one turn.

    Attributes:
        turn: turns taken so far.
        transcript: the environment's transcript lines up to this decision.
        hidden: the true hidden state (for the reader; the agent does not see it).
        persona_belief: the filter's probability of each persona.
        expected_anger: the filter's expected anger (0 calm ... 4 furious).
        expected_trust: the filter's expected trust (0 none ... 3 high).
        oracle_q: value of each move for the oracle, who sees the hidden state.
        belief_q: value of each move for the belief-based policy.
        move: the move the policy made (None once the conversation is over).
        reward: the reward that move earned.
    """

    turn: int
    transcript: list[str]
    hidden: dict[str, object]
    persona_belief: dict[str, float]
    expected_anger: float
    expected_trust: float
    oracle_q: dict[str, float] = field(default_factory=dict)
    belief_q: dict[str, float] = field(default_factory=dict)
    move: str | None = None
    reward: float | None = None


@dataclass(frozen=True)
class Explanation:
    """One annotated conversation."""

    policy: str
    context: PolicyContext
    seed: int
    belief_policy: str
    turns: list[TurnExplanation]
    outcome: str
    total_return: float


def explain_conversation(
    policy: str | Policy, context: PolicyContext, seed: int = 0, belief_depth: int = 1
) -> Explanation:
    """Play one conversation with ``policy`` and annotate every turn.

    Args:
        policy: a registered policy name or a policy object. An oracle (kind
            ``"oracle"``) gets full observations; any other policy gets partial ones.
        context: the environment (persona, ablation, turn limit, rewards).
        seed: the conversation's seed (``env.reset(seed=seed)``).
        belief_depth: depth of the belief-based policy whose move values are shown
            (0 QMDP, 1 belief lookahead).

    Returns:
        The :class:`Explanation`.
    """
    from difficult_customer.envs.customer_env import CustomerEnv

    name = policy if isinstance(policy, str) else getattr(policy, "name", type(policy).__name__)
    peeks = spec(policy).kind == "oracle" if isinstance(policy, str) else isinstance(policy, OracleValueIteration)
    agent = make(policy, context) if isinstance(policy, str) else policy
    if peeks and isinstance(policy, str):
        agent = make(policy, replace(context, observation="full"))
    kwargs = {**context.env_kwargs(), "observation": "full", "render_mode": "ansi"}
    env = CustomerEnv(**kwargs)
    believer = BeliefPolicy(context, belief_depth)
    solution = solve_oracle(env.tables, context.max_turns)
    moves = [m.name for m in Move]

    obs, info = env.reset(seed=seed)
    shown = 0
    memory, belief_state, start = None, None, np.ones(1, dtype=bool)
    turns: list[TurnExplanation] = []
    total, done, outcome = 0.0, False, "ongoing"
    while True:
        lines = env.render().splitlines()
        new_lines, shown = lines[shown:], len(lines)
        _, q_belief, belief_state = believer.step(obs[None, :PARTIAL_SIZE], belief_state, start)
        belief = belief_state.belief(0, env.tables)
        s = info["state_index"]
        oracle_q = solution.q[solution.moves_left(info["turn"]), s] if not done else None
        move, reward = None, None
        if not done:
            seen = obs[None] if peeks else obs[None, :PARTIAL_SIZE]
            action, memory = agent.predict(seen, memory, start, True)
            move = int(np.asarray(action).reshape(-1)[0])
        turns.append(
            TurnExplanation(
                turn=int(info["turn"]),
                transcript=new_lines,
                hidden=dict(info["hidden_state"]),
                persona_belief=belief.persona(),
                expected_anger=belief.expected("anger"),
                expected_trust=belief.expected("trust"),
                oracle_q={} if oracle_q is None else dict(zip(moves, oracle_q.tolist(), strict=True)),
                belief_q={} if done else dict(zip(moves, q_belief[0].tolist(), strict=True)),
                move=None if move is None else moves[move],
            )
        )
        if done:
            break
        obs, reward, terminated, truncated, info = env.step(move)
        turns[-1] = TurnExplanation(**{**turns[-1].__dict__, "reward": float(reward)})
        total += float(reward)
        start = np.zeros(1, dtype=bool)
        done = terminated or truncated
        if done:
            outcome = info["outcome"]
            if terminated:  # no decision after the end: show the closing lines and stop
                lines = env.render().splitlines()
                turns.append(
                    TurnExplanation(
                        turn=int(info["turn"]),
                        transcript=lines[shown:],
                        hidden=dict(info["hidden_state"]),
                        persona_belief=turns[-1].persona_belief,
                        expected_anger=turns[-1].expected_anger,
                        expected_trust=turns[-1].expected_trust,
                    )
                )
                break
    return Explanation(name, context, seed, believer.name, turns, outcome, total)


def _ranked(values: dict[str, float], chosen: str | None) -> str:
    order = sorted(values, key=lambda m: -values[m])
    best = order[0]
    parts = []
    for m in order:
        tags = [t for t, on in (("best", m == best), ("played", m == chosen)) if on]
        parts.append(f"{m}: {values[m]:+.2f}" + (f" ({', '.join(tags)})" if tags else ""))
    return ", ".join(parts)


def format_explanation(explanation: Explanation) -> str:
    """The transcript with each decision annotated by move values and the belief."""
    e = explanation
    c = e.context
    out = [
        f"policy {e.policy} | persona {c.persona} | ablate {list(c.ablate) or 'none'} | max_turns {c.max_turns} "
        f"| seed {e.seed}",
        f"move values: expected return from here on; oracle = sees the hidden state, {e.belief_policy} = "
        "sees only the observation",
        "",
    ]
    for t in e.turns:
        out.extend(t.transcript)
        if t.move is None and not t.oracle_q:
            continue
        persona = ", ".join(f"{k} {v:.2f}" for k, v in t.persona_belief.items())
        h = t.hidden
        out.append(
            f"     belief: {persona}; anger ~{t.expected_anger:.1f} (true {h['anger']}), "
            f"trust ~{t.expected_trust:.1f} (true {h['trust']}), true persona {h['persona']}"
        )
        if t.move is not None:
            out.append(f"     oracle: {_ranked(t.oracle_q, t.move)}")
            out.append(f"     {e.belief_policy}: {_ranked(t.belief_q, t.move)}")
            out.append(f"     -> {e.policy} plays {t.move}")
    return "\n".join(out)


__all__ = ["Explanation", "TurnExplanation", "explain_conversation", "format_explanation"]
