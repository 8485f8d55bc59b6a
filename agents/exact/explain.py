"""Annotated conversations: why each move is good or bad, turn by turn.

:func:`explain_conversation` plays one conversation with any registered policy (through
:func:`difficult_customer.envs.rollout.rollout`, so it is ``CustomerEnv.reset(seed=seed)``'s
conversation) and records, at every turn, the value of every move under the oracle (which sees the true
hidden state) and under a belief-based policy (which sees only what the agent sees),
together with the Bayes filter's belief over persona and its expected anger and trust.
:func:`format_explanation` prints it next to the environment's transcript.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from difficult_customer.agents.base import Policy, PolicyContext
from difficult_customer.agents.exact.oracle import OracleValueIteration, solve_oracle
from difficult_customer.agents.exact.policies import BeliefPolicy
from difficult_customer.agents.registry import make, spec
from difficult_customer.customer_models import Move, Outcome
from difficult_customer.envs.observation import PARTIAL_SIZE
from difficult_customer.envs.rollout import rollout

MOVE_NAMES: tuple[str, ...] = tuple(m.name for m in Move)

TIE = 1e-9
"""Move values within this of the best count as best (a tie)."""


@dataclass(frozen=True, slots=True)
class MoveValues:
    """Per-move values at one turn: each move's value for the oracle and for the belief-based reference policy.

    Recorded by :func:`explain_conversation` (every turn, with what was known) and by the
    teaching session (:mod:`difficult_customer.experiments.teaching.session`, every move made).

    Attributes:
        turn: moves made before this one (0 at the first move).
        oracle_q: value of each move, by move id, for the oracle, who sees the hidden state
            (empty once the conversation is over).
        belief_q: value of each move, by move id, for the belief-based reference policy,
            which sees only what the agent sees (empty once the conversation is over).
        move: the move id played (None once the conversation is over).
        reward: the reward that move earned.
        transcript: the environment's transcript lines up to this decision (explain only).
        hidden: the true hidden state, for the reader (explain only).
        persona_belief: the Bayes filter's probability of each persona (explain only).
        expected_anger: the filter's expected anger, 0 calm ... 4 furious (explain only).
        expected_trust: the filter's expected trust, 0 none ... 3 high (explain only).
    """

    turn: int
    oracle_q: tuple[float, ...] = ()
    belief_q: tuple[float, ...] = ()
    move: int | None = None
    reward: float | None = None
    transcript: tuple[str, ...] = ()
    hidden: dict[str, object] | None = None
    persona_belief: dict[str, float] | None = None
    expected_anger: float | None = None
    expected_trust: float | None = None

    @property
    def belief_best(self) -> int:
        """The belief-based reference policy's best move id (the first of equally good ones)."""
        return int(np.argmax(self.belief_q))

    @property
    def oracle_best(self) -> int:
        """The oracle's best move id."""
        return int(np.argmax(self.oracle_q))

    @property
    def matches_belief(self) -> bool:
        """Whether the move played was as good as the belief-based reference policy's best."""
        return self.move is not None and self.belief_q[self.move] >= max(self.belief_q) - TIE

    @property
    def matches_oracle(self) -> bool:
        """Whether the move played was as good as the oracle's best."""
        return self.move is not None and self.oracle_q[self.move] >= max(self.oracle_q) - TIE

    def by_name(self, values: tuple[float, ...]) -> dict[str, float]:
        """``oracle_q`` or ``belief_q`` keyed by move name."""
        return dict(zip(MOVE_NAMES, values, strict=True))

    def advice(self) -> dict[str, object]:
        """The values before the move, as JSON.

        ``belief_q`` and ``oracle_q`` (by move name), ``belief_best`` and ``oracle_best``.
        """
        return {
            "belief_q": self.by_name(self.belief_q),
            "oracle_q": self.by_name(self.oracle_q),
            "belief_best": MOVE_NAMES[self.belief_best],
            "oracle_best": MOVE_NAMES[self.oracle_best],
        }

    def as_dict(self) -> dict[str, object]:
        """A move made, as JSON (the teaching page's ``decision``).

        ``turn`` is the move's number as the transcript prints it (``[ 1]`` for the first
        move, so :attr:`turn` + 1); ``move`` and the best moves are names.
        """
        assert self.move is not None, "as_dict is for a move made"
        return {
            "turn": self.turn + 1,
            "move": MOVE_NAMES[self.move],
            "reward": self.reward,
            **self.advice(),
            "matches_belief": self.matches_belief,
            "matches_oracle": self.matches_oracle,
        }


def __getattr__(name: str) -> Any:
    """Deprecated names: ``TurnExplanation`` is :class:`MoveValues`."""
    if name == "TurnExplanation":
        warnings.warn("TurnExplanation is deprecated; use MoveValues", DeprecationWarning, stacklevel=2)
        return MoveValues
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@dataclass(frozen=True)
class Explanation:
    """One annotated conversation."""

    policy: str
    context: PolicyContext
    seed: int
    belief_policy: str
    turns: list[MoveValues]
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

    # The conversation, played by rollout; then the annotations, turn by turn.
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
    turns: list[MoveValues] = []
    for turn in range(end + 1):
        hidden = tables.hidden_state(int(states[turn]))
        move = int(played.moves[0, turn]) if turn < end else None
        transcript = transcripts[turn]
        if turn == end and terminated:  # no decision after the end: the closing lines only
            previous = turns[-1]
            turns.append(
                MoveValues(
                    turn=turn,
                    transcript=tuple(transcript),
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
            MoveValues(
                turn=turn,
                oracle_q=() if oracle_q is None else tuple(oracle_q.tolist()),
                belief_q=() if move is None else tuple(q_belief[0].tolist()),
                move=move,
                reward=None if move is None else float(played.rewards[0, turn]),
                transcript=tuple(transcript),
                hidden=dict(hidden),
                persona_belief=belief.persona(),
                expected_anger=belief.expected("anger"),
                expected_trust=belief.expected("trust"),
            )
        )
    return Explanation(name, context, seed, believer.name, turns, outcome, total)


def _ranked(q: tuple[float, ...], chosen: int | None) -> str:
    values = dict(zip(MOVE_NAMES, q, strict=True))
    chosen = None if chosen is None else MOVE_NAMES[chosen]
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
            out.append(f"     -> {e.policy} plays {MOVE_NAMES[t.move]}")
    return "\n".join(out)


__all__ = ["MOVE_NAMES", "TIE", "Explanation", "MoveValues", "explain_conversation", "format_explanation"]
