"""The JAX twin of the conversation core gives exactly the numpy core's results on the same uniforms and moves."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
pytestmark = pytest.mark.timeout(300)  # a hung XLA run fails the test instead of the whole CI run

from difficult_customer.customer_models import compile_model  # noqa: E402
from difficult_customer.customer_models.vocabulary import N_MOVES  # noqa: E402
from difficult_customer.envs import jax_core as jc  # noqa: E402
from difficult_customer.envs.core import Conversations, Step, conversation_core  # noqa: E402

CASES = {  # name: (tables, max_turns); the short limit makes truncations frequent
    "mixture": (compile_model("mixture"), 6),
    "belligerent": (compile_model("belligerent", ["C4"]), 4),
    "guide_only": (compile_model("guide_only"), 8),
}
FIELDS = ("state", "code", "turn", "history", "done")
STEP_FIELDS = ("slot", "reward", "terminated", "truncated", "restarted")


def _pool(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Float32 uniforms on the draw's edges (``u0``: columns' lower edges; ``u1``: thresholds), and just below."""
    core = jc.jax_core(*CASES[name])
    edges, thresholds = np.asarray(core.columns, dtype=np.float32).T
    thresholds = thresholds[thresholds < 1]
    below = lambda x: np.nextafter(x, np.float32(-1))  # noqa: E731
    u0 = np.unique(np.concatenate([edges, below(edges[edges > 0]), [0.0]]).astype(np.float32))
    u1 = np.unique(np.concatenate([thresholds, below(thresholds[thresholds > 0]), [0.0]]).astype(np.float32))
    return u0, u1


def _uniforms(rng: np.random.Generator, pool: tuple[np.ndarray, np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """(2, *shape) float32: half plain float32 uniforms, half edge values of the pool."""
    u = rng.random((2, *shape), dtype=np.float32)
    for axis in (0, 1):
        edge = rng.choice(pool[axis], shape)
        u[axis] = np.where(rng.random(shape) < 0.5, edge, u[axis])
    return u


def _assert_conv_equal(jconv: jc.JaxConversations, conv: Conversations) -> None:
    for name in FIELDS:
        got, want = np.asarray(getattr(jconv, name)), np.asarray(getattr(conv, name))
        assert got.dtype == (np.bool_ if name == "done" else np.int32), name
        np.testing.assert_array_equal(got, want, err_msg=name)


def _assert_step_equal(jstep: jc.JaxStep, out: Step) -> None:
    for name in STEP_FIELDS:
        got, want = np.asarray(getattr(jstep, name)), np.asarray(getattr(out, name))
        if name == "reward":
            assert got.dtype == np.float32
            want = want.astype(np.float32)
        np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jitted_reset_step_observe_equal_the_numpy_core(name):
    """Many steps of a batch with restarts: every field, every step, and the observations, equal."""
    tables, max_turns = CASES[name]
    core, jcore = conversation_core(tables, max_turns), jc.jax_core(tables, max_turns)
    rng, pool, n = np.random.default_rng(17), _pool(name), 256
    reset, step, observe = jax.jit(jc.reset), jax.jit(jc.step), jax.jit(jc.observe)
    u = _uniforms(rng, pool, (n,))
    conv, jconv = core.reset(u.astype(np.float64)), reset(jcore, u)
    _assert_conv_equal(jconv, conv)
    np.testing.assert_array_equal(np.asarray(observe(jcore, jconv)), core.observe(conv))
    seen = dict.fromkeys(STEP_FIELDS[2:], 0)
    for _ in range(40):
        moves = rng.integers(0, N_MOVES, n)
        u = _uniforms(rng, pool, (n,))
        conv, out = core.step(conv, moves, u.astype(np.float64))
        jconv, jout = step(jcore, jconv, jnp.asarray(moves, dtype=jnp.int32), u)
        _assert_conv_equal(jconv, conv)
        _assert_step_equal(jout, out)
        obs = np.asarray(observe(jcore, jconv))
        assert obs.shape == (n, 30) and obs.dtype == np.float32
        np.testing.assert_array_equal(obs, core.observe(conv))
        for key in seen:
            seen[key] += int(getattr(out, key).sum())
    assert all(count > 0 for count in seen.values()), seen  # ends and restarts were exercised


@pytest.mark.parametrize("name", sorted(CASES))
def test_vmap_over_batches_and_over_single_conversations(name):
    """``vmap`` over independent batches (axis 0 of ``u``'s batch), and over single conversations (shape ``()``)."""
    tables, max_turns = CASES[name]
    core, jcore = conversation_core(tables, max_turns), jc.jax_core(tables, max_turns)
    rng, pool, seeds, n = np.random.default_rng(3), _pool(name), 3, 32
    u = _uniforms(rng, pool, (seeds, n)).transpose(1, 0, 2)  # (seeds, 2, n)
    reset = jax.jit(jax.vmap(jc.reset, in_axes=(None, 0)))
    step = jax.jit(jax.vmap(jc.step, in_axes=(None, 0, 0, 0)))
    single = jax.jit(jax.vmap(jc.step, in_axes=(None, 0, 0, 1)))  # each call sees one conversation
    observe_single = jax.jit(jax.vmap(jc.observe, in_axes=(None, 0)))
    convs = [core.reset(u[s].astype(np.float64)) for s in range(seeds)]
    jconv = reset(jcore, u)
    for _ in range(12):
        moves = rng.integers(0, N_MOVES, (seeds, n))
        u = _uniforms(rng, pool, (seeds, n)).transpose(1, 0, 2)
        first_batch = jax.tree_util.tree_map(lambda a: a[0], jconv)
        jconv, jout = step(jcore, jconv, jnp.asarray(moves, dtype=jnp.int32), u)
        one, one_out = single(jcore, first_batch, jnp.asarray(moves[0], dtype=jnp.int32), u[0])
        outs = []
        for s in range(seeds):
            convs[s], out = core.step(convs[s], moves[s], u[s].astype(np.float64))
            outs.append(out)
            _assert_conv_equal(jax.tree_util.tree_map(lambda a, s=s: a[s], jconv), convs[s])
            _assert_step_equal(jax.tree_util.tree_map(lambda a, s=s: a[s], jout), out)
        _assert_conv_equal(one, convs[0])
        _assert_step_equal(one_out, outs[0])
        np.testing.assert_array_equal(np.asarray(observe_single(jcore, one)), core.observe(convs[0]))


@pytest.mark.parametrize("name", sorted(CASES))
def test_scan_rollout_equals_the_numpy_loop(name):
    """A rollout under ``lax.scan`` (moves and uniforms given in advance) equals the numpy core stepped in a loop."""
    tables, max_turns = CASES[name]
    core, jcore = conversation_core(tables, max_turns), jc.jax_core(tables, max_turns)
    rng, pool, steps, n = np.random.default_rng(5), _pool(name), 30, 64
    u0 = _uniforms(rng, pool, (n,))
    us = np.stack([_uniforms(rng, pool, (n,)) for _ in range(steps)])
    moves = rng.integers(0, N_MOVES, (steps, n))

    @jax.jit
    def rollout(jcore, u0, moves, us):
        def body(conv, inputs):
            conv, out = jc.step(jcore, conv, *inputs)
            return conv, (out.reward, out.terminated | out.truncated, jc.observe(jcore, conv))

        return jax.lax.scan(body, jc.reset(jcore, u0), (moves, us))

    last, (rewards, ends, observations) = rollout(jcore, u0, jnp.asarray(moves, dtype=jnp.int32), us)
    conv = core.reset(u0.astype(np.float64))
    for t in range(steps):
        conv, out = core.step(conv, moves[t], us[t].astype(np.float64))
        np.testing.assert_array_equal(np.asarray(rewards[t]), out.reward.astype(np.float32))
        np.testing.assert_array_equal(np.asarray(ends[t]), out.terminated | out.truncated)
        np.testing.assert_array_equal(np.asarray(observations[t]), core.observe(conv))
    _assert_conv_equal(last, conv)


def test_the_edges_are_where_float32_arithmetic_alone_would_draw_another_column():
    """The edge pool holds uniforms where ``int(u0 * width)`` in float32 is one past float64's, so the tests above
    exercise the correction; and for every column, its lower edge draws it and the float32 just below does not."""
    tables, max_turns = CASES["mixture"]
    core, jcore = conversation_core(tables, max_turns), jc.jax_core(tables, max_turns)
    width = np.asarray(core.alias_rows["width"]).astype(np.int64)
    first = np.asarray(core.alias_rows["first"]).astype(np.int64)
    row = np.repeat(np.arange(width.size), width)  # every (row, column) pair
    column = first[row] + np.concatenate([np.arange(w) for w in width])
    u0 = np.asarray(jcore.columns)[column, 0]
    float32_guess = (u0 * width[row].astype(np.float32)).astype(np.int64)
    float64_guess = (u0.astype(np.float64) * width[row]).astype(np.int64)
    assert (float64_guess == column - first[row]).all()  # the edge draws its column in float64
    assert (float32_guess == float64_guess).all()  # and in float32
    below = np.nextafter(u0, np.float32(-1))
    inside = column > first[row]
    float32_below = (below * width[row].astype(np.float32)).astype(np.int64)
    float64_below = (below.astype(np.float64) * width[row]).astype(np.int64)
    assert (float64_below[inside] == column[inside] - first[row][inside] - 1).all()
    assert (float32_below[inside] != float64_below[inside]).any(), "no edge where float32 rounding matters"
    # The draw itself, on both cores: the edge draws its column, the float32 just below it the previous one.
    draw = jax.jit(jc._draw)
    for u, expect in ((u0, column), (np.where(inside, below, u0), column - inside)):
        for u1 in (np.zeros_like(u), np.full_like(u, np.nextafter(np.float32(1), np.float32(0)))):
            uu = np.stack([u, u1])
            alias = (u1.astype(np.float64) >= core.outcomes["threshold"][2 * expect]).astype(np.int64)
            np.testing.assert_array_equal(core.draw(row, uu.astype(np.float64)), core.outcomes[2 * expect + alias])
            np.testing.assert_array_equal(
                np.asarray(draw(jcore, jnp.asarray(row, dtype=jnp.int32), uu)), 2 * expect + alias
            )


def test_tables_come_from_the_numpy_core_and_the_core_is_a_pytree_with_static_turns():
    tables, max_turns = CASES["belligerent"]
    core, jcore = conversation_core(tables, max_turns), jc.jax_core(tables, max_turns)
    assert jc.jax_core(tables, max_turns) is jcore  # cached per (tables, turn limit)
    np.testing.assert_array_equal(np.asarray(jcore.next_history), core.lookup.next_history)
    np.testing.assert_array_equal(np.asarray(jcore.outcomes)[:, 1], core.outcomes["state"])
    np.testing.assert_array_equal(np.asarray(jcore.reward), core.outcomes["reward"].astype(np.float32))
    threshold = np.asarray(jcore.columns)[:, 1]
    exact = core.outcomes["threshold"][0::2]
    assert (threshold.astype(np.float64) >= exact).all()
    assert (np.nextafter(threshold, np.float32(-1)).astype(np.float64) < exact).all()
    leaves, treedef = jax.tree_util.tree_flatten(jcore)
    assert all(isinstance(leaf, jax.Array) for leaf in leaves)
    assert jax.tree_util.tree_unflatten(treedef, leaves).max_turns == max_turns
    with pytest.raises(ValueError, match="max_turns"):
        jc.jax_core(tables, 0)


def test_uniforms_from_a_key():
    u = jc.uniforms(jax.random.key(0), 1000)
    assert u.shape == (2, 1000) and u.dtype == jnp.float32
    values = np.asarray(u)
    assert values.min() >= 0 and values.max() < 1 and abs(values.mean() - 0.5) < 0.05
    np.testing.assert_array_equal(values, np.asarray(jc.uniforms(jax.random.key(0), 1000)))
    assert not np.array_equal(values, np.asarray(jc.uniforms(jax.random.key(1), 1000)))
