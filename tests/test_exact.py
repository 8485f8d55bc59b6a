"""Exact solutions: value iteration, exact policy values, fixed sequences, normalized scores.

Brute-force checks recompute values by plain recursion over
``difficult_customer.customer_models.dynamics.step_outcomes`` (not the compiled arrays), so they test the
solvers and the compiler together. Statistical checks compare exact values with Monte
Carlo estimates at z = 3.29 (a 99.9% interval), so a correct implementation fails one
of them about once in a thousand runs.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies)
from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact import (
    BeliefPolicy,
    BestFixedSequence,
    best_fixed_sequence,
    branch_and_bound,
    certified_bracket,
    exact_value,
    monte_carlo,
    normalized,
    oracle_value,
    random_value,
    rollout_returns,
    sequence_value,
    solve,
    solve_oracle,
    summarize_returns,
)
from difficult_customer.agents.exact.evaluation import fib_value
from difficult_customer.customer_models import (
    CLAIMS,
    Move,
    Outcome,
    Rewards,
    State,
    compile_model,
    reward_terms,
    step_outcomes,
)
from difficult_customer.customer_models.compile import effective_persona
from difficult_customer.envs.rollout import rollout

Z = 3.29
PERSONAS = ("mixture", "genuine_grievance", "naturally_difficult", "belligerent", "reasonable")
EXACT_POLICIES = [n for n in agents.names() if agents.spec(n).kind in ("baseline", "guide", "adaptive")] + [
    "best_fixed_sequence"
]


def observation_only_optimum(context: PolicyContext) -> float:
    """The best observation-only policy's value, for short horizons: a belief lookahead as deep as the
    conversation (QMDP leaves are exact with one move left), valued exactly by enumerating histories."""
    value = exact_value(BeliefPolicy(context, context.max_turns - 1), context)
    assert value is not None
    return value


def brute_force_value(persona_name: str, ablate: tuple[str, ...], max_turns: int) -> float:
    """Optimal value by recursion over step_outcomes, from the compiled start distribution."""
    tables = compile_model(persona_name, ablate)
    personas = [effective_persona(p, frozenset(ablate)) for p in tables.mixture.personas]
    weights = Rewards().vector()

    @functools.cache
    def value(state: State, left: int) -> float:
        if left == 0 or state.status != Outcome.ongoing:
            return 0.0
        best = -np.inf
        for move in Move:
            total = 0.0
            for prob, nxt, _ in step_outcomes(personas[state.persona], state, move, frozenset(ablate)):
                reward = float(reward_terms(np.array(state), np.array(nxt)) @ weights)
                total += prob * (reward + value(nxt, left - 1))
            best = max(best, total)
        return best

    return sum(float(p) * value(tables.state(s), max_turns) for s, p in enumerate(tables.initial) if p > 0)


@pytest.mark.parametrize(
    ("persona", "ablate", "max_turns"),
    [("genuine_grievance", (), 3), ("belligerent", (), 3), ("naturally_difficult", ("C6",), 3), ("mixture", (), 2)],
)
def test_value_iteration_matches_brute_force(persona, ablate, max_turns):
    context = PolicyContext.create(persona=persona, ablate=ablate, max_turns=max_turns)
    assert oracle_value(context) == pytest.approx(brute_force_value(persona, ablate, max_turns), abs=1e-10)


def test_value_iteration_q_is_a_bellman_fixed_point(mixture):
    solution = solve_oracle(mixture, 16)
    t = mixture
    for h in (1, 5, 16):
        backup = (t.next_prob * (t.reward + solution.v[h - 1][t.next_state])).sum(-1)
        backup[t.terminal] = 0.0
        np.testing.assert_allclose(solution.q[h], backup, atol=1e-12)
    assert solution.value == pytest.approx(float(t.initial @ solution.v[16]))


def test_fixed_sequence_search_equals_brute_force():
    tables = compile_model("mixture")
    # brute force over every sequence with the independent sequence_value
    best = max(sequence_value(tables, seq) for seq in itertools.product(range(6), repeat=4))
    for width in (1, 8, 64):
        assert best_fixed_sequence(tables, 4, width).value <= best + 1e-12
    assert best_fixed_sequence(tables, 4, 64).value == pytest.approx(best, abs=1e-12)
    proven = branch_and_bound(tables, 4, incumbent=best_fixed_sequence(tables, 4, 1))
    assert proven.optimal and proven.value == pytest.approx(best, abs=1e-12)


@pytest.mark.parametrize("persona", PERSONAS)
def test_best_fixed_sequence_is_proven_and_exact(persona):
    context = PolicyContext.create(persona=persona)
    solved = solve(context)
    plan = solved.fixed_sequence
    assert plan.optimal
    assert len(plan.moves) == context.max_turns
    assert sequence_value(context.tables, plan.moves) == pytest.approx(plan.value, abs=1e-12)
    policy = agents.make("best_fixed_sequence", context)
    assert isinstance(policy, BestFixedSequence)
    assert exact_value(policy, context) == pytest.approx(plan.value, abs=1e-10)
    assert best_fixed_sequence(context.tables, context.max_turns, 4).value <= plan.value + 1e-12


def _contexts():
    yield from ((p, ()) for p in PERSONAS)
    yield from (("mixture", (c,)) for c in CLAIMS)


@pytest.mark.parametrize(("persona", "ablate"), list(_contexts()))
def test_oracle_is_at_least_every_exactly_computed_policy(persona, ablate):
    context = PolicyContext.create(persona=persona, ablate=ablate)
    best = oracle_value(context)
    assert fib_value(context) <= best + 1e-12
    for name in EXACT_POLICIES:
        value = exact_value(agents.make(name, context), context)
        assert value is not None, name
        assert value <= best + 1e-12, (name, value, best)
    assert random_value(context) < best


@pytest.mark.parametrize(("persona", "max_turns"), [("mixture", 3), ("genuine_grievance", 3), ("belligerent", 2)])
def test_observation_only_optimum_sits_between_belief_policies_and_the_bounds(persona, max_turns):
    context = PolicyContext.create(persona=persona, max_turns=max_turns)
    optimum = observation_only_optimum(context)
    assert optimum <= fib_value(context) + 1e-12 <= oracle_value(context) + 2e-12
    for name in ("qmdp", "belief_lookahead", "best_fixed_sequence", "tone_reader", "guide_000"):
        value = exact_value(agents.make(name, context), context)
        assert value is not None and value <= optimum + 1e-12, name
    # full-depth expectimax with FIB leaves (the bracket's code) certifies the same optimum
    assert certified_bracket(context, points=4, depth=max_turns - 1).upper == pytest.approx(optimum, abs=1e-10)


def test_exact_value_of_history_dependent_policy_is_none_beyond_budget():
    context = PolicyContext.create(persona="mixture")
    assert exact_value(agents.make("qmdp", context), context) is None


@pytest.mark.parametrize("name", ["guide_000", "guide_004", "tone_reader", "solution_first", "best_fixed_sequence"])
def test_exact_value_agrees_with_monte_carlo_in_the_real_env(name):
    context = PolicyContext.create(persona="mixture")
    exact = exact_value(agents.make(name, context), context)
    # conversation i is CustomerEnv.reset(seed=100 + i)'s, replayed by the core
    played = rollout(agents.make(name, context), context.tables, seeds=range(100, 1600), max_turns=context.max_turns)
    mc = summarize_returns(played.returns)
    assert abs(mc.mean - exact) <= Z * mc.stderr, (exact, str(mc))


@pytest.mark.parametrize("persona", ["mixture", "naturally_difficult"])
def test_exact_value_agrees_with_batched_monte_carlo(persona):
    context = PolicyContext.create(persona=persona)
    for name in ("guide_000", "tone_reader", "apology_spam"):
        exact = exact_value(agents.make(name, context), context)
        mc = monte_carlo(agents.make(name, context), context, 20000, seed=3)
        assert abs(mc.mean - exact) <= Z * mc.stderr, (name, exact, str(mc))


def test_random_and_oracle_exact_values_agree_with_monte_carlo():
    context = PolicyContext.create(persona="mixture", seed=5)
    mc = monte_carlo(agents.make("random", context), context, 20000, seed=1)
    assert abs(mc.mean - random_value(context)) <= Z * mc.stderr
    full = PolicyContext.create(persona="mixture", observation="full")
    oracle = agents.make("oracle", full)
    assert exact_value(oracle, full) == pytest.approx(oracle_value(full), abs=1e-12)
    # the oracle is also a memoryless function of the full observation: propagate agrees
    assert agents.exact.propagate(oracle, full).value == pytest.approx(oracle_value(full), abs=1e-10)
    mc = monte_carlo(oracle, full, 20000, seed=2)
    assert abs(mc.mean - oracle_value(full)) <= Z * mc.stderr


def test_belief_policy_exact_tree_value_agrees_with_monte_carlo():
    context = PolicyContext.create(persona="mixture", max_turns=3)
    for name in ("qmdp", "belief_lookahead"):
        exact = exact_value(agents.make(name, context), context)
        mc = monte_carlo(agents.make(name, context), context, 20000, seed=4)
        assert abs(mc.mean - exact) <= Z * mc.stderr, (name, exact, str(mc))


def test_adapting_beats_the_best_fixed_sequence_on_the_mixture():
    context = PolicyContext.create(persona="mixture")
    fixed = solve(context).fixed_sequence.value
    returns = rollout_returns(agents.make("qmdp", context), context, 4000, seed=9)
    mc = summarize_returns(returns)
    assert mc.ci95[0] - fixed > 0.2, (str(mc), fixed)


def test_normalized_score():
    context = PolicyContext.create(persona="genuine_grievance")
    assert normalized(random_value(context), context) == pytest.approx(0.0, abs=1e-12)
    assert normalized(oracle_value(context), context) == pytest.approx(1.0, abs=1e-12)
    guide = exact_value(agents.make("guide_000", context), context)
    assert 0.0 < normalized(guide, context) < 1.0


def test_normalized_is_undefined_when_the_oracle_is_not_better_than_random():
    context = PolicyContext.create(persona="reasonable", max_turns=1, rewards={"solved": 0.0, "turn": 0.0})
    with pytest.raises(ValueError, match="not above J_random"):
        normalized(0.0, context)


def test_normalize_takes_numbers_and_arrays_and_refuses_a_zero_span():
    from difficult_customer.agents.exact.normalize import normalize

    assert normalize(1.5, 1.0, 2.0) == pytest.approx(0.5)
    assert isinstance(normalize(np.float32(1.5), 1.0, 2.0), float)
    np.testing.assert_allclose(normalize(np.array([[1.0, 2.0], [3.0, 0.0]]), 1.0, 3.0), [[0.0, 0.5], [1.0, -0.5]])
    np.testing.assert_allclose(normalize([1.0, 2.0], 0.0, 4.0), [0.25, 0.5])
    for random, oracle in ((0.5, 0.5), (0.5, 0.5 + 1e-13), (1.0, 0.0)):
        with pytest.raises(ValueError, match=f"J_oracle={oracle!r} is not above J_random={random!r}"):
            normalize(0.2, random, oracle)
        with pytest.raises(ValueError, match="J_oracle="):
            normalize(np.zeros(3), random, oracle)


def test_oracle_policy_needs_full_observations():
    context = PolicyContext.create(persona="mixture")
    oracle = agents.make("oracle", context)
    with pytest.raises(ValueError, match="observation='full'"):
        oracle.predict(np.zeros(30, dtype=np.float32))


def test_oracle_policy_plays_the_value_iteration_move():
    from difficult_customer import envs  # noqa: F401
    from difficult_customer.envs.customer_env import CustomerEnv

    context = PolicyContext.create(persona="mixture", observation="full")
    oracle = agents.make("oracle", context)
    env = CustomerEnv(**context.env_kwargs())
    obs, info = env.reset(seed=0)
    move, _ = oracle.predict(obs)
    solution = solve_oracle(context.tables, context.max_turns)
    assert int(move) == int(solution.q[context.max_turns, info["state_index"]].argmax())
    batch, _ = oracle.predict(np.stack([obs, obs]))
    assert batch.shape == (2,)


def test_registration_kinds():
    assert agents.spec("oracle").kind == "oracle"
    for name in ("qmdp", "belief_lookahead", "best_fixed_sequence"):
        assert agents.spec(name).kind == "exact"


def test_bad_arguments_raise_value_error():
    tables = compile_model("reasonable")
    with pytest.raises(ValueError, match="beam_width"):
        best_fixed_sequence(tables, 4, 0)
    with pytest.raises(ValueError, match="max_turns"):
        solve_oracle(tables, 0)
    with pytest.raises(ValueError, match="depth"):
        agents.exact.belief_q_values(
            solve_oracle(tables, 2),
            agents.exact.SparseBeliefs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), 0),
            np.zeros(0),
            depth=7,
        )


def test_explain_cli_prints_annotated_transcript(capsys):
    from difficult_customer.experiments.cli import main

    assert main(["explain", "--policy", "guide_004", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "(best" in out and "belief: genuine_grievance" in out and "oracle:" in out
    assert "-> guide_004 plays" in out
    assert main(["explain", "--policy", "oracle", "--persona", "belligerent", "--seed", "1", "--max-turns", "4"]) == 0
    assert main(["explain", "--policy", "no_such_policy"]) == 2


def test_solve_times_smoke(capsys):
    from difficult_customer.experiments.cli import main

    assert main(["solve-times", "--personas", "reasonable", "--ablations", "none", "C4", "--episodes", "20"]) == 0
    out = capsys.readouterr().out
    assert "reasonable" in out and "total solve seconds" in out


@pytest.mark.parametrize(("persona", "max_turns"), [("mixture", 3), ("belligerent", 3)])
def test_pbvi_lower_bound_is_certified(persona, max_turns):
    context = PolicyContext.create(persona=persona, max_turns=max_turns)
    policy = agents.make("pbvi", context)
    exact = exact_value(policy, context)
    assert exact is not None
    assert policy.pbvi.lower_bound <= exact + 1e-12
    assert exact <= observation_only_optimum(context) + 1e-12


def test_pbvi_on_the_mixture_is_bracketed_by_its_bound_and_fib():
    context = PolicyContext.create(persona="mixture")
    policy = agents.exact.PointBased(context, points=32)
    mc = monte_carlo(policy, context, 3000, seed=6)
    assert policy.pbvi.lower_bound <= mc.mean + Z * mc.stderr
    assert mc.mean - Z * mc.stderr <= fib_value(context)
    assert policy.pbvi.lower_bound > solve(context).fixed_sequence.value  # adapting beats any fixed script, certified


def test_blind_bound_dominates_fixed_sequences_and_is_below_the_oracle(genuine):
    from difficult_customer.agents.exact.fixed_sequence import blind_values

    blind = blind_values(genuine, 4)
    q = solve_oracle(genuine, 4).q
    assert np.all(blind <= q + 1e-12)
    rng = np.random.default_rng(0)
    for _ in range(20):
        seq = rng.integers(0, 6, 4)
        assert sequence_value(genuine, seq) <= float(genuine.initial @ blind[4][:, seq[0]]) + 1e-12


def test_open_loop_names_still_work_with_a_deprecation_warning():
    import difficult_customer.agents.exact as exact

    context = PolicyContext.create(persona="reasonable", max_turns=3)
    for old, new in (
        ("best_open_loop", exact.best_fixed_sequence),
        ("solve_open_loop", exact.solve_fixed_sequence),
        ("OpenLoopPlan", exact.FixedSequencePlan),
    ):
        with pytest.warns(DeprecationWarning, match=f"{old} is deprecated"):
            assert getattr(exact, old) is new
    with pytest.warns(DeprecationWarning, match="Solved.open_loop is deprecated; use Solved.fixed_sequence"):
        assert solve(context).open_loop is solve(context).fixed_sequence
    with pytest.raises(AttributeError, match="no attribute 'exhaustive_open_loop'"):
        exact.exhaustive_open_loop  # noqa: B018

