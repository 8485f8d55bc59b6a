"""PPO in JAX, the whole training loop compiled and many seeds at once: ``ppo_jax`` (MLP) and ``gru_ppo_jax`` (GRU).

Needs the ``jax`` extra. A compact PureJaxRL-style learner on the JAX conversation core
(:mod:`difficult_customer.envs.jax_core`): one ``jax.lax.scan`` over updates, each a
rollout of ``n_steps`` steps of ``n_envs`` conversations followed by ``epochs`` passes
of clipped-PPO minibatch updates; ``jax.vmap`` over seeds; one ``jax.jit`` around it all.
No host callbacks run inside, so the same code runs on a GPU when JAX has one::

    config = JaxPPOConfig(algo="ppo_jax", persona="mixture", steps=1_000_000)
    result = train_seeds(config, seeds=range(10))   # 10 seeds vmapped
    paths = save_runs(result, out="runs")           # runs/ppo_jax/mixture/seed<k>/model.npz

Environment: conversations that end are replaced at once by new ones (the next
observation is a fresh opening, as in ``envs.rollout``); a GRU's hidden state is zeroed
at every conversation's first observation. A truncated conversation ends like a
terminated one (no bootstrap): the turn is in the observation and the turn limit is part
of the task, so the return really ends there.

Learning curves: the mean return of the conversations that ended in the training
rollouts (stochastic actions) in each window of ``curve_every`` steps per seed, computed
after training from per-update sums the loop returns. The loop also returns the policy
parameters at the end of each window (the checkpoints, stacked inside the compiled scan),
so a curve can be scored by the exact or sampled evaluation afterwards
(:mod:`~difficult_customer.experiments.library.jax_curves`). Same seeds, same result: a
seed's run depends only on ``jax.random.PRNGKey(seed)``, whether trained alone or vmapped.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from difficult_customer.agents.jax_models import JAX_ALGORITHMS, MODEL_FILE, Params, save_model
from difficult_customer.agents.jax_policy import gru_sequence, gru_step, init_gru, init_mlp, mlp_apply
from difficult_customer.customer_models import PERSONA_NAMES, check_ablate, compile_model
from difficult_customer.envs import jax_core as jc
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.io import atomic_write_json


@dataclass(frozen=True)
class JaxPPOConfig:
    """One JAX PPO training: the learner, the environment, the budget per seed and the PPO hyperparameters."""

    algo: str = "ppo_jax"
    """``ppo_jax`` (MLP on the observation) or ``gru_ppo_jax`` (GRU over the observation history)."""
    persona: str = "mixture"
    """Persona or mixture to train on."""
    ablate: tuple[str, ...] = ()
    """The switches turned off in the customer model."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of each conversation."""
    steps: int = 1_000_000
    """Environment steps per seed (rounded down to whole updates of ``n_envs * n_steps``, at least one)."""
    n_envs: int = 64
    """Conversations stepped together per seed."""
    n_steps: int = 32
    """Steps per conversation slot per rollout (the GRU's training sequence length)."""
    lr: float = 1e-3
    """Adam's learning rate."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over the run."""
    gamma: float = 1.0
    """Discount (conversations are short and the reward comes at the end)."""
    gae_lambda: float = 0.95
    """GAE's lambda."""
    clip: float = 0.2
    """PPO's ratio clip range."""
    epochs: int = 4
    """Passes over each rollout."""
    minibatches: int = 8
    """Minibatches per pass (the GRU splits conversation slots, so ``n_envs`` must be a multiple)."""
    ent_coef: float = 0.01
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient (SB3's: times the mean squared error)."""
    max_grad_norm: float = 0.5
    """Gradient clipping by global norm."""
    hidden: tuple[int, ...] = (64, 64)
    """MLP layers (``ppo_jax``); the embedding then the heads' layers (``gru_ppo_jax``)."""
    gru_size: int = 64
    """The GRU's hidden state size (``gru_ppo_jax``)."""
    curve_every: int = 10_000
    """Steps per seed between learning-curve points (rounded to whole updates)."""

    def __post_init__(self) -> None:
        # lists (from JSON or YAML) become tuples: the config is hashable, a key of the compiled programs
        object.__setattr__(self, "ablate", tuple(sorted(self.ablate)))
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        if self.algo not in JAX_ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algo!r}; allowed: {', '.join(JAX_ALGORITHMS)}")
        if self.persona not in PERSONA_NAMES:
            raise ValueError(f"unknown persona {self.persona!r}; allowed: {', '.join(PERSONA_NAMES)}")
        check_ablate(list(self.ablate))
        for name in ("steps", "n_envs", "n_steps", "epochs", "minibatches", "gru_size", "curve_every", "max_turns"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}; allowed is an integer >= 1")
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden={self.hidden!r}; allowed: one or more layer sizes >= 1")
        batch = self.n_envs if self.algo == "gru_ppo_jax" else self.n_envs * self.n_steps
        if batch % self.minibatches:
            what = "n_envs" if self.algo == "gru_ppo_jax" else "n_envs * n_steps"
            raise ValueError(f"minibatches={self.minibatches} does not divide {what}={batch}")

    @property
    def batch(self) -> int:
        """Steps per update and seed."""
        return self.n_envs * self.n_steps

    @property
    def updates(self) -> int:
        """Updates per seed."""
        return max(1, self.steps // self.batch)

    @property
    def updates_per_point(self) -> int:
        """Updates per learning-curve point."""
        return max(1, round(self.curve_every / self.batch))

    def hyperparameters(self) -> dict[str, Any]:
        """The PPO hyperparameters alone (not the environment or budget)."""
        skip = {"algo", "persona", "ablate", "max_turns", "steps", "curve_every"}
        return {k: v for k, v in asdict(self).items() if k not in skip}


class Metrics(NamedTuple):
    """Per update and seed: what the loop returns besides the parameters."""

    return_sum: jax.Array
    """Sum of the returns of the conversations that ended in the update's rollout."""
    episodes: jax.Array
    """How many ended."""
    entropy: jax.Array
    """Mean policy entropy over the update's minibatches (nats)."""
    value_loss: jax.Array
    """Mean squared value error over the minibatches."""
    approx_kl: jax.Array
    """Mean approximate KL of the new to the rollout policy."""
    clip_fraction: jax.Array
    """Share of samples whose ratio was clipped."""


class _Runner(NamedTuple):
    params: Params
    opt_state: Any
    conv: Any
    obs: jax.Array
    start: jax.Array
    hidden: jax.Array
    episode_return: jax.Array
    key: jax.Array


class _Batch(NamedTuple):
    obs: jax.Array
    start: jax.Array
    action: jax.Array
    logp: jax.Array
    value: jax.Array
    advantage: jax.Array
    target: jax.Array


def _gae(config: JaxPPOConfig, reward: jax.Array, value: jax.Array, done: jax.Array,
         last_value: jax.Array) -> jax.Array:
    """Generalized advantages over ``(T, n)`` arrays; ``done[t]``: the conversation ended at step t."""

    def body(carry: tuple[jax.Array, jax.Array], x: tuple[jax.Array, ...]) -> tuple[Any, jax.Array]:
        advantage, next_value = carry
        r, v, d = x
        alive = 1.0 - d
        delta = r + config.gamma * next_value * alive - v
        advantage = delta + config.gamma * config.gae_lambda * alive * advantage
        return (advantage, v), advantage

    _, advantage = jax.lax.scan(body, (jnp.zeros_like(last_value), last_value), (reward, value, done), reverse=True)
    return advantage


def checkpoint_updates(config: JaxPPOConfig) -> list[int]:
    """The updates after which the loop keeps a checkpoint: every ``updates_per_point`` updates, and the last one.

    These are the ends of the learning curve's windows, so checkpoint ``i`` is at
    ``checkpoint_updates(config)[i] * config.batch`` steps.
    """
    per, updates = config.updates_per_point, config.updates
    return [*range(per, updates + 1, per), *([updates] if updates % per else [])]


def init_params(config: JaxPPOConfig, key: jax.Array) -> Params:
    """The initial parameters of the seed whose key is ``key`` (the network of ``config.algo``).

    Run once per seed, outside the compiled, vmapped trainer: the orthogonal initializer
    computes QR decompositions, and a batch of them inside a vmapped program runs on
    XLA's CPU thread pool as parallel tasks that wait for free threads; with two or more
    such calls at once on a small pool (2 threads here) every thread waits and the run
    hangs in ``block_until_ready`` (seen with the GRU at 2 and 10 seeds, native stacks in
    ``jax::OrthogonalQr`` / ``ParallelBatchMap``).
    """
    _, k_init, _ = jax.random.split(key, 3)
    if config.algo == "gru_ppo_jax":
        return init_gru(k_init, config.hidden, config.gru_size)
    return init_mlp(k_init, config.hidden)


def make_train(config: JaxPPOConfig) -> Callable[[Any, jax.Array, Params], tuple[Params, Metrics, Params]]:
    """``train(core, key, params) -> (params, metrics, checkpoints)`` of one seed: pure, jittable, vmappable.

    ``params`` are the seed's initial parameters, :func:`init_params` of the same ``key``.

    ``core`` is a :class:`~difficult_customer.envs.jax_core.JaxCore` (an argument, not a
    constant, so its tables are not baked into the compiled program). ``metrics`` has one
    entry per update (:class:`Metrics`). ``checkpoints`` is the parameter pytree with a
    leading checkpoint axis: the parameters after each update of
    :func:`checkpoint_updates` (the last is ``params``). The updates run as a scan over
    windows of ``updates_per_point`` updates (and one shorter scan for a remainder), so
    the checkpoints are collected inside the compiled program, with no host callback.
    """
    config.validate()
    recurrent = config.algo == "gru_ppo_jax"
    n, T = config.n_envs, config.n_steps
    n_mb = config.minibatches
    schedule: Any = config.lr
    if config.anneal_lr:
        total = config.updates * config.epochs * n_mb
        schedule = optax.linear_schedule(config.lr, 0.0, total)
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(schedule, eps=1e-5))

    def act(params: Params, hidden: jax.Array, obs: jax.Array, start: jax.Array) -> tuple[jax.Array, ...]:
        if recurrent:
            return gru_step(params, hidden, obs, start)
        logits, value = mlp_apply(params, obs)
        return hidden, logits, value

    def loss_fn(params: Params, batch: _Batch, hidden0: jax.Array) -> tuple[jax.Array, tuple[jax.Array, ...]]:
        if recurrent:  # (T, m, ...): replay the sequences from the rollout's first hidden state
            _, logits, value = gru_sequence(params, hidden0, batch.obs, batch.start)
        else:
            logits, value = mlp_apply(params, batch.obs)
        log_probs = jax.nn.log_softmax(logits)
        logp = jnp.take_along_axis(log_probs, batch.action[..., None], axis=-1)[..., 0]
        log_ratio = logp - batch.logp
        ratio = jnp.exp(log_ratio)
        adv = (batch.advantage - batch.advantage.mean()) / (batch.advantage.std() + 1e-8)
        clipped = jnp.clip(ratio, 1.0 - config.clip, 1.0 + config.clip)
        policy_loss = -jnp.minimum(ratio * adv, clipped * adv).mean()
        value_loss = ((value - batch.target) ** 2).mean()
        entropy = -(jnp.exp(log_probs) * log_probs).sum(-1).mean()
        loss = policy_loss + config.vf_coef * value_loss - config.ent_coef * entropy
        approx_kl = ((ratio - 1.0) - log_ratio).mean()
        clip_fraction = (jnp.abs(ratio - 1.0) > config.clip).mean()
        return loss, (entropy, value_loss, approx_kl, clip_fraction)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    def env_step(core: Any, runner: _Runner, _: Any) -> tuple[_Runner, tuple[Any, ...]]:
        key, k_act, k_step, k_reset = jax.random.split(runner.key, 4)
        hidden, logits, value = act(runner.params, runner.hidden, runner.obs, runner.start)
        action = jax.random.categorical(k_act, logits)
        logp = jnp.take_along_axis(jax.nn.log_softmax(logits), action[:, None], axis=-1)[:, 0]
        conv, step = jc.step(core, runner.conv, action, jc.uniforms(k_step, n))
        done = step.terminated | step.truncated
        fresh = jc.reset(core, jc.uniforms(k_reset, n))
        conv = jax.tree_util.tree_map(lambda new, old: jnp.where(done, new, old), fresh, conv)
        reward = step.reward.astype(jnp.float32)
        episode_return = runner.episode_return + reward
        ended = (jnp.where(done, episode_return, 0.0).sum(), done.sum())
        transition = (runner.obs, runner.start, action, logp, value, reward, done.astype(jnp.float32))
        runner = runner._replace(conv=conv, obs=jc.observe(core, conv), start=done, hidden=hidden,
                                 episode_return=jnp.where(done, 0.0, episode_return), key=key)
        return runner, (transition, ended)

    def minibatch_step(carry: tuple[Params, Any], mb: tuple[_Batch, jax.Array]) -> tuple[Any, tuple[jax.Array, ...]]:
        params, opt_state = carry
        (_, aux), grads = grad_fn(params, *mb)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), aux

    def epoch(carry: tuple[Params, Any, jax.Array], _: Any, batch: _Batch, hidden0: jax.Array) -> tuple[Any, Any]:
        params, opt_state, key = carry
        key, k_perm = jax.random.split(key)
        if recurrent:  # shuffle conversation slots; each minibatch keeps whole sequences
            perm = jax.random.permutation(k_perm, n)
            shuffled = jax.tree_util.tree_map(lambda x: x[:, perm].reshape(T, n_mb, n // n_mb, *x.shape[2:])
                                              .swapaxes(0, 1), batch)
            h0 = hidden0[perm].reshape(n_mb, n // n_mb, -1)
        else:  # shuffle steps
            perm = jax.random.permutation(k_perm, n * T)
            shuffled = jax.tree_util.tree_map(lambda x: x.reshape(n * T, *x.shape[2:])[perm]
                                              .reshape(n_mb, n * T // n_mb, *x.shape[2:]), batch)
            h0 = jnp.zeros((n_mb, 0), jnp.float32)
        (params, opt_state), aux = jax.lax.scan(minibatch_step, (params, opt_state), (shuffled, h0))
        return (params, opt_state, key), aux

    def update(core: Any, runner: _Runner, _: Any) -> tuple[_Runner, Metrics]:
        hidden0 = runner.hidden
        runner, (trajectory, ended) = jax.lax.scan(lambda r, x: env_step(core, r, x), runner, None, length=T)
        obs, start, action, logp, value, reward, done = trajectory
        _, _, last_value = act(runner.params, runner.hidden, runner.obs, runner.start)
        advantage = _gae(config, reward, value, done, last_value)
        batch = _Batch(obs, start, action, logp, value, advantage, advantage + value)
        key, k_epochs = jax.random.split(runner.key)
        (params, opt_state, _), aux = jax.lax.scan(
            lambda c, x: epoch(c, x, batch, hidden0), (runner.params, runner.opt_state, k_epochs), None,
            length=config.epochs)
        entropy, value_loss, approx_kl, clip_fraction = (a.mean() for a in aux)
        metrics = Metrics(ended[0].sum(), ended[1].sum(), entropy, value_loss, approx_kl, clip_fraction)
        return runner._replace(params=params, opt_state=opt_state, key=key), metrics

    def train(core: Any, key: jax.Array, params: Params) -> tuple[Params, Metrics, Params]:
        key, _, k_reset = jax.random.split(key, 3)  # the middle key made ``params`` (init_params)
        conv = jc.reset(core, jc.uniforms(k_reset, n))
        hidden = jnp.zeros((n, config.gru_size if recurrent else 0), jnp.float32)
        runner = _Runner(params, optimizer.init(params), conv, jc.observe(core, conv), jnp.ones(n, bool), hidden,
                         jnp.zeros(n, jnp.float32), key)
        per = config.updates_per_point
        windows, rest = divmod(config.updates, per)
        parts: list[tuple[Metrics, Params]] = []
        if windows:
            def window(r: _Runner, _: Any) -> tuple[_Runner, tuple[Metrics, Params]]:
                r, m = jax.lax.scan(lambda r2, x: update(core, r2, x), r, None, length=per)
                return r, (m, r.params)

            runner, (metrics, kept) = jax.lax.scan(window, runner, None, length=windows)
            flat = jax.tree_util.tree_map(lambda x: x.reshape(windows * per, *x.shape[2:]), metrics)
            parts.append((flat, kept))
        if rest:
            runner, metrics = jax.lax.scan(lambda r, x: update(core, r, x), runner, None, length=rest)
            parts.append((metrics, jax.tree_util.tree_map(lambda x: x[None], runner.params)))
        metrics, checkpoints = jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs), *parts)
        return runner.params, metrics, checkpoints

    return train


@dataclass
class JaxTrainResult:
    """What :func:`train_seeds` returns: per seed, the parameters, the checkpoints, the curve and the metrics."""

    config: JaxPPOConfig
    seeds: list[int]
    params: Params
    """The trained parameters, numpy arrays with a leading seed axis."""
    metrics: Metrics
    """Numpy arrays ``(seeds, updates)``."""
    checkpoints: Params
    """The parameters at each checkpoint, numpy arrays ``(seeds, checkpoints, ...)`` (:meth:`checkpoint_params`)."""
    compile_seconds: float
    """Wall time of compiling (about 0 when this process had compiled the same program)."""
    train_seconds: float
    """Wall time of the compiled run alone (all seeds together)."""
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        """Environment steps per seed actually taken."""
        return self.config.updates * self.config.batch

    @property
    def steps_per_second(self) -> float:
        """Environment steps per second over all seeds, after compilation."""
        return self.steps * len(self.seeds) / self.train_seconds

    def seed_params(self, index: int) -> Params:
        """The parameters of the ``index``-th seed (numpy)."""
        return jax.tree_util.tree_map(lambda x: x[index], self.params)

    @property
    def checkpoint_steps(self) -> list[int]:
        """Steps per seed at each checkpoint: every ``curve_every`` steps (whole updates) and the last step."""
        return [u * self.config.batch for u in checkpoint_updates(self.config)]

    def checkpoint_params(self, index: int) -> list[tuple[int, Params]]:
        """``[(steps, params), ...]`` of the ``index``-th seed: its parameters at each checkpoint (numpy).

        The steps are :attr:`checkpoint_steps`, the ends of the curve's windows (:meth:`curve`
        leaves out a window in which no conversation ended; the checkpoints keep every one).
        The last entry's parameters are :meth:`seed_params`.
        """
        return [(steps, jax.tree_util.tree_map(lambda x, c=c: x[index, c], self.checkpoints))
                for c, steps in enumerate(self.checkpoint_steps)]

    def curve(self, index: int) -> list[list[float]]:
        """``[[steps, mean return], ...]`` of the ``index``-th seed: one point per ``curve_every`` steps.

        Each point is the mean return of the training conversations that ended in the
        window of updates ending at ``steps``; a window in which none ended is left out.
        """
        per = self.config.updates_per_point
        sums, counts = self.metrics.return_sum[index], self.metrics.episodes[index]
        out = []
        for start in range(0, len(sums), per):
            end = min(start + per, len(sums))
            count = float(counts[start:end].sum())
            if count > 0:
                out.append([end * self.config.batch, float(sums[start:end].sum()) / count])
        return out


def _keys(seeds: Sequence[int]) -> jax.Array:
    return jnp.stack([jax.random.PRNGKey(int(s)) for s in seeds])


_COMPILED: dict[tuple[JaxPPOConfig, int], Any] = {}


def _compiled(config: JaxPPOConfig, n_seeds: int, core: Any, keys: jax.Array, params: Params) -> Any:
    """The compiled vmapped trainer of ``config`` for ``n_seeds`` seeds, compiled once per process (last 4 kept)."""
    cache_key = (config, n_seeds)
    if cache_key not in _COMPILED:
        while len(_COMPILED) >= 4:
            _COMPILED.pop(next(iter(_COMPILED)))
        trainer = jax.jit(jax.vmap(make_train(config), in_axes=(None, 0, 0)))
        _COMPILED[cache_key] = trainer.lower(core, keys, params).compile()
    return _COMPILED[cache_key]


def initial_params(config: JaxPPOConfig, keys: jax.Array) -> Params:
    """The seeds' initial parameters stacked on a leading axis, computed one seed at a time (:func:`init_params`)."""
    per_seed = [init_params(config, key) for key in keys]
    return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *per_seed)


def train_seeds(config: JaxPPOConfig, seeds: Iterable[int] = (0,)) -> JaxTrainResult:
    """Train one run per seed, all seeds vmapped in one compiled program.

    Compilation is timed apart from the run (``compile_seconds``, ``train_seconds``); the
    compiled program is kept for the next call with the same config and number of seeds
    (whose ``compile_seconds`` is then about 0).

    Raises:
        ValueError: for a bad config (:meth:`JaxPPOConfig.validate`) or no seeds.
    """
    config.validate()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("no seeds; allowed: one or more integers")
    core = jc.jax_core(compile_model(config.persona, list(config.ablate)), config.max_turns)
    keys = _keys(seeds)
    started = time.perf_counter()
    params0 = jax.block_until_ready(initial_params(config, keys))
    compiled = _compiled(config, len(seeds), core, keys, params0)
    compile_seconds = time.perf_counter() - started
    started = time.perf_counter()
    params, metrics, checkpoints = jax.block_until_ready(compiled(core, keys, params0))
    train_seconds = time.perf_counter() - started
    to_numpy = lambda tree: jax.tree_util.tree_map(np.asarray, tree)  # noqa: E731
    return JaxTrainResult(config, seeds, to_numpy(params), Metrics(*to_numpy(tuple(metrics))),
                          checkpoints=to_numpy(checkpoints), compile_seconds=compile_seconds,
                          train_seconds=train_seconds, versions=versions())


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a JAX result depends on, and the device it ran on."""
    return {"python": platform.python_version(), "numpy": np.__version__, "jax": jax.__version__,
            "optax": optax.__version__, "device": jax.default_backend()}


def run_dir(config: JaxPPOConfig, seed: int, out: str | Path) -> Path:
    """``<out>/<algo>/<persona>[__ablate-A1-C4]/seed<seed>``, the layout of SB3 runs."""
    tag = config.persona + ("__ablate-" + "-".join(sorted(config.ablate)) if config.ablate else "")
    return Path(out) / config.algo / tag / f"seed{seed}"


def model_meta(config: JaxPPOConfig, seed: int) -> dict[str, Any]:
    """What a model file records besides its parameters: the network and the environment it was trained in."""
    return {"algo": config.algo, "hidden": list(config.hidden), "gru_size": config.gru_size,
            "max_turns": config.max_turns, "persona": config.persona, "ablate": sorted(config.ablate), "seed": seed}


def save_models(result: JaxTrainResult, out: str | Path) -> list[Path]:
    """Write each seed's model alone, ``<out>/seed<k>/model.npz``, and return the paths (a sweep run's artifacts)."""
    return [save_model(Path(out) / f"seed{seed}" / MODEL_FILE, result.seed_params(i), model_meta(result.config, seed))
            for i, seed in enumerate(result.seeds)]


def save_runs(result: JaxTrainResult, out: str | Path = "runs") -> list[Path]:
    """Write each seed's run folder (:func:`run_dir`) and return the model paths.

    A folder holds ``model.npz`` (:func:`~difficult_customer.agents.jax_policy.save_model`),
    ``config.json`` (``{"config": {algo, persona, ablate, max_turns, seed, steps,
    observation: "partial"}, "hyperparameters", "versions"}``, as SB3 runs write it, so
    ``agents.learned.run_config`` reads it), ``curve.json`` and ``result.json``.
    """
    config = result.config
    paths = []
    for index, seed in enumerate(result.seeds):
        folder = run_dir(config, seed, out)
        model = save_model(folder / MODEL_FILE, result.seed_params(index), model_meta(config, seed))
        run = {"algo": config.algo, "persona": config.persona, "ablate": sorted(config.ablate),
               "max_turns": config.max_turns, "seed": seed, "steps": result.steps, "observation": "partial"}
        atomic_write_json(folder / "config.json", {"config": run, "hyperparameters": config.hyperparameters(),
                                                    "versions": result.versions})
        curve = result.curve(index)
        atomic_write_json(folder / "curve.json", curve)
        atomic_write_json(folder / "result.json", {
            "config": run, "hyperparameters": config.hyperparameters(), "curve": curve,
            "final_return": curve[-1][1] if curve else None, "model": str(model), "policy": str(model),
            "wall_seconds": (result.compile_seconds + result.train_seconds) / len(result.seeds),
            "steps_per_second": result.steps_per_second})
        paths.append(model)
    return paths


__all__ = ["JaxPPOConfig", "JaxTrainResult", "Metrics", "checkpoint_updates", "init_params", "initial_params",
           "make_train", "model_meta", "run_dir", "save_models", "save_runs", "train_seeds", "versions"]
