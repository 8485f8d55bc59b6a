"""Shared helpers for the customer-model and environment tests.

The helpers read compiled :class:`~customer_models.Tables` only: a claim test picks one
hidden state with :func:`start_state`, asks for the successors of one move with
:func:`outcomes` and compares expectations (:func:`expect`) or chances (:func:`chance`)
of the next state's factors.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from difficult_customer.customer_models import (
    Abuse,
    Move,
    Outcome,
    Reaction,
    State,
    Tables,
    compile_model,
)

Outcomes = list[tuple[float, State, Reaction]]


def start_state(tables: Tables, persona: int = 0, **changes: int) -> State:
    """The starting hidden state of mixture member ``persona``, with ``changes`` applied.

    Factors left out keep their starting values (ongoing, no apologies, not heard, not
    solved, the persona's trust and patience, not abusive unless the persona starts so).
    """
    p = tables.mixture.personas[persona]
    base = State(
        persona=persona,
        status=Outcome.ongoing,
        anger=int(np.argmax(p.initial_anger)),
        trust=p.initial_trust,
        heard=0,
        apologies=0,
        solved=0,
        abuse=Abuse.abusive if p.initial_abusive == 1.0 else Abuse.none,
        patience=p.patience,
    )
    return base._replace(**changes)


def find_state(tables: Tables, **factors: int) -> State:
    """The first reachable ongoing hidden state (breadth-first order) with the given factors.

    For setups where factors that do not matter to the test (trust, patience, ...) may
    take whatever value the path to the state left them with.
    """
    factors.setdefault("status", Outcome.ongoing)
    match = np.ones(tables.n_states, dtype=bool)
    for name, value in factors.items():
        match &= tables.factor(name) == value
    hits = np.flatnonzero(match)
    if not hits.size:
        raise KeyError(f"no reachable state with {factors} in {tables.mixture.name} (ablate {set(tables.ablate)})")
    return tables.state(int(hits[0]))


def outcomes(tables: Tables, state: State, move: Move) -> Outcomes:
    """Successors of ``(state, move)`` with probability > 0, read from the tables.

    Raises:
        KeyError: if ``state`` is not reachable in ``tables`` (a test setup error).
    """
    s = tables.index(state)
    out = []
    for k in range(tables.next_state.shape[-1]):
        prob = float(tables.next_prob[s, move, k])
        if prob > 0.0:
            nxt = tables.state(int(tables.next_state[s, move, k]))
            out.append((prob, nxt, Reaction(int(tables.next_reaction[s, move, k]))))
    return out


def expect(tables: Tables, state: State, move: Move, factor: str) -> float:
    """Expected value of hidden factor ``factor`` after ``move`` in ``state``."""
    return sum(prob * getattr(nxt, factor) for prob, nxt, _ in outcomes(tables, state, move))


def chance(tables: Tables, state: State, move: Move, event: Callable[[State, Reaction], bool]) -> float:
    """Probability that ``event(next_state, reaction)`` holds after ``move`` in ``state``."""
    return sum(prob for prob, nxt, reaction in outcomes(tables, state, move) if event(nxt, reaction))


def conditional(
    tables: Tables,
    state: State,
    move: Move,
    event: Callable[[State, Reaction], bool],
    given: Callable[[State, Reaction], bool],
) -> float:
    """P(event | given) after ``move`` in ``state``; ``given`` must have positive chance."""
    both = chance(tables, state, move, lambda n, r: event(n, r) and given(n, r))
    base = chance(tables, state, move, given)
    assert base > 0, f"conditioning event has probability 0 after {move.name} in {state}"
    return both / base


def distribution(tables: Tables, state: State, move: Move, key: Callable[[State, Reaction], object]) -> dict:
    """Distribution of ``key(next_state, reaction)`` after ``move`` in ``state``, as a dict."""
    dist: dict = {}
    for prob, nxt, reaction in outcomes(tables, state, move):
        k = key(nxt, reaction)
        dist[k] = dist.get(k, 0.0) + prob
    return dist


def same_distribution(a: dict, b: dict, atol: float = 1e-12) -> bool:
    """Whether two distributions given as dicts are equal up to ``atol``."""
    keys = set(a) | set(b)
    return all(abs(a.get(k, 0.0) - b.get(k, 0.0)) <= atol for k in keys)


def run_episode(env, actions, seed: int | None = None) -> list[tuple]:
    """Reset and play ``actions`` (an iterable, or a callable ``obs -> action``) to the end.

    Returns every ``(obs, reward, terminated, truncated, info)``; the reset is the first
    entry with reward None.
    """
    obs, info = env.reset(seed=seed)
    steps = [(obs, None, False, False, info)]
    choose = actions if callable(actions) else iter(actions).__next__
    done = False
    while not done:
        action = choose(obs) if callable(actions) else choose()
        obs, reward, terminated, truncated, info = env.step(action)
        steps.append((obs, reward, terminated, truncated, info))
        done = terminated or truncated
    return steps


@pytest.fixture(scope="session")
def genuine() -> Tables:
    return compile_model("genuine_grievance")


@pytest.fixture(scope="session")
def difficult() -> Tables:
    return compile_model("naturally_difficult")


@pytest.fixture(scope="session")
def belligerent() -> Tables:
    return compile_model("belligerent")


@pytest.fixture(scope="session")
def mixture() -> Tables:
    return compile_model("mixture")


@pytest.fixture(scope="module")
def shared_ray() -> Iterator[None]:
    """One embedded Ray for the trainings of a test module (nothing without Ray: they then run in this process).

    The sweep engine uses a Ray that is already up (``engine.ray_session``) instead of starting
    and stopping one for each call, and its worker processes, with SB3 imported, are reused.
    Two CPUs, so the runs of a budget train side by side (each is seeded: the same results).
    """
    if importlib.util.find_spec("ray") is None:
        yield
        return
    import ray

    if ray.is_initialized():
        yield
        return
    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        yield
    finally:
        ray.shutdown()
