"""The exact Bayes filter and the belief-based policies built on it."""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict

import numpy as np
import pytest

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies)
from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact import BeliefFilter, belief_q_values, solve_oracle
from difficult_customer.agents.exact.belief import SparseBeliefs
from difficult_customer.customer_models import Move, Reaction, Tone, compile_model
from difficult_customer.envs.customer_env import CustomerEnv
from difficult_customer.envs.observation import decode


def enumerate_posterior(tables, moves, tones, reactions, solved) -> np.ndarray:
    """Posterior over the last hidden state by enumerating every path through the tables."""
    paths = {}  # state -> probability of the history so far ending there
    for s in np.flatnonzero(tables.initial):
        p = tables.initial[s] * tables.tone_prob[s, tones[0]] * (tables.opening_reaction[s] == reactions[0])
        if p > 0:
            paths[int(s)] = paths.get(int(s), 0.0) + p
    for i, move in enumerate(moves, start=1):
        nxt: dict[int, float] = {}
        for s, p in paths.items():
            for k in range(tables.next_state.shape[-1]):
                q = tables.next_prob[s, move, k]
                s2 = int(tables.next_state[s, move, k])
                if q == 0 or tables.next_reaction[s, move, k] != reactions[i]:
                    continue
                if tables.factor("solved")[s2] != solved[i]:
                    continue
                nxt[s2] = nxt.get(s2, 0.0) + p * q * tables.tone_prob[s2, tones[i]]
        paths = nxt
    out = np.zeros(tables.n_states)
    for s, p in paths.items():
        out[s] = p
    return out / out.sum() if out.sum() > 0 else None


def test_filter_matches_enumeration_on_every_short_history(mixture):
    filt = BeliefFilter(mixture)
    moves = [Move.listen, Move.offer_options]
    checked = 0
    for t0, t1, t2 in itertools.product(range(4), repeat=3):
        for r1, r2 in itertools.product([Reaction.softens, Reaction.unmoved, Reaction.irritated], Reaction):
            tones, reactions, solved = (
                [t0, t1, t2],
                [Reaction.complains, r1, r2],
                [0, 0, int(r2 == Reaction.accepts_offer)],
            )
            exact = enumerate_posterior(mixture, moves, tones, reactions, solved)
            if exact is None:
                continue  # impossible history
            belief = filt.reset(t0, Reaction.complains)
            for i, m in enumerate(moves, start=1):
                belief = filt.update(belief, m, tones[i], reactions[i], solved[i])
            np.testing.assert_allclose(belief.dense(), exact, atol=1e-12)
            checked += 1
    assert checked > 50


def test_filter_rejects_impossible_observations(mixture):
    filt = BeliefFilter(mixture)
    belief = filt.reset(Tone.angry, Reaction.complains)
    with pytest.raises(ValueError, match="impossible"):
        filt.update(belief, Move.listen, Tone.angry, Reaction.accepts_offer, 1)  # only offers are accepted
    with pytest.raises(ValueError, match="move ids"):
        filt.update(belief, 9, Tone.angry, Reaction.unmoved, 0)


def test_insults_at_reset_rule_out_only_the_genuine_grievance(mixture):
    """A belligerent customer always opens with insults, a naturally difficult one sometimes (C6, C8)."""
    belief = BeliefFilter(mixture).reset(Tone.hostile, Reaction.insults)
    persona = belief.persona()
    assert persona["genuine_grievance"] == 0.0
    assert persona["belligerent"] > persona["naturally_difficult"] > 0.1
    assert sum(persona.values()) == pytest.approx(1.0)
    calm = BeliefFilter(mixture).reset(Tone.tense, Reaction.complains)
    assert calm.persona()["belligerent"] == 0.0
    assert calm.persona()["genuine_grievance"] > calm.persona()["naturally_difficult"]
    assert 0.0 <= calm.expected("anger") <= 4.0
    assert calm.summary()["support"] == calm.states.shape[0]
    with pytest.raises(ValueError, match="unknown factor"):
        calm.marginal("mood")


def test_filter_agrees_with_empirical_frequencies():
    """Chi-square: hidden states among sampled conversations that share an observation history."""
    chi2 = pytest.importorskip("scipy.stats").chi2
    env = CustomerEnv(persona="mixture")
    moves = [Move.listen, Move.empathize, Move.apologize]
    groups: dict[tuple, Counter] = defaultdict(Counter)
    observations: dict[tuple, list] = {}
    for seed in range(12000):
        obs, info = env.reset(seed=seed)
        history = [obs]
        for move in moves:
            obs, _, terminated, truncated, info = env.step(int(move))
            history.append(obs)
            if terminated or truncated:
                break
        else:
            seen = decode(np.array(history))
            key = tuple(zip(seen.tone.tolist(), seen.reaction.tolist(), strict=True))
            groups[key][info["state_index"]] += 1
            observations[key] = history
    filt = BeliefFilter(env.tables)
    tested = 0
    for key, counts in sorted(groups.items(), key=lambda kv: -sum(kv[1].values()))[:4]:
        n = sum(counts.values())
        belief = filt.track(observations[key])[-1].dense()
        assert set(counts) <= set(np.flatnonzero(belief)), "a sampled state has belief 0"
        expected = belief[belief > 0] * n
        observed = np.array([counts.get(s, 0) for s in np.flatnonzero(belief)], dtype=float)
        big = expected >= 5  # pool rare states into one cell
        exp_cells = np.r_[expected[big], expected[~big].sum()]
        obs_cells = np.r_[observed[big], observed[~big].sum()]
        keep = exp_cells > 0
        stat = float((((obs_cells - exp_cells) ** 2) / exp_cells)[keep].sum())
        p_value = chi2.sf(stat, int(keep.sum()) - 1)
        assert p_value > 1e-3, (key, n, stat, p_value)
        tested += 1
    assert tested == 4


def test_lookahead_matches_brute_force_belief_expectimax():
    tables = compile_model("genuine_grievance")
    solution = solve_oracle(tables, 3)
    filt = BeliefFilter(tables)
    belief = filt.reset(Tone.angry, Reaction.complains)

    def value(b, left):  # expectimax over observation branches by plain recursion
        if left == 0 or b is None:
            return 0.0
        return max(q_move(b, a, left) for a in Move)

    def q_move(b, a, left):
        total = 0.0
        for s, p in zip(b.states, b.probs, strict=True):
            total += p * float((tables.next_prob[s, a] * tables.reward[s, a]).sum())
        if left == 1:
            return total
        branches = defaultdict(float)
        for s, p in zip(b.states, b.probs, strict=True):
            for k in range(tables.next_state.shape[-1]):
                s2 = int(tables.next_state[s, a, k])
                if tables.next_prob[s, a, k] == 0 or tables.terminal[s2]:
                    continue
                for tone in range(4):
                    key = (int(tables.next_reaction[s, a, k]), tone, int(tables.factor("solved")[s2]))
                    branches[key] += p * tables.next_prob[s, a, k] * tables.tone_prob[s2, tone]
        for (reaction, tone, solved), prob in branches.items():
            if prob > 0:
                total += prob * value(filt.update(b, a, tone, reaction, solved), left - 1)
        return total

    batch = SparseBeliefs(np.zeros(belief.states.shape[0], np.int64), belief.states, belief.probs, 1)
    q = belief_q_values(solution, batch, np.array([3]), depth=2)[0]
    np.testing.assert_allclose(q, [q_move(belief, a, 3) for a in Move], atol=1e-12)
    qmdp = belief_q_values(solution, batch, np.array([3]), depth=0)[0]
    assert np.all(qmdp >= q - 1e-12)  # QMDP is optimistic


def test_belief_policy_follows_sb3_recurrent_convention():
    context = PolicyContext.create(persona="mixture")
    policy = agents.make("belief_lookahead", context)
    env = CustomerEnv(**context.env_kwargs())
    for seed in range(1, 50):  # a conversation that goes on after the first move
        obs, _ = env.reset(seed=seed)
        move, state = policy.predict(obs)  # one observation: a scalar move
        obs2, _, terminated, truncated, _ = env.step(int(move))
        if not (terminated or truncated):
            break
    assert np.ndim(move) == 0 and len(state) == 1
    assert not (terminated or truncated)
    move2, state2 = policy.predict(obs2[None], state, np.array([False]))
    assert state2.turns.tolist() == [1]
    # a batch with one new episode and one continuing
    obs0, _ = env.reset(seed=2)
    both, state3 = policy.predict(np.stack([obs0, obs2]), state.select(np.array([0, 0])), np.array([True, False]))
    assert both.shape == (2,) and state3.turns.tolist() == [0, 1]
    assert state3.belief(1, context.tables).probs.sum() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="BeliefState"):
        policy.predict(np.stack([obs0, obs2]), state, np.array([False, False]))
    with pytest.raises(ValueError, match="turn"):
        policy.predict(obs2[None], state2, np.array([False]))  # the same observation twice
    # a stale episode_start flag on a continuing row (as SB3's evaluate_policy leaves it) is ignored
    _, stale = policy.predict(obs2[None], state, np.array([True]))
    np.testing.assert_array_equal(stale.beliefs.weight, state2.beliefs.weight)
    # joining mid-conversation without a belief gives an uninformed but valid guess
    _, guess = policy.predict(obs2[None], None, None)
    assert guess.belief(0, context.tables).probs.sum() == pytest.approx(1.0)


def test_batched_and_single_row_play_agree():
    context = PolicyContext.create(persona="mixture", seed=0)
    batch_policy = agents.make("qmdp", context)
    single = agents.make("qmdp", context)
    envs_ = [CustomerEnv(**context.env_kwargs()) for _ in range(5)]
    obs = np.stack([e.reset(seed=10 + i)[0] for i, e in enumerate(envs_)])
    states = [None] * 5
    batch_state = None
    alive = np.ones(5, dtype=bool)
    for _ in range(4):
        moves, batch_state = batch_policy.predict(obs, batch_state, np.zeros(5, dtype=bool))
        for i in range(5):
            one, states[i] = single.predict(obs[i], states[i], np.array([False]))
            assert int(one) == int(moves[i])
        for i, e in enumerate(envs_):
            if alive[i]:
                o, _, term, trunc, _ = e.step(int(moves[i]))
                if term or trunc:
                    alive[i] = False
                    o, _ = e.reset(seed=100 + i)
                    states[i] = None
                obs[i] = o
        if not alive.all():
            break


def test_sb3_evaluate_policy_runs_belief_policies():
    sb3 = pytest.importorskip("stable_baselines3")
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    context = PolicyContext.create(persona="mixture")
    vec = make_vec_env(CustomerEnv, n_envs=2, seed=0, env_kwargs=context.env_kwargs())
    assert sb3 is not None
    mean, std = evaluate_policy(agents.make("qmdp", context), vec, n_eval_episodes=10, warn=False)
    assert -1.5 < mean < 1.5 and std >= 0.0
