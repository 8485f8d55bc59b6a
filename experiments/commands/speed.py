"""``difficult-customer speed``: steps per second of the customer envs against gymnasium's CartPole.

Everything is measured in one run on this machine, each pair interleaved (customer,
reference, customer, ...) and reported as the best of ``--repeats`` runs with
``time.perf_counter`` and the garbage collector paused, as ``timeit`` does, so that
other load on the machine skews both sides alike. Actions are random and generated
before the clock starts, so the policy is not what is measured.

Rows: the single env against ``CartPole-v1`` (both through ``gym.make``, which adds
wrappers, and both unwrapped); the batched env at N = 1, 64, 1024, 16384 against
gymnasium's ``CartPoleVectorEnv``; the batched env against a ``SyncVectorEnv`` of
single envs; SB3 PPO training with 1 and 16 envs (the batched adapter against
``DummyVecEnv``); and the peak memory of the batched env at N = 16384, measured in a
fresh process. See ``docs/speed.md``.
"""

from __future__ import annotations

import cProfile
import gc
import io
import multiprocessing
import platform
import pstats
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.envs.classic_control.cartpole import CartPoleVectorEnv

import difficult_customer.envs  # noqa: F401  (registers DifficultCustomer-v0)
import difficult_customer.envs.core as core_module
from difficult_customer.customer_models import compile_model
from difficult_customer.envs.customer_vector_env import CustomerVectorEnv
from difficult_customer.experiments.library.io import atomic_write_json
from difficult_customer.experiments.library.training_speed import TrainingSpeed, jax_speed, sb3_speed

ENV_ID = "DifficultCustomer-v0"
BATCH_SIZES = (1, 64, 1024, 16384)
SYNC_SIZE = 64
MEMORY_SIZE = 16384


@dataclass
class Config:
    """Options of ``difficult-customer speed``."""

    quick: bool = False
    """Small step counts and 2 repeats: a smoke test, not a measurement."""
    json: str | None = None
    """Also write the results to this JSON file (atomically)."""
    repeats: int = 5
    """Timed runs per measurement; the best counts."""
    seed: int = 0
    """Seed of the environments and of the pre-generated actions."""
    skip_sb3: bool = False
    """Leave out the PPO rows (they need stable-baselines3 and take the longest)."""
    skip_training: bool = False
    """Leave out the training table (SB3 against the JAX trainer, MLP and recurrent)."""
    profile: int | None = None
    """Instead of the table, profile the batched env's step at this N: time by stage, and a cProfile."""




@dataclass(frozen=True)
class Budget:
    """Steps per timed run."""

    single: int
    batched: dict[int, int]
    sync: int
    ppo: int
    memory_steps: int
    train: int = 16_384
    """SB3 steps of each training-speed measurement."""
    jax_train: int = 65_536
    """JAX steps per seed of each training-speed measurement (all seeds at once)."""


FULL = Budget(
    single=50_000, batched={1: 10_000, 64: 5_000, 1024: 2_000, 16384: 200}, sync=100, ppo=4096, memory_steps=50
)
QUICK = Budget(single=1_000, batched={1: 200, 64: 100, 1024: 20, 16384: 3}, sync=5, ppo=256, memory_steps=3,
               train=512, jax_train=2_048)


@dataclass
class Row:
    """One line of the table: the customer env's speed against a reference."""

    name: str
    value: float
    reference: str = ""
    reference_value: float | None = None
    unit: str = "steps/s"
    bar: str = ""
    met: bool | None = None
    runs: list[float] | None = None
    reference_runs: list[float] | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.reference_value else self.value / self.reference_value


# ------------------------------------------------------------------ timing
def _best_rates(runners: Sequence[Callable[[], float]], repeats: int) -> list[list[float]]:
    """Run each runner ``repeats`` times, interleaved; each returns steps/s of one timed run."""
    rates: list[list[float]] = [[] for _ in runners]
    for _ in range(repeats):
        for i, run in enumerate(runners):
            rates[i].append(run())
    return rates


def _timed(loop: Callable[[], int]) -> float:
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        steps = loop()
        elapsed = time.perf_counter() - start
    finally:
        if gc_was_enabled:
            gc.enable()
    return steps / elapsed


def single_runner(env: Any, steps: int, seed: int) -> Callable[[], float]:
    """Steps/s of a gymnasium env under random actions, resetting at episode ends."""
    actions = np.random.default_rng(seed).integers(0, env.action_space.n, steps).tolist()
    env.reset(seed=seed)

    def loop() -> int:
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return steps

    return lambda: _timed(loop)


def vector_runner(env: Any, steps: int, seed: int) -> Callable[[], float]:
    """Steps/s (customers x steps) of a gymnasium vector env under random actions (it autoresets)."""
    n_actions = int(env.single_action_space.n)
    actions = np.random.default_rng(seed).integers(0, n_actions, (steps, env.num_envs))
    env.reset(seed=seed)
    for row in actions[: min(5, steps)]:  # warm up: first-step checks, caches
        env.step(row)

    def loop() -> int:
        for row in actions:
            env.step(row)
        return steps * env.num_envs

    return lambda: _timed(loop)


# ---------------------------------------------------------- measurements
def measure_single(budget: Budget, repeats: int, seed: int) -> list[Row]:

    customer, cartpole = gym.make(ENV_ID), gym.make("CartPole-v1")
    runners = [
        single_runner(customer, budget.single, seed),
        single_runner(cartpole, budget.single, seed),
        single_runner(customer.unwrapped, budget.single, seed),
        single_runner(cartpole.unwrapped, budget.single, seed),
    ]
    wrapped, cart_wrapped, bare, cart_bare = _best_rates(runners, repeats)
    return [
        Row(
            "single env (gym.make)",
            max(wrapped),
            "CartPole-v1 (gym.make)",
            max(cart_wrapped),
            bar=">= 1.0x",
            runs=wrapped,
            reference_runs=cart_wrapped,
        ),
        Row(
            "single env (unwrapped)",
            max(bare),
            "CartPole-v1 (unwrapped)",
            max(cart_bare),
            runs=bare,
            reference_runs=cart_bare,
        ),
    ]


def measure_batched(budget: Budget, repeats: int, seed: int) -> list[Row]:


    rows = []
    for n in BATCH_SIZES:
        steps = budget.batched[n]
        ours, cart = _best_rates(
            [
                vector_runner(CustomerVectorEnv(n), steps, seed),
                vector_runner(CartPoleVectorEnv(num_envs=n), steps, seed),
            ],
            repeats,
        )
        row = Row(f"batched N={n}", max(ours), f"CartPoleVectorEnv N={n}", max(cart), runs=ours, reference_runs=cart)
        if n == 1024:
            row.bar = ">= 1.0x"
        if n == 16384:
            row.bar = ">= 10M steps/s"
            row.met = row.value >= 10e6
        rows.append(row)
    return rows


def measure_sync(budget: Budget, repeats: int, seed: int) -> Row:

    ours = vector_runner(
        gym.make_vec(ENV_ID, num_envs=SYNC_SIZE, vectorization_mode="vector_entry_point"),
        budget.batched[SYNC_SIZE],
        seed,
    )
    sync = vector_runner(gym.make_vec(ENV_ID, num_envs=SYNC_SIZE, vectorization_mode="sync"), budget.sync, seed)
    ours_rates, sync_rates = _best_rates([ours, sync], repeats)
    return Row(
        f"batched vs SyncVectorEnv N={SYNC_SIZE}",
        max(ours_rates),
        f"SyncVectorEnv N={SYNC_SIZE}",
        max(sync_rates),
        bar=">= 50x",
        runs=ours_rates,
        reference_runs=sync_rates,
    )


def measure_ppo(budget: Budget, repeats: int, seed: int) -> list[Row]:
    """PPO ``learn`` steps/s on the batched adapter against ``DummyVecEnv`` of single envs."""
    try:
        import torch
        from stable_baselines3 import PPO  # the train extra: only when training speed is measured
        from stable_baselines3.common.vec_env import DummyVecEnv

        from difficult_customer.envs.sb3_vec_env import CustomerSB3VecEnv  # needs the train extra too
    except ImportError:
        return [
            Row(f"PPO {n} env{'s' if n > 1 else ''}", float("nan"), "not measured: stable-baselines3 missing")
            for n in (1, 16)
        ]

    torch.set_num_threads(1)  # small networks: one thread is fastest, and steadier on a shared machine
    rows = []
    for n in (1, 16):
        n_steps = max(8, 256 // n)
        total = max(budget.ppo, n * n_steps)

        def runner(make_env: Callable[[], Any], n_steps: int = n_steps, total: int = total) -> Callable[[], float]:
            def run() -> float:
                model = PPO(
                    "MlpPolicy",
                    make_env(),
                    n_steps=n_steps,
                    batch_size=64,
                    n_epochs=2,
                    seed=seed,
                    device="cpu",
                    verbose=0,
                )
                start = time.perf_counter()
                model.learn(total)
                return model.num_timesteps / (time.perf_counter() - start)

            return run

        batched = runner(lambda n=n: CustomerSB3VecEnv(n))
        dummy = runner(lambda n=n: DummyVecEnv([lambda: gym.make(ENV_ID) for _ in range(n)]))
        ours, ref = _best_rates([batched, dummy], max(1, repeats // 2))
        name = f"PPO {n} env{'s' if n > 1 else ''}"
        rows.append(Row(name, max(ours), f"PPO DummyVecEnv {n}", max(ref), runs=ours, reference_runs=ref))
    return rows


def measure_training(budget: Budget, seed: int) -> list[Row]:
    """Training steps/s: the JAX trainer (10 seeds at once) against SB3 at 8 and 64 envs, MLP and recurrent.

    Then the wall time for 10 seeds to reach a normalized 0.85 (:func:`time_to_target`).
    """
    rows, speeds = [], {}
    for sb3_algo, jax_algo, bar in (("ppo", "ppo_jax", ""), ("recurrent_ppo", "gru_ppo_jax", ">= 10x")):
        small = sb3_speed(sb3_algo, 8, budget.train, seed)
        rows.append(Row(f"train: {small.name}", small.steps_per_second or float("nan"), small.note))
        sb3 = sb3_speed(sb3_algo, 64, budget.train, seed)
        ours = jax_speed(jax_algo, budget.jax_train)
        rows.append(Row(f"train: {ours.name}", ours.steps_per_second or float("nan"), sb3.name or ours.note,
                        sb3.steps_per_second, bar=bar))
        speeds[sb3_algo], speeds[jax_algo] = small, ours
    return rows + time_to_target(speeds)


TARGET = 0.85
"""The normalized score whose wall time to reach the training table gives."""


def time_to_target(speeds: dict[str, TrainingSpeed], seeds: int = 10) -> list[Row]:
    """Seconds for ``seeds`` seeds of each learner to reach :data:`TARGET`, from the steps/s measured in this run.

    The steps each learner needs are those of the committed converged baselines
    (``experiments/baselines``: the IQM over seeds of the steps to reach 0.85, their learning
    curves); an SB3 learner trains its seeds one after another at its measured steps/s, the
    JAX trainer all at once at its measured steps/s over all seeds. A learner not in the
    baselines, or that did not reach 0.85 there, gets a row saying so.
    """
    try:
        from difficult_customer.experiments.library.report.baselines import load_baselines  # the report extra
    except ImportError:
        return []
    baselines, note = load_baselines()
    groups = {} if baselines is None else {g.learner: g for g in baselines.groups}
    rows = []
    for learner, speed in speeds.items():
        name = f"time to {TARGET:.2f}: {speed.name.split(',')[0]}, {seeds} seeds"
        group = groups.get(learner)
        reach = None
        if group is not None and group.curve is not None and group.curve.convergence is not None:
            reach = next((r for r in group.curve.convergence.reach if abs(r.target - TARGET) < 1e-9), None)
        if not speed.steps_per_second or reach is None or reach.iqm is None:
            why = note if baselines is None else (f"{learner} is not in the committed baselines" if group is None
                                                  else f"{learner} did not reach {TARGET:.2f} in the baselines")
            rows.append(Row(name, float("nan"), why, unit="s"))
            continue
        # SB3: the seeds one after another at its steps/s; JAX: at once, its steps/s counting every seed
        rows.append(Row(name, reach.iqm * seeds / speed.steps_per_second,
                        f"{reach.iqm:,.0f} steps per seed ({reach.reached}/{reach.seeds} seeds reached it)", unit="s"))
    return rows


def _memory_probe(n: int, steps: int, seed: int) -> dict[str, int]:
    """In a fresh process: traced bytes (peak, and held after) of compiling, building and stepping N customers."""


    tracemalloc.start()
    compile_model("mixture")
    compiled, compile_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    env = CustomerVectorEnv(n, persona="mixture")
    env.reset(seed=seed)
    built, build_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    actions = np.random.default_rng(seed).integers(0, 6, (steps, n))
    for row in actions:
        env.step(row)
    step_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {
        "compile_peak": compile_peak,
        "tables": compiled,
        "env": built - compiled,
        "peak": max(compile_peak, build_peak, step_peak),
        "step_working_set": step_peak - built,
        "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def measure_memory(budget: Budget, seed: int) -> list[Row]:
    """Memory of the batched env at N = 16384 (mixture persona), in a fresh process."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        mem = pool.apply(_memory_probe, (MEMORY_SIZE, budget.memory_steps, seed))
    mib = {key: value / 2**20 for key, value in mem.items()}
    detail = (
        f"tables {mib['tables']:.0f} (compiling: peak {mib['compile_peak']:.0f}), "
        f"env {mib['env']:.0f}, per step {mib['step_working_set']:.0f}"
    )
    return [
        Row(f"peak memory N={MEMORY_SIZE} (traced)", mib["peak"], detail, unit="MiB"),
        Row(f"peak memory N={MEMORY_SIZE} (max RSS)", mib["max_rss"], "whole fresh process", unit="MiB"),
    ]


def run_speed(config: Config, log: Callable[[str], None] = lambda _: None) -> list[Row]:
    """All measurements of the table."""
    budget = QUICK if config.quick else FULL
    repeats = 2 if config.quick else config.repeats
    log("single env ...")
    rows = measure_single(budget, repeats, config.seed)
    log("batched env ...")
    rows += measure_batched(budget, repeats, config.seed)
    rows.append(measure_sync(budget, repeats, config.seed))
    if not config.skip_sb3:
        log("PPO ...")
        rows += measure_ppo(budget, repeats, config.seed)
    if not config.skip_training:
        log("training: SB3 and JAX ...")
        rows += measure_training(budget, config.seed)
    log("memory ...")
    rows += measure_memory(budget, config.seed)
    for row in rows:
        if config.quick:
            row.met = None  # too few steps to judge
        elif row.bar.endswith("x") and row.ratio is not None:
            row.met = row.ratio >= float(row.bar.removeprefix(">=").strip().removesuffix("x"))
    return rows


# ------------------------------------------------------------------ output
QUICK_NOTE = "(--quick: step counts too small for real numbers; the bars are not judged)"
COLUMNS = ("measurement", "customer", "reference", "reference value", "ratio", "bar", "met")


def _cells(row: Row) -> tuple[str, ...]:
    def fmt(value: float | None) -> str:
        if value is None or value != value:  # None or NaN
            return "-"
        return f"{value:,.1f} {row.unit}" if row.unit in ("MiB", "s") else f"{value:,.0f}"

    ratio = "-" if row.ratio is None else f"{row.ratio:.2f}x"
    met = "" if row.met is None else ("yes" if row.met else "NO")
    return row.name, fmt(row.value), row.reference, fmt(row.reference_value), ratio, row.bar, met


def format_table(rows: Sequence[Row], quick: bool = False) -> str:
    """The table as plain text (also what the tests read)."""
    cells = [COLUMNS, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(COLUMNS))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if quick:
        lines.append(QUICK_NOTE)
    return "\n".join(lines)


def print_table(rows: Sequence[Row], quick: bool = False, rich_output: bool | None = None) -> None:
    """Print the table: with rich on a terminal (if installed), else as plain text.

    Args:
        rows: the measurements.
        quick: add the note that quick numbers are not judged.
        rich_output: force rich (True) or plain text (False); None decides by ``sys.stdout.isatty()``.
    """
    if rich_output is None:
        rich_output = sys.stdout.isatty()
    try:
        from rich.console import Console  # the cli extra: a table when rich is there
        from rich.table import Table
    except ImportError:
        rich_output = False
    if not rich_output:
        print(format_table(rows, quick))
        return
    table = Table(title="steps per second (best of runs), this machine, one run")
    for column in COLUMNS:
        left = column in ("measurement", "reference", "bar")
        table.add_column(column, justify="left" if left else "right", no_wrap=column != "reference")
    for row in rows:
        table.add_row(*_cells(row))
    console = Console() if sys.stdout.isatty() else Console(width=200)
    console.print(table)
    if quick:
        console.print(QUICK_NOTE)


def to_json(rows: Sequence[Row], config: Config) -> dict[str, Any]:


    return {
        "config": {f.name: getattr(config, f.name) for f in fields(config)},
        "machine": {
            "python": platform.python_version(),
            "numpy": np.__version__,
            "gymnasium": gym.__version__,
            "processor": platform.processor() or platform.machine(),
            "cpus": multiprocessing.cpu_count(),
        },
        "rows": [
            {
                "name": r.name,
                "value": r.value,
                "unit": r.unit,
                "reference": r.reference,
                "reference_value": r.reference_value,
                "ratio": r.ratio,
                "bar": r.bar,
                "met": r.met,
                "runs": r.runs,
                "reference_runs": r.reference_runs,
            }
            for r in rows
        ],
    }


class _Timed:
    """Stand-in for an object whose named methods are timed into ``totals``; other attributes pass through."""

    def __init__(self, target: Any, methods: dict[str, str], totals: dict[str, float]) -> None:
        self._target = target
        for method, stage in methods.items():
            setattr(self, method, _timer(getattr(target, method), stage, totals))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def _timer(fn: Callable[..., Any], stage: str, totals: dict[str, float]) -> Callable[..., Any]:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        totals[stage] += time.perf_counter() - start
        return out

    return timed


STAGES = ("check actions", "uniforms", "draw", "observation", "rest of step")


def profile_stages(n: int, steps: int, seed: int, repeats: int = 3) -> dict[str, float]:
    """Microseconds per step of each stage of the batched env's ``step`` at ``n`` customers (best of repeats).

    The stages are functions of the conversation core (``difficult_customer.envs.core``), timed
    where the step calls them: the action check (``check_moves``), the batch of
    uniforms, the alias draw of successor and tone (``ConversationCore.draw``) and the
    observation lookups
    (``ConversationCore.observe``); "rest of step" is everything else (row ids,
    the unpacking of the drawn outcomes, history, turn, ends). The env steps a private core built for the
    profile. Each timer adds about 0.1 us.
    """

    best = dict.fromkeys(STAGES, float("inf"))
    actions = np.random.default_rng(seed).integers(0, 6, (steps, n))
    check_moves = core_module.check_moves
    for _ in range(repeats):
        totals = dict.fromkeys(STAGES, 0.0)
        env = CustomerVectorEnv(n)
        env.reset(seed=seed)
        core = core_module.build_core(env.tables, env.max_turns)
        object.__setattr__(core, "draw", _timer(core.draw, "draw", totals))
        object.__setattr__(core, "observe", _timer(core.observe, "observation", totals))
        env._core = core
        env.np_random = _Timed(env.np_random, {"random": "uniforms"}, totals)
        core_module.check_moves = _timer(check_moves, "check actions", totals)
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter()
            for row in actions:
                env.step(row)
            total = time.perf_counter() - start
        finally:
            core_module.check_moves = check_moves
            if gc_was_enabled:
                gc.enable()
        totals["rest of step"] = total - sum(totals.values())
        for stage in STAGES:
            best[stage] = min(best[stage], totals[stage] / steps * 1e6)
    return best


def format_profile(n: int, stages: dict[str, float]) -> str:
    total = sum(stages.values())
    lines = [f"batched env, N={n}: microseconds per step by stage", ""]
    for stage, micros in stages.items():
        lines.append(f"  {stage:<16} {micros:9.1f} us  {100 * micros / total:5.1f}%")
    lines.append(f"  {'total':<16} {total:9.1f} us  ({n / total:.2f} M steps/s)")
    return "\n".join(lines)


def profile_step(n: int, steps: int, seed: int, top: int = 12) -> str:
    """A cProfile of the batched env's ``step`` at ``n`` customers, by internal time."""


    env = CustomerVectorEnv(n)
    env.reset(seed=seed)
    actions = np.random.default_rng(seed).integers(0, 6, (steps, n))
    profiler = cProfile.Profile()
    profiler.enable()
    for row in actions:
        env.step(row)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()


def main(config: Config) -> int:
    """Measure and print the table; ``--json PATH`` also writes it. Returns the exit code (2 on bad options)."""
    if config.repeats < 1:
        print(f"error: --repeats={config.repeats}; allowed is an integer >= 1", file=sys.stderr)
        return 2
    if config.profile is not None:
        if config.profile < 1:
            print(f"error: --profile={config.profile}; allowed is a number of customers >= 1", file=sys.stderr)
            return 2
        steps = max(20, (2_000_000 if not config.quick else 20_000) // config.profile)
        print(format_profile(config.profile, profile_stages(config.profile, steps, config.seed)))
        print()
        print(profile_step(config.profile, steps, config.seed))
        return 0
    rows = run_speed(config, log=lambda text: print(text, file=sys.stderr, flush=True))
    print_table(rows, quick=config.quick)
    if config.json:

        atomic_write_json(config.json, to_json(rows, config))
        print(f"written: {config.json}")
    return 0


