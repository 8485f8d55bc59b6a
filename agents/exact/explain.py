"""Annotated conversations: why each move is good or bad, turn by turn.

:func:`explain_conversation` plays one conversation with any registered policy (through
:func:`difficult_customer.envs.rollout.rollout`, so it is ``CustomerEnv.reset(seed=seed)``'s
conversation) and records, at every turn, the value of every move under the oracle (which sees the true
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
from difficult_customer.customer_models import Move, Outcome
from difficult_customer.envs.observation import PARTIAL_SIZE
from difficult_customer.envs.rollout import rollout


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
    name = policy if isinstance(policy, str) else getattr(policy, "name", type(policy).__name__)
    peeks = spec(policy).kind == "oracle" if isinstance(policy, str) else isinstance(policy, OracleValueIteration)
    agent = make(policy, context) if isinstance(policy, str) else policy
    if peeks and isinstance(policy, str):
        agent = make(policy, replace(context, observation="full"))
    tables = context.tables
    believer = BeliefPolicy(context, belief_depth)
    solution = solve_oracle(tables, context.max_turns)
    moves = [m.name for m in Move]

    # The conversation, through the one rollout loop; then the annotations, turn by turn.
    played = rollout(
        agent, tables, seeds=[seed], max_turns=context.max_turns, observation="full" if peeks else "partial"
    )
    end = int(played.turns[0])
    seen = played.observations(0)[:, :PARTIAL_SIZE]
    states = played.states[0]
    outcome = played.outcome_names()[0]
    terminated = outcome != Outcome.timed_out.name
    total = float(played.returns[0])
    transcripts = played.turn_transcripts(0)
    belief_state, start = None, np.ones(1, dtype=bool)
    turns: list[TurnExplanation] = []
    for turn in range(end + 1):
        hidden = tables.hidden_state(int(states[turn]))
        move = int(played.moves[0, turn]) if turn < end else None
        transcript = transcripts[turn]
        if turn == end and terminated:  # no decision after the end: the closing lines only
            previous = turns[-1]
            turns.append(
                TurnExplanation(
                    turn=turn,
                    transcript=transcript,
                    hidden=dict(hidden),
                    persona_belief=previous.persona_belief,
                    expected_anger=previous.expected_anger,
                    expected_trust=previous.expected_trust,
                )
            )
            break
        _, q_belief, belief_state = believer.step(seen[turn][None], belief_state, start)
        start = np.zeros(1, dtype=bool)
        belief = belief_state.belief(0, tables)
        oracle_q = None if move is None else solution.q[solution.moves_left(turn), int(states[turn])]
        turns.append(
            TurnExplanation(
                turn=turn,
                transcript=transcript,
                hidden=dict(hidden),
                persona_belief=belief.persona(),
                expected_anger=belief.expected("anger"),
                expected_trust=belief.expected("trust"),
                oracle_q={} if oracle_q is None else dict(zip(moves, oracle_q.tolist(), strict=True)),
                belief_q={} if move is None else dict(zip(moves, q_belief[0].tolist(), strict=True)),
                move=None if move is None else moves[move],
                reward=None if move is None else float(played.rewards[0, turn]),
            )
        )
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
