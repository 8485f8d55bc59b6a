"""The search for the best memoryless policy: exact policy-improvement sweeps from several starts.

A deterministic memoryless policy is a table from (turn, table key) to move
(:class:`~agents.exact.table_policies.TablePolicy`). :func:`improve` is one exact
improvement sweep over every key the table reaches, :func:`local_search` repeats it to a
local optimum, and :func:`search_memoryless` runs it from several starts (registered
policies, random move sequences, random kicks of the best table). The value returned is
the exact value of the table returned (:func:`~agents.exact.memoryless_value.memoryless_value`),
so a certified *lower* bound on the memoryless optimum; the certified bracket's upper
bound (:func:`~agents.exact.bracket.certified_bracket`) bounds it from above.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from difficult_customer.agents.base import Policy, PolicyContext
from difficult_customer.agents.exact.memoryless_value import (
    TableModel,
    memoryless_value,
    merge_pairs,
    reached_table_keys,
)
from difficult_customer.agents.exact.table_keys import seed_order
from difficult_customer.agents.exact.table_policies import SequencePolicy, TablePolicy
from difficult_customer.agents.registry import make, names
from difficult_customer.customer_models.vocabulary import N_MOVES


@dataclass
class _Layer:
    """One turn of the improvement sweep: the pairs whose value is needed."""

    keys: np.ndarray
    states: np.ndarray
    prob: np.ndarray
    """Probability under the current policy (0 for pairs reached only by a deviation)."""
    move: np.ndarray
    """The current policy's move at each pair's observation."""
    open_rows: np.ndarray
    """Pairs whose observation the current policy reaches: every move is expanded there."""
    expansions: list[tuple[np.ndarray, ...]] = field(default_factory=list)
    """Per move (then the current move at the other pairs): rows, moves and their successors."""
    child_rows: list[np.ndarray] = field(default_factory=list)
    """Per expansion, the row of the next layer each continuing successor merged into."""


class TooLarge(ValueError):
    """An improvement sweep would need more successor entries than allowed."""


DEFAULT_MAX_CHILDREN = 60_000_000
"""Successor entries one sweep may hold (about 16 bytes each)."""


def improve(
    policy: TablePolicy, context: PolicyContext, max_children: int | None = DEFAULT_MAX_CHILDREN
) -> tuple[float, float, int]:
    """One exact policy-improvement sweep over every observation the policy reaches.

    Forward, the pairs the current policy reaches (with their probabilities) and every
    pair one changed move at a reached observation can lead to (followed by the current
    policy) are enumerated. Backward from the last turn, each reached observation gets
    the move with the highest exact expected return given the distribution of hidden
    states behind it and the (already improved) policy for the later turns; its old move
    is kept unless another is better by more than 1e-12. The moves at turn ``t`` do not
    change the distribution at turn ``t``, so the sweep never lowers the value.

    Args:
        policy: changed in place.
        context: the environment.
        max_children: most successor entries held at once (None: no limit).

    Returns:
        ``(value before, value after, observations changed)``; both values are exact.

    Raises:
        TooLarge: (a ValueError) if the sweep needs more than ``max_children`` entries;
            the policy is then unchanged.
    """
    model = TableModel(context.tables, context.max_turns)
    n_states = model.n_states
    layers: list[_Layer] = []
    held = 0
    keys, states, prob = model.openings()
    for turn in range(model.max_turns):
        distinct, which = np.unique(keys, return_inverse=True)
        move = policy.moves(turn, distinct)[which]
        reached_obs = np.zeros(distinct.shape[0], dtype=bool)
        reached_obs[which[prob > 0]] = True
        open_rows = np.flatnonzero(reached_obs[which])
        layer = _Layer(keys, states, prob, move, open_rows)
        layers.append(layer)
        if turn + 1 == model.max_turns:
            break
        # Every move at open pairs, the current move elsewhere.
        children_key, children_state, children_prob = [], [], []
        closed = np.flatnonzero(~reached_obs[which])
        for a in range(N_MOVES + 1):
            rows = closed if a == N_MOVES else open_rows
            moves = move[rows] if a == N_MOVES else np.full(rows.shape[0], a)
            parent, p, reward, c_parent, c_key, c_state, c_weight = model.successors(keys[rows], states[rows], moves)
            held += c_key.shape[0]
            if max_children is not None and held > max_children:
                raise TooLarge(f"the sweep needs more than max_children={max_children} successor entries")
            layer.expansions.append((rows, moves, parent, p, reward, c_parent.astype(np.int32), c_weight))
            children_key.append(c_key)
            children_state.append(c_state)
            current = moves == move[rows]
            children_prob.append(np.where(current[c_parent], prob[rows][c_parent] * c_weight, 0.0))
        keys, states, prob, inverse = merge_pairs(
            np.concatenate(children_key), np.concatenate(children_state), np.concatenate(children_prob), n_states
        )
        layer.child_rows = np.split(inverse.astype(np.int32), np.cumsum([c.shape[0] for c in children_key])[:-1])
    # Backward: values of the needed pairs under the improved later policy.
    before = 0.0
    later = np.zeros(0)
    changed = 0
    for turn in range(len(layers) - 1, -1, -1):
        layer = layers[turn]
        n = layer.keys.shape[0]
        q = np.full((n, N_MOVES), -np.inf)
        if not layer.expansions:  # last turn: only the immediate reward counts
            for a in range(N_MOVES):
                parent, entry = model.ix.expand(layer.states, a)
                q[:, a] = np.bincount(parent, model.ix.prob[entry] * model.ix.reward[entry], minlength=n)
        else:
            for (rows, moves, parent, p, reward, c_parent, c_weight), child in zip(
                layer.expansions, layer.child_rows, strict=True
            ):
                child_value = later[child]
                value = np.bincount(parent, p * reward, minlength=rows.shape[0]) + np.bincount(
                    c_parent, c_weight * child_value, minlength=rows.shape[0]
                )
                q[rows, moves] = value
        before += float(layer.prob @ _immediate(model, layer))
        # Choose at each reached observation.
        distinct, which = np.unique(layer.keys, return_inverse=True)
        open_obs = np.zeros(distinct.shape[0], dtype=bool)
        open_obs[which[layer.open_rows]] = True
        rows = layer.open_rows
        score = np.zeros((distinct.shape[0], N_MOVES))
        np.add.at(score, which[rows], layer.prob[rows, None] * q[rows])
        current = np.zeros(distinct.shape[0], dtype=np.int64)
        current[which] = layer.move
        index = np.arange(distinct.shape[0])
        better = open_obs & (score[index, score.argmax(-1)] > score[index, current] + 1e-12)
        new_move = np.where(better, score.argmax(-1), current)
        if better.any():
            policy.set(turn, distinct[better], new_move[better])
            changed += int(better.sum())
        later = q[np.arange(n), new_move[which]]
    return before, float(layers[0].prob @ later), changed


def _immediate(model: TableModel, layer: _Layer) -> np.ndarray:
    """Expected immediate reward of each pair of a layer under its current move."""
    parent, entry = model.ix.expand(layer.states, layer.move)
    return np.bincount(parent, model.ix.prob[entry] * model.ix.reward[entry], minlength=layer.keys.shape[0])


@dataclass(frozen=True)
class SearchRun:
    """One start of the search: its exact value after each sweep."""

    start: str
    values: tuple[float, ...]
    """Exact value of the start, then after each sweep (never decreasing)."""
    changed: tuple[int, ...]
    """Observations whose move changed in each sweep."""
    seconds: float
    cpu_seconds: float
    stopped: str = ""
    """Why the run ended early ("" if it reached a local optimum or its sweep limit)."""


@dataclass(frozen=True)
class MemorylessSearch:
    """The best memoryless policy found, with its exact value.

    Attributes:
        policy: the best table found (its fallback covers observations never reached).
        value: its exact value (recomputed from scratch by :func:`memoryless_value`): a
            certified lower bound on the best memoryless policy.
        start: which start it came from.
        runs: every start, in order.
        seconds: wall time of the whole search.
        cpu_seconds: its processor time (the wall time on an idle core).
    """

    policy: TablePolicy
    value: float
    start: str
    runs: tuple[SearchRun, ...]
    seconds: float
    cpu_seconds: float


def local_search(
    policy: TablePolicy,
    context: PolicyContext,
    max_sweeps: int = 30,
    tolerance: float = 1e-9,
    max_children: int | None = None,
) -> tuple[list[float], list[int], str]:
    """Improvement sweeps (:func:`improve`) until none changes the value by more than ``tolerance``.

    Returns:
        The exact values (start, then after each sweep), the moves changed per sweep,
        and why it stopped early ("" at a local optimum or after ``max_sweeps``). A sweep
        too large for ``max_children`` leaves the policy as the previous sweep left it.
    """
    values: list[float] = []
    changed: list[int] = []
    for _ in range(max_sweeps):
        try:
            before, after, n = improve(policy, context, max_children)
        except TooLarge as error:
            if not values:
                values.append(memoryless_value(policy, context).value)
            return values, changed, str(error)
        if not values:
            values.append(before)
        values.append(after)
        changed.append(n)
        if n == 0 or after - before <= tolerance:
            break
    return values, changed, ""


def search_memoryless(
    context: PolicyContext,
    starts: Sequence[str | Policy] = ("tone_reader", "guide_000", "best_fixed_sequence"),
    random_starts: int = 2,
    kicks: int = 0,
    kick_size: int = 8,
    seed: int = 0,
    max_sweeps: int = 30,
    max_children: int = DEFAULT_MAX_CHILDREN,
    progress: Callable[[SearchRun], None] | None = None,
) -> MemorylessSearch:
    """Search deterministic memoryless policies for the best; exact values throughout.

    From each start (a registered memoryless policy by name, a policy object, and
    ``random_starts`` seeded random move sequences, :class:`SequencePolicy`), exact improvement
    sweeps run to a local optimum: no single reached observation can change its move
    for the better. Then ``kicks`` times, ``kick_size`` observations the best table
    reaches (drawn with their probability) get another random move and the sweeps run
    again; a kicked
    table that ends higher replaces the best. Everything is seeded by ``seed``. A start
    whose sweep would hold more than ``max_children`` successor entries (memory) stops
    there, keeping the value it reached (see :class:`SearchRun`). ``progress`` is called
    with each run as it ends.

    Returns:
        The best policy with its exact value (a lower bound on the memoryless optimum).

    Raises:
        ValueError: for a non-partial context, an unknown start name, negative counts,
            or a kick size < 1.
    """
    if context.observation != "partial":
        raise ValueError(f"observation={context.observation!r}; the search needs 'partial'")
    for name, value in (("random_starts", random_starts), ("kicks", kicks), ("max_sweeps", max_sweeps)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise ValueError(f"{name}={value!r}; allowed is an integer >= 0")
    if isinstance(kick_size, bool) or not isinstance(kick_size, (int, np.integer)) or kick_size < 1:
        raise ValueError(f"kick_size={kick_size!r}; allowed is an integer >= 1")
    begin, begin_cpu = time.perf_counter(), time.process_time()
    candidates: list[tuple[str, Policy | int]] = []
    for item in starts:
        if isinstance(item, str):
            if item not in names():
                raise ValueError(f"start {item!r} is not a registered policy; allowed: {', '.join(names())}")
            candidates.append((item, make(item, context)))
        else:
            candidates.append((getattr(item, "name", type(item).__name__), item))
    for i in range(int(random_starts)):
        sequence = SequencePolicy.random(context.max_turns, seed + i)
        candidates.append((sequence.name, sequence))
    runs: list[SearchRun] = []
    best: TablePolicy | None = None
    best_value, best_start = -np.inf, ""
    for name, fallback in candidates:
        start, cpu = time.perf_counter(), time.process_time()
        table = TablePolicy(context.max_turns, None, fallback, name=f"search from {name}")
        values, changed, stopped = local_search(table, context, max_sweeps, max_children=max_children)
        runs.append(
            SearchRun(
                name, tuple(values), tuple(changed), time.perf_counter() - start, time.process_time() - cpu, stopped
            )
        )
        if progress is not None:
            progress(runs[-1])
        if values[-1] > best_value:
            best, best_value, best_start = table, values[-1], name
    rng = np.random.default_rng(seed)
    for k in range(int(kicks)):
        if best is None:
            break
        start, cpu = time.perf_counter(), time.process_time()
        kicked = best.copy(name=f"{best.name}, kick {k + 1}")
        turns, keys, mass = reached_table_keys(best, context)
        order = np.lexsort((seed_order(keys), turns))  # in seed order: a seed keeps its search
        turns, keys, mass = turns[order], keys[order], mass[order]
        pick = rng.choice(keys.shape[0], size=min(int(kick_size), keys.shape[0]), replace=False, p=mass / mass.sum())
        for i in pick:
            old = int(kicked.moves(int(turns[i]), keys[i : i + 1])[0])
            kicked.set(int(turns[i]), keys[i : i + 1], np.array([(old + rng.integers(1, N_MOVES)) % N_MOVES]))
        values, changed, stopped = local_search(kicked, context, max_sweeps, max_children=max_children)
        runs.append(
            SearchRun(
                f"kick {k + 1}",
                tuple(values),
                tuple(changed),
                time.perf_counter() - start,
                time.process_time() - cpu,
                stopped,
            )
        )
        if progress is not None:
            progress(runs[-1])
        if values[-1] > best_value:
            best, best_value, best_start = kicked, values[-1], f"{best_start} + kick {k + 1}"
    if best is None:
        raise ValueError("no start to search from; give starts or random_starts >= 1")
    exact = memoryless_value(best, context).value
    return MemorylessSearch(
        best, exact, best_start, tuple(runs), time.perf_counter() - begin, time.process_time() - begin_cpu
    )


__all__ = [
    "DEFAULT_MAX_CHILDREN",
    "MemorylessSearch",
    "SearchRun",
    "TooLarge",
    "improve",
    "local_search",
    "search_memoryless",
]
