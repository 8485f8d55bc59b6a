"""Values of policies: exact from the tables where possible, Monte Carlo otherwise.

Exact values:

- :func:`oracle_value`: the optimum with the hidden state visible (value iteration).
- :func:`random_value`: uniformly random moves, by averaging the Bellman backup over moves.
- :func:`exact_value`: any policy whose move is a deterministic function of the current
  observation (every scripted policy in ``agents/``: guides, baselines, ``tone_reader``,
  ``best_fixed_sequence``), by propagating the exact joint distribution of (observation,
  hidden state) turn by turn. The observation (tone, reaction, solved, turn, last move,
  clipped counts) is all such a policy remembers, so conversations that share it can be
  merged, and the number of distinct (observation, state) pairs stays in the tens of
  thousands. Also the random policy and the oracle. Belief-based policies remember the
  whole history: :func:`history_tree_value` enumerates histories, which works for short
  conversations only; beyond its budget ``exact_value`` returns None.
- :func:`pomdp_value`: the optimum of observation-only policies (short horizons), and
  :func:`fib_value`, an upper bound on it for any horizon.

Monte Carlo: :func:`monte_carlo` plays the policy in many conversations drawn from the
same tables (in lockstep, batched, with the environment's sampler) and returns the mean
return with a 95% confidence interval. :func:`env_returns` plays the real
:class:`~envs.customer_env.CustomerEnv` instead (slower; used to cross-check).

Normalized score: :func:`normalized` maps J to ``(J - J_random) / (J_oracle - J_random)``.
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass

import numpy as np

from difficult_customer.agents.base import ObservationPolicy, Policy, PolicyContext
from difficult_customer.agents.baselines import RandomPolicy
from difficult_customer.agents.exact.belief import merge
from difficult_customer.agents.exact.fib import solve_fib
from difficult_customer.agents.exact.lookahead import MAX_DEPTH, belief_q_values
from difficult_customer.agents.exact.model import N_OBSERVATION_KEYS, observation_key, transition_index
from difficult_customer.agents.exact.open_loop import BestFixedSequence
from difficult_customer.agents.exact.oracle import OracleValueIteration, solve_oracle
from difficult_customer.agents.exact.policies import BeliefPolicy
from difficult_customer.customer_models import Tables
from difficult_customer.customer_models.vocabulary import N_MOVES, N_REACTIONS, N_TONES
from difficult_customer.envs.observation import COUNT_CAP, encode, hidden_one_hot
from difficult_customer.envs.sampling import sampler_for

Z95 = 1.959963984540054
"""Two-sided 95% normal quantile."""


def oracle_value(context: PolicyContext) -> float:
    """J_oracle: the optimal expected return with the hidden state visible."""
    return solve_oracle(context.tables, context.max_turns).value


_RANDOM: weakref.WeakKeyDictionary[Tables, dict[int, float]] = weakref.WeakKeyDictionary()


def random_value(context: PolicyContext) -> float:
    """J_random: expected return of uniformly random moves, exactly (cached per model and turn limit)."""
    by_horizon = _RANDOM.setdefault(context.tables, {})
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
    low, high = random_value(context), oracle_value(context)
    if not high - low > 1e-12:
        raise ValueError(f"J_oracle={high!r} is not above J_random={low!r}; the normalized score is undefined")
    return (float(value) - low) / (high - low)


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
    n_states = t.n_states
    # Opening: one history per (tone, reaction) with positive chance.
    state = np.flatnonzero(t.initial > 0)
    key = observation_key(t.opening_reaction[state][:, None], np.arange(N_TONES)[None, :], 0)
    weight = t.initial[state][:, None] * t.tone_prob[state]
    state = np.broadcast_to(state[:, None], weight.shape)
    positive = weight > 0
    histories, entry_row = np.unique(key[positive], return_inverse=True)
    state, weight = state[positive], weight[positive]
    reaction, tone, solved = _split_key(histories)
    n = histories.shape[0]
    counts = np.zeros((n, N_MOVES), dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    memory, start = None, np.ones(n, dtype=bool)
    total = 0.0
    for turn in range(context.max_turns):
        obs = encode(tone, reaction, solved, turn, context.max_turns, last, counts)
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
        child = row[:, None] * N_OBSERVATION_KEYS + observation_key(
            ix.reaction[entry][:, None], np.arange(N_TONES)[None, :], ix.solved[target][:, None]
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
        previous = keys // N_OBSERVATION_KEYS
        reaction, tone, solved = _split_key(keys % N_OBSERVATION_KEYS)
        last = moves[previous]
        counts = counts[previous]
        counts[np.arange(keys.shape[0]), last] += 1
        memory = memory.select(previous)
        start = np.zeros(keys.shape[0], dtype=bool)
    return total


def _split_key(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(reaction, tone, solved) of observation keys."""
    return key // (2 * N_TONES), (key // 2) % N_TONES, key % 2


def pomdp_value(context: PolicyContext) -> float:
    """The exact optimum of policies that read only the observation, for short horizons.

    Full expectimax over observation histories (belief lookahead of depth
    ``max_turns - 1`` after each opening observation). Its cost grows about
    120-fold per turn: use ``max_turns`` <= 4.

    Raises:
        ValueError: if ``max_turns`` > 4.
    """
    if context.max_turns > MAX_DEPTH + 1:
        raise ValueError(f"max_turns={context.max_turns}; pomdp_value allows at most {MAX_DEPTH + 1}")
    t = context.tables
    solution = solve_oracle(t, context.max_turns)
    state = np.flatnonzero(t.initial > 0)
    key = observation_key(t.opening_reaction[state][:, None], np.arange(N_TONES)[None, :], 0)
    weight = t.initial[state][:, None] * t.tone_prob[state]
    positive = weight > 0
    rows, row = np.unique(key[positive], return_inverse=True)
    beliefs = merge(
        row, np.broadcast_to(state[:, None], weight.shape)[positive], weight[positive], rows.shape[0], t.n_states
    )
    moves_left = np.full(rows.shape[0], context.max_turns)
    q = belief_q_values(solution, beliefs, moves_left, context.max_turns - 1)
    return float(q.max(-1).sum())


def fib_value(context: PolicyContext) -> float:
    """The fast informed bound: an upper bound on every observation-only policy's value.

    ``Σ_o0 max_a Σ_s b_o0(s) q_fib[H, s, a]`` over opening observations ``o0`` (see
    :mod:`difficult_customer.agents.exact.fib`); at most the oracle's value.
    """
    t = context.tables
    q = solve_fib(t, context.max_turns)[context.max_turns]
    state = np.flatnonzero(t.initial > 0)
    key = observation_key(t.opening_reaction[state][:, None], np.arange(N_TONES)[None, :], 0)
    weight = t.initial[state][:, None] * t.tone_prob[state]
    total = 0.0
    for k in np.unique(key[weight > 0]):
        w = np.where(key == k, weight, 0.0).sum(-1)
        total += float((w @ q[state]).max())
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


# Observation key: tone, reaction, solved, last move, six clipped counts.
_RADIX = (N_TONES, N_REACTIONS, 2, N_MOVES + 1, *([COUNT_CAP + 1] * N_MOVES))


def _pack(fields: list[np.ndarray]) -> np.ndarray:
    key = np.zeros(fields[0].shape, dtype=np.int64)
    for value, radix in zip(fields, _RADIX, strict=True):
        key = key * radix + value
    return key


def _unpack(key: np.ndarray) -> list[np.ndarray]:
    out = []
    for radix in reversed(_RADIX):
        out.append(key % radix)
        key = key // radix
    return out[::-1]


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
    n_states = t.n_states
    full = context.observation == "full"
    n_personas = len(t.persona_names)
    persona = t.factor("persona").astype(np.int64)
    # Entries: (observation key, state, probability); the last move is N_MOVES at reset.
    state = np.flatnonzero(t.initial > 0)
    tone = np.arange(N_TONES)
    prob = (t.initial[state][:, None] * t.tone_prob[state]).ravel()
    state = np.repeat(state, N_TONES)
    zeros = np.zeros(state.shape[0], dtype=np.int64)
    obs_key = _pack(
        [
            np.tile(tone, prob.shape[0] // N_TONES),
            t.opening_reaction[state].astype(np.int64),
            ix.solved[state],
            zeros + N_MOVES,
            *([zeros] * N_MOVES),
        ]
    )
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
        tone_, reaction, solved, last, *counts = _unpack(distinct)
        last = np.where(last == N_MOVES, -1, last)
        obs = encode(tone_, reaction, solved, turn, context.max_turns, last, np.stack(counts, -1))
        if full:
            obs = np.concatenate([obs, hidden_one_hot(t.factors[state], n_personas)], -1)
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
        old = _unpack(obs_key[parent])
        counts = [np.minimum(c + (move[parent] == m), COUNT_CAP) for m, c in enumerate(old[4:])]
        base = [ix.reaction[entry], ix.solved[target], move[parent], *counts]
        obs_key = np.concatenate([_pack([np.full(target.shape[0], k), *base]) for k in range(N_TONES)])
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

    Draws from the environment's own sampler (``difficult_customer.envs.sampling``) on the context's
    tables. Rows whose conversation has ended are fed fresh opening observations with
    ``episode_start`` set (their moves are ignored), so a recurrent policy always sees
    a consistent stream.

    Raises:
        ValueError: if ``episodes`` < 1.
    """
    if not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"episodes={episodes!r}; allowed is an integer >= 1")
    t = context.tables
    sampler = sampler_for(t)
    rng = np.random.default_rng(seed)
    n = int(episodes)
    n_personas = len(t.persona_names)
    solved = transition_index(t).solved

    def opening(rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        s = sampler.sample_initial_batch(rng, rows)
        return s, sampler.sample_tone_batch(rng, s), t.opening_reaction[s].astype(np.int64)

    state, tone, reaction = opening(n)
    turn = np.zeros(n, dtype=np.int64)
    counts = np.zeros((n, N_MOVES), dtype=np.int64)
    last = np.full(n, -1, dtype=np.int64)
    returns = np.zeros(n)
    running = np.ones(n, dtype=bool)
    episode_start = np.ones(n, dtype=bool)
    memory = None
    while running.any():
        obs = encode(tone, reaction, solved[state], turn, context.max_turns, last, counts)
        if context.observation == "full":
            obs = np.concatenate([obs, hidden_one_hot(t.factors[state], n_personas)], -1)
        moves, memory = policy.predict(obs, memory, episode_start, True)
        moves = np.asarray(moves, dtype=np.int64).reshape(-1)
        k = sampler.sample_successor_batch(rng, state, moves)
        nxt = t.next_state[state, moves, k].astype(np.int64)
        returns += np.where(running, t.reward[state, moves, k], 0.0)
        reaction = t.next_reaction[state, moves, k].astype(np.int64)
        state = nxt
        tone = sampler.sample_tone_batch(rng, state)
        turn += 1
        counts[np.arange(n), moves] += 1
        last = moves
        done = t.terminal[state] | (turn >= context.max_turns)
        running &= ~done
        episode_start = done
        if done.any():  # finished rows restart (ignored) so that recurrent state stays consistent
            rows = np.flatnonzero(done)
            state[rows], tone[rows], reaction[rows] = opening(rows.shape[0])
            turn[rows] = 0
            counts[rows] = 0
            last[rows] = -1
    return returns


def monte_carlo(policy: Policy, context: PolicyContext, episodes: int = 4000, seed: int = 0) -> MonteCarloResult:
    """Mean return of ``policy`` over sampled conversations, with a 95% interval."""
    returns = rollout_returns(policy, context, episodes, seed)
    return _summarize(returns)


def env_returns(policy: Policy, context: PolicyContext, episodes: int, seed: int = 0) -> np.ndarray:
    """Returns of ``episodes`` conversations played one at a time in :class:`CustomerEnv`.

    Episode ``i`` is reset with seed ``seed + i``; the policy gets SB3's recurrent
    arguments (state, episode_start).
    """
    from difficult_customer.envs.customer_env import CustomerEnv

    env = CustomerEnv(**context.env_kwargs())
    out = np.zeros(episodes)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        memory, start, done = None, np.ones(1, dtype=bool), False
        while not done:
            move, memory = policy.predict(obs[None], memory, start, True)
            start = np.zeros(1, dtype=bool)
            obs, reward, terminated, truncated, _ = env.step(int(np.asarray(move).reshape(-1)[0]))
            out[i] += reward
            done = terminated or truncated
    return out


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
    "env_returns",
    "exact_value",
    "fib_value",
    "history_tree_value",
    "monte_carlo",
    "normalized",
    "oracle_value",
    "pomdp_value",
    "propagate",
    "random_value",
    "rollout_returns",
    "summarize_returns",
]
