"""Values of policies: exact from the tables where possible, Monte Carlo otherwise.

- :func:`oracle_value`, :func:`random_value`: J_oracle and J_random, exact.
- :func:`exact_value`: the exact value of a policy, or None where it is not computable:
  memoryless deterministic policies by :func:`propagate` (the exact distribution of
  (observation, hidden state) pairs, turn by turn), the random policy and the oracle
  directly, belief policies by :func:`history_tree_value` (short conversations only).
- :func:`fib_value`: an upper bound on every observation-only policy's value.
- :func:`monte_carlo`, :func:`rollout_returns`: conversations played in lockstep through
  the conversation core (:func:`~envs.rollout.rollout`), mean with a 95% interval.
- :func:`normalized`: J's normalized score in a context
  (:func:`~agents.exact.normalize.normalize`).

Exact propagation shows a policy the observations the env would (the core's codes and
lookups). See ``docs/exact.md``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from difficult_customer.agents.base import ObservationPolicy, Policy, PolicyContext
from difficult_customer.agents.baselines import RandomPolicy
from difficult_customer.agents.exact.fib import solve_fib
from difficult_customer.agents.exact.fixed_sequence import BestFixedSequence
from difficult_customer.agents.exact.model import transition_index
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.agents.exact.oracle import OracleValueIteration, solve_oracle
from difficult_customer.agents.exact.policies import BeliefPolicy
from difficult_customer.customer_models import Tables
from difficult_customer.customer_models.vocabulary import N_MOVES, N_TONES
from difficult_customer.envs.core import (
    N_HISTORIES,
    N_OBSERVATION_CODES,
    START_HISTORY,
    conversation_core,
    observation_code,
    opening_distribution,
)
from difficult_customer.envs.rollout import rollout

Z95 = 1.959963984540054
"""Two-sided 95% normal quantile."""


def oracle_value(context: PolicyContext) -> float:
    """J_oracle: the optimal expected return with the hidden state visible."""
    return solve_oracle(context.tables, context.max_turns).value




def random_value(context: PolicyContext) -> float:
    """J_random: expected return of uniformly random moves, exactly (cached per model and turn limit)."""
    by_horizon = context.tables.derived.setdefault("evaluation.random", {})
    if context.max_turns not in by_horizon:
        values = _random_values(context.tables, context.max_turns)
        by_horizon[context.max_turns] = float(context.tables.initial @ values)
    return by_horizon[context.max_turns]


def _random_values(t: Tables, max_turns: int) -> np.ndarray:
    ix = transition_index(t)
    live = ~ix.terminal[ix.source] & ~ix.terminal[ix.target]
    source, target, prob = ix.source[live], ix.target[live], ix.prob[live] / N_MOVES
    immediate = ix.expected_reward.mean(-1)
    v = np.zeros(t.n_states)
    for _ in range(max_turns):
        v = immediate + np.bincount(source, prob * v[target], minlength=t.n_states)
        v[t.terminal] = 0.0
    return v


def normalized(value: float, context: PolicyContext) -> float:
    """The normalized score ``(J - J_random) / (J_oracle - J_random)``: 0 random, 1 oracle.

    Raises:
        ValueError: if the oracle is no better than random in this context.
    """
    return normalize(value, random_value(context), oracle_value(context))


def exact_value(policy: Policy, context: PolicyContext, memoryless: bool | None = None) -> float | None:
    """The exact expected return of ``policy`` in ``context``, or None if not computable.

    Args:
        policy: any policy.
        context: the environment (its persona, ablation, turn limit, rewards and
            observation mode; the policy is fed observations of that mode).
        memoryless: True asserts that ``policy.predict(obs, None, None, True)`` is a
            deterministic function of the observation (e.g. a trained MLP policy); None
            detects it for the known classes (every :class:`ObservationPolicy`, the
            random policy, the oracle).

    Returns:
        The value. A belief-based policy is valued by enumerating observation histories
        (:func:`history_tree_value`), which only short conversations allow; None when
        that budget is exceeded, and for any other policy with memory.

    Raises:
        ValueError: for the oracle in a context with ``observation="partial"``.
    """
    if isinstance(policy, RandomPolicy):
        return random_value(context)
    if isinstance(policy, OracleValueIteration):
        same = policy.solution.tables is context.tables and policy.solution.max_turns == context.max_turns
        if same:
            return _state_policy_value(context, policy.solution.q.argmax(-1))
        if context.observation != "full":
            raise ValueError("the oracle reads the hidden state: evaluate it with observation='full'")
        return propagate(policy, context).value
    if memoryless is None:
        memoryless = isinstance(policy, (ObservationPolicy, BestFixedSequence))
    if memoryless:
        return propagate(policy, context).value
    if isinstance(policy, BeliefPolicy):
        return history_tree_value(policy, context)
    return None


def history_tree_value(policy: BeliefPolicy, context: PolicyContext, max_histories: int = 100_000) -> float | None:
    """Exact value of a belief-based policy by enumerating observation histories.

    Every distinct history is a batch row whose belief the policy keeps; the number of
    histories grows about twentyfold per turn, so this is for short conversations
    (``max_turns`` up to 3 or 4). Returns None once more than ``max_histories`` are alive.
    """
    t = context.tables
    ix = transition_index(t)
    core = conversation_core(t, context.max_turns)
    n_states = t.n_states
    # Opening: one history per first observation with positive chance.
    opening = opening_distribution(t)
    histories, entry_row = np.unique(opening.code, return_inverse=True)
    state, weight = opening.state, opening.prob
    code = histories
    n = histories.shape[0]
    history = np.full(n, START_HISTORY, dtype=np.intp)  # the agent's moves, as the core codes them
    memory, start = None, np.ones(n, dtype=bool)
    total = 0.0
    for turn in range(context.max_turns):
        obs = core.observe_codes(code, np.full(n, turn), history)
        moves, memory = policy.predict(obs, memory, start, True)
        moves = np.asarray(moves, dtype=np.int64).reshape(-1)
        parent, entry = ix.expand(state, moves[entry_row])
        w = weight[parent] * ix.prob[entry]
        total += float(w @ ix.reward[entry])
        target = ix.target[entry]
        alive = ~ix.terminal[target]
        if turn + 1 == context.max_turns or not alive.any():
            break
        parent, entry, w, target = parent[alive], entry[alive], w[alive], target[alive]
        row = entry_row[parent]
        child = row[:, None] * N_OBSERVATION_CODES + observation_code(
            np.arange(N_TONES)[None, :], ix.reaction[entry][:, None], ix.solved[target][:, None]
        )
        w = w[:, None] * t.tone_prob[target]
        positive = w > 0
        keys, entry_row = np.unique(child[positive], return_inverse=True)
        if keys.shape[0] > max_histories:
            return None
        pair, inverse = np.unique(
            entry_row * n_states + np.broadcast_to(target[:, None], w.shape)[positive], return_inverse=True
        )
        weight = np.bincount(inverse, w[positive], minlength=pair.shape[0])
        entry_row, state = pair // n_states, pair % n_states
        previous = keys // N_OBSERVATION_CODES
        code = keys % N_OBSERVATION_CODES
        history = core.lookup.next_history[history[previous] * (N_MOVES + 1) + moves[previous]]
        n = keys.shape[0]
        memory = memory.select(previous)
        start = np.zeros(n, dtype=bool)
    return total


def fib_value(context: PolicyContext) -> float:
    """The fast informed bound: an upper bound on every observation-only policy's value.

    ``Σ_o0 max_a Σ_s b_o0(s) q_fib[H, s, a]`` over opening observations ``o0`` (see
    :mod:`difficult_customer.agents.exact.fib`); at most the oracle's value.
    """
    t = context.tables
    q = solve_fib(t, context.max_turns)[context.max_turns]
    opening = opening_distribution(t)
    total = 0.0
    for code in np.unique(opening.code):
        first = opening.code == code
        total += float((opening.prob[first] @ q[opening.state[first]]).max())
    return total


@dataclass(frozen=True)
class Propagation:
    """Result of an exact propagation of a memoryless policy.

    Attributes:
        value: expected return.
        value_by_persona: expected return given each persona of the mixture.
        max_support: largest number of distinct (observation, state) pairs at one turn.
    """

    value: float
    value_by_persona: dict[str, float]
    max_support: int


def propagate(policy: Policy, context: PolicyContext) -> Propagation:
    """Exact joint distribution of (observation, hidden state), turn by turn.

    The policy must be memoryless and deterministic (see :func:`exact_value`); it is
    called once per turn on the batch of distinct observations (distinct (observation,
    state) pairs for ``observation="full"``).
    """
    if isinstance(policy, RandomPolicy):
        raise ValueError("propagate needs a deterministic policy; use random_value for the random policy")
    t = context.tables
    ix = transition_index(t)
    core = conversation_core(t, context.max_turns)
    n_states = t.n_states
    full = context.observation == "full"
    n_personas = len(t.persona_names)
    persona = t.factor("persona").astype(np.int64)
    # Entries: (table key, state, probability); a table key joins the observation code of
    # what the customer shows and the history code of the agent's moves: code * N_HISTORIES + history.
    opening = opening_distribution(t)
    obs_key, state, prob = opening.code * N_HISTORIES + START_HISTORY, opening.state, opening.prob
    value_by_persona = np.zeros(n_personas)
    max_support = 0
    for turn in range(context.max_turns):
        keep = prob > 0
        obs_key, state, prob = obs_key[keep], state[keep], prob[keep]
        pair, inverse = np.unique(obs_key * n_states + state, return_inverse=True)
        prob = np.bincount(inverse, prob, minlength=pair.shape[0])
        obs_key, state = pair // n_states, pair % n_states
        max_support = max(max_support, int(pair.shape[0]))
        if pair.shape[0] == 0:
            break
        # One policy call per distinct observation (per pair when the hidden state shows).
        distinct, which = (obs_key, np.arange(obs_key.shape[0])) if full else np.unique(obs_key, return_inverse=True)
        code, history = np.divmod(distinct, N_HISTORIES)
        obs = core.observe_codes(code, np.full(code.shape, turn), history, state if full else None)
        moves, _ = policy.predict(obs, None, None, True)
        moves = np.asarray(moves, dtype=np.int64).reshape(-1)
        if moves.shape[0] != distinct.shape[0] or np.any((moves < 0) | (moves >= N_MOVES)):
            raise ValueError(
                f"policy {policy!r} returned invalid moves {moves[:10]} for a batch of {distinct.shape[0]}"
            )
        move = moves[which]
        parent, entry = ix.expand(state, move)
        weight = prob[parent] * ix.prob[entry]
        value_by_persona += np.bincount(persona[state[parent]], weight * ix.reward[entry], minlength=n_personas)
        target = ix.target[entry]
        alive = ~ix.terminal[target]
        if turn + 1 == context.max_turns or not alive.any():
            break
        parent, entry, weight, target = parent[alive], entry[alive], weight[alive], target[alive]
        history = core.lookup.next_history[(obs_key[parent] % N_HISTORIES) * (N_MOVES + 1) + move[parent]]
        shown = observation_code(0, ix.reaction[entry], ix.solved[target])  # the tone is added below
        obs_key = np.concatenate([(shown + k) * N_HISTORIES + history for k in range(N_TONES)])
        prob = np.concatenate([weight * t.tone_prob[target, k] for k in range(N_TONES)])
        state = np.tile(target, N_TONES)
    start = t.initial_by_persona.sum(-1) * np.asarray(t.mixture.weights)
    return Propagation(
        value=float(value_by_persona.sum()),
        value_by_persona=dict(zip(t.persona_names, (value_by_persona / start).tolist(), strict=True)),
        max_support=max_support,
    )


def _state_policy_value(context: PolicyContext, moves: np.ndarray) -> float:
    """Exact value of a policy that picks ``moves[h, s]`` with ``h`` moves left in state ``s``."""
    t = context.tables
    v = np.zeros(t.n_states)
    rows = np.arange(t.n_states)
    expected_reward = (t.next_prob * t.reward).sum(-1)
    for h in range(1, context.max_turns + 1):
        a = moves[min(h, moves.shape[0] - 1)]
        v = expected_reward[rows, a] + (t.next_prob[rows, a] * v[t.next_state[rows, a]]).sum(-1)
        v[t.terminal] = 0.0
    return float(t.initial @ v)


@dataclass(frozen=True)
class MonteCarloResult:
    """Mean return of sampled conversations with a 95% confidence interval."""

    mean: float
    stderr: float
    episodes: int

    @property
    def ci95(self) -> tuple[float, float]:
        return (self.mean - Z95 * self.stderr, self.mean + Z95 * self.stderr)

    @property
    def half_width(self) -> float:
        return Z95 * self.stderr

    def __str__(self) -> str:
        return f"{self.mean:.4f} ± {self.half_width:.4f} (n={self.episodes})"


def rollout_returns(policy: Policy, context: PolicyContext, episodes: int, seed: int = 0) -> np.ndarray:
    """Returns of ``episodes`` conversations played in lockstep, one per batch row.

    Runs :func:`difficult_customer.envs.rollout.rollout` with one generator seeded ``seed`` on the
    context's tables, turn limit and observation mode. Rows whose conversation has ended
    are fed fresh opening observations with ``episode_start`` set (their moves are
    ignored), so a recurrent policy always sees a consistent stream.

    Raises:
        ValueError: if ``episodes`` < 1.
    """
    if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"episodes={episodes!r}; allowed is an integer >= 1")
    played = rollout(
        policy,
        context.tables,
        episodes=int(episodes),
        seed=seed,
        max_turns=context.max_turns,
        observation=context.observation,
    )
    return played.returns


def monte_carlo(policy: Policy, context: PolicyContext, episodes: int = 4000, seed: int = 0) -> MonteCarloResult:
    """Mean return of ``policy`` over sampled conversations, with a 95% interval."""
    returns = rollout_returns(policy, context, episodes, seed)
    return _summarize(returns)


def _summarize(returns: np.ndarray) -> MonteCarloResult:
    n = returns.shape[0]
    stderr = float(returns.std(ddof=1) / math.sqrt(n)) if n > 1 else float("inf")
    return MonteCarloResult(float(returns.mean()), stderr, n)


def summarize_returns(returns: np.ndarray) -> MonteCarloResult:
    """Mean and 95% interval of a sample of returns."""
    return _summarize(np.asarray(returns, dtype=np.float64))


__all__ = [
    "MonteCarloResult",
    "Propagation",
    "exact_value",
    "fib_value",
    "history_tree_value",
    "monte_carlo",
    "normalized",
    "oracle_value",
    "propagate",
    "random_value",
    "rollout_returns",
    "summarize_returns",
]
