"""Compile a customer model into explicit tables, which the layers above read.

:func:`compile_model` enumerates the hidden states reachable from the start, asks
:func:`~customer_models.dynamics.step_outcomes` for every (state, move), and stores the
result as arrays that the environments sample from, the exact solvers compute on and the
tests check claims on. Successors are sparse: ``K`` slots per (state, move), padded with
probability 0.

Compiled tables are cached per (mixture, ablation, rewards), so building many
environments of one model costs one compilation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from difficult_customer.customer_models.dynamics import State, step_outcomes, tone_distribution
from difficult_customer.customer_models.personas import Mixture, Persona, resolve_persona
from difficult_customer.customer_models.personas import effective_persona as _effective
from difficult_customer.customer_models.rewards import REWARD_TERMS, Rewards, reward_terms
from difficult_customer.customer_models.switches import check_switches, check_variant, closure
from difficult_customer.customer_models.vocabulary import FACTORS, Abuse, Move, Outcome, Reaction

_ATOL = 1e-9


@dataclass(frozen=True, eq=False)
class Tables:
    """A compiled customer model. Arrays are read-only.

    ``S`` states, ``A`` = 6 moves, ``K`` successor slots, ``T`` = 4 tones.
    """

    mixture: Mixture
    """The population, with the weights the tables were compiled with (equal when A17 is off)."""
    ablate: frozenset[str]
    """Switches off: ``ablate``, the variant's and the mixture's own (claims, assumptions, D1)."""
    rewards: Rewards
    initial: np.ndarray
    """(S,) float64: start distribution for the mixture; sums to 1."""
    initial_by_persona: np.ndarray
    """(P, S) float64: start distribution given each persona."""
    next_state: np.ndarray
    """(S, A, K) int32: possible successors; padding slots point at the state itself."""
    next_prob: np.ndarray
    """(S, A, K) float64: their probabilities; every [s, a] row sums to 1."""
    next_reaction: np.ndarray
    """(S, A, K) int8: the :class:`Reaction` shown with each successor."""
    reward: np.ndarray
    """(S, A, K) float64: reward of each transition (0 from terminal states)."""
    reward_terms: np.ndarray
    """(S, A, K, R) float32: unweighted reward terms, in the order of ``REWARD_TERMS``."""
    tone_prob: np.ndarray
    """(S, T) float64: chance of each tone the customer shows in a state."""
    opening_reaction: np.ndarray
    """(S,) int8: reaction shown at reset (complains, or insults when abusive)."""
    terminal: np.ndarray
    """(S,) bool: the conversation is over (status is not ongoing)."""
    factors: np.ndarray
    """(S, F) int8: hidden-state factor values, columns in the order of ``FACTORS``."""

    derived: dict[str, Any] = field(default_factory=dict, init=False, repr=False)
    """What solvers, samplers and the conversation core computed from these tables, cached by name.

    The caches live and die with the tables. A module-level ``WeakKeyDictionary`` keyed by the
    tables would not: its values refer back to their key, so no entry was ever freed, and a
    study compiling hundreds of models ran out of memory."""

    def __repr__(self) -> str:
        return (f"Tables(mixture={self.mixture.name!r}, ablate={sorted(self.ablate)}, states={self.n_states}, "
                f"successors={self.next_state.shape[-1]})")

    @property
    def n_states(self) -> int:
        return int(self.factors.shape[0])

    @property
    def persona_names(self) -> tuple[str, ...]:
        return self.mixture.persona_names

    def factor(self, name: str) -> np.ndarray:
        """Column ``name`` of :attr:`factors`, shape (S,)."""
        return self.factors[:, FACTORS.index(name)]

    def index(self, state: State | Iterable[int]) -> int:
        """The state index of a hidden state given factor by factor.

        Raises:
            KeyError: if the state is not reachable in this model.
        """
        lookup = self.__dict__.get("_lookup")
        if lookup is None:
            lookup = {tuple(int(v) for v in row): i for i, row in enumerate(self.factors)}
            object.__setattr__(self, "_lookup", lookup)
        return lookup[tuple(int(v) for v in state)]

    def state(self, index: int) -> State:
        """The hidden state at ``index`` as a named tuple."""
        return State(*(int(v) for v in self.factors[index]))

    def hidden_state(self, index: int) -> dict[str, int | str]:
        """The hidden state as named fields, for ``info`` and transcripts."""
        s = self.state(index)
        named: dict[str, int | str] = s._asdict()
        named["persona"] = self.persona_names[s.persona]
        named["status"] = Outcome(s.status).name
        named["abuse"] = Abuse(s.abuse).name
        return named


def check_ablate(ablate: Iterable[str] | None) -> frozenset[str]:
    """Validate switch ids to turn off: claims ``C1``-``C10``, assumptions ``A1``-``A17``, ``D1``.

    Raises:
        ValueError: naming an unknown id and listing the allowed ones.
    """
    return check_switches(ablate)


def effective_persona(persona: Persona, ablate: frozenset[str]) -> Persona:
    """The persona as the compiler uses it: every switched-off parameter at its off value."""
    return _effective(persona, closure(frozenset(ablate)))


def _initial_states(index: int, persona: Persona) -> list[tuple[float, State]]:
    out = []
    abuse_split = [(1.0 - persona.initial_abusive, Abuse.none), (persona.initial_abusive, Abuse.abusive)]
    for anger, p_anger in enumerate(persona.initial_anger):
        for p_abuse, abuse in abuse_split:
            prob = p_anger * p_abuse
            if prob > 0.0:
                state = State(
                    persona=index,
                    status=Outcome.ongoing,
                    anger=anger,
                    trust=persona.initial_trust,
                    heard=0,
                    apologies=0,
                    solved=0,
                    abuse=abuse,
                    patience=persona.patience,
                )
                out.append((prob, state))
    return out


def compile_model(
    persona: str | Persona | Mixture = "mixture",
    ablate: Iterable[str] | None = None,
    rewards: Rewards | Mapping[str, float] | None = None,
    variant: str | None = None,
) -> Tables:
    """Compile a persona (or mixture) under switches into :class:`Tables`.

    Args:
        persona: a persona or mixture name (``"guide_only"`` is the default mixture with
            every assumption off), or object.
        ablate: switch ids to turn off: claims ``"C1"`` ... ``"C10"``, assumptions
            ``"A1"`` ... ``"A17"``, the contested reading ``"D1"``
            (:data:`~customer_models.switches.SWITCHES`).
        rewards: reward weights; the defaults of :class:`Rewards` if None.
        variant: ``"default"`` or ``"guide_only"`` (every assumption off), added to ``ablate``.

    Returns:
        The compiled, validated tables (cached: equal arguments give the same object).

    Raises:
        ValueError: for an unknown persona, switch id or variant, or invalid tables.
    """
    mixture = resolve_persona(persona)
    off = check_ablate(ablate) | check_variant(variant) | mixture.ablate
    if rewards is None:
        rewards = Rewards()
    elif isinstance(rewards, Mapping):
        rewards = Rewards.from_mapping(dict(rewards))
    elif not isinstance(rewards, Rewards):
        raise ValueError(f"rewards={rewards!r}; allowed: None, a Rewards, or a mapping of term name -> weight")
    return _compile(mixture, off, rewards)


def clear_compiled() -> None:
    """Forget every compiled model, so its tables (and what solvers cached on them) can be freed.

    Compiling caches the last 32 models; a study that compiles hundreds of sampled models
    once each calls this after each one to keep its memory flat.
    """
    _compile.cache_clear()


@functools.lru_cache(maxsize=32)
def _compile(mixture: Mixture, ablate: frozenset[str], rewards: Rewards) -> Tables:
    personas = [effective_persona(p, ablate) for p in mixture.personas]
    closed = closure(ablate)
    index: dict[State, int] = {}
    order: list[State] = []

    def visit(state: State) -> int:
        i = index.get(state)
        if i is None:
            i = index[state] = len(order)
            order.append(state)
        return i

    starts = []
    for pi, persona in enumerate(personas):
        for prob, state in _initial_states(pi, persona):
            starts.append((pi, prob, visit(state)))

    successors: list[list[dict[tuple[int, int], float]]] = []
    cursor = 0
    while cursor < len(order):  # breadth-first over reachable states
        state = order[cursor]
        cursor += 1
        rows = []
        for move in Move:
            merged: dict[tuple[int, int], float] = {}
            if state.status == Outcome.ongoing:
                for prob, nxt, reaction in step_outcomes(personas[state.persona], state, move, closed):
                    if prob <= 0.0:  # underflow: not a possible successor
                        continue
                    key = (visit(nxt), int(reaction))
                    merged[key] = merged.get(key, 0.0) + prob
            else:
                merged[(cursor - 1, int(Reaction.unmoved))] = 1.0
            rows.append(merged)
        successors.append(rows)

    n_states = len(order)
    n_moves = len(Move)
    width = max(len(row) for rows in successors for row in rows)
    next_state = np.repeat(np.arange(n_states, dtype=np.int32)[:, None, None], n_moves, 1).repeat(width, 2)
    next_prob = np.zeros((n_states, n_moves, width))
    next_reaction = np.full((n_states, n_moves, width), int(Reaction.unmoved), dtype=np.int8)
    for s, rows in enumerate(successors):
        for a, merged in enumerate(rows):
            for k, ((nxt, reaction), prob) in enumerate(sorted(merged.items())):
                next_state[s, a, k] = nxt
                next_prob[s, a, k] = prob
                next_reaction[s, a, k] = reaction

    factors = np.array(order, dtype=np.int8)
    terminal = factors[:, FACTORS.index("status")] != Outcome.ongoing
    # Reward terms on the real successor slots of live states only (the rest stay 0): most
    # of the (S, A, K) grid is padding, and computing terms there costs most of a compile.
    live = (next_prob > 0) & ~terminal[:, None, None]
    s_idx = np.nonzero(live)[0]
    terms = np.zeros((*next_prob.shape, len(REWARD_TERMS)), dtype=np.float32)
    slot_terms = reward_terms(factors[s_idx], factors[next_state[live]])
    terms[live] = slot_terms
    reward = np.zeros(next_prob.shape)
    reward[live] = slot_terms @ rewards.vector()

    tone_prob = np.array([tone_distribution(personas[st.persona], st) for st in order])
    abusive = factors[:, FACTORS.index("abuse")] == Abuse.abusive
    opening = np.where(abusive, int(Reaction.insults), int(Reaction.complains)).astype(np.int8)

    initial_by_persona = np.zeros((len(personas), n_states))
    for pi, prob, s in starts:
        initial_by_persona[pi, s] += prob
    weights = mixture.effective_weights(closed)
    if weights != mixture.weights:  # A17 off: the tables carry the weights they were compiled with
        mixture = replace(mixture, weights=weights)
    initial = np.asarray(weights) @ initial_by_persona

    tables = Tables(
        mixture=mixture,
        ablate=ablate,
        rewards=rewards,
        initial=initial,
        initial_by_persona=initial_by_persona,
        next_state=next_state,
        next_prob=next_prob,
        next_reaction=next_reaction,
        reward=reward,
        reward_terms=terms,
        tone_prob=tone_prob,
        opening_reaction=opening,
        terminal=terminal,
        factors=factors,
    )
    validate_tables(tables)
    for f in fields(Tables):
        value = getattr(tables, f.name)
        if isinstance(value, np.ndarray):
            value.setflags(write=False)
    return tables


def validate_tables(t: Tables) -> None:
    """Check that the tables describe a valid model.

    Every probability is in [0, 1], every distribution sums to 1, every state is
    reachable from the start (true by construction, checked anyway) and every
    non-terminal state can reach a terminal one or the turn limit.

    Raises:
        ValueError: naming the first violation.
    """
    for name in ("initial", "next_prob", "tone_prob", "initial_by_persona"):
        arr = getattr(t, name)
        if not np.all(np.isfinite(arr)) or arr.min() < -_ATOL or arr.max() > 1 + _ATOL:
            raise ValueError(f"{name}: probabilities outside [0, 1] (min {arr.min()}, max {arr.max()})")
    if not np.isclose(t.initial.sum(), 1.0):
        raise ValueError(f"initial sums to {t.initial.sum()}, not 1")
    bad = np.argwhere(~np.isclose(t.next_prob.sum(-1), 1.0))
    if bad.size:
        s, a = bad[0]
        raise ValueError(
            f"next_prob[{s}, {Move(a).name}] sums to {t.next_prob[s, a].sum()}, not 1 (state {t.state(s)})"
        )
    bad = np.flatnonzero(~np.isclose(t.tone_prob.sum(-1), 1.0))
    if bad.size:
        raise ValueError(f"tone_prob[{bad[0]}] sums to {t.tone_prob[bad[0]].sum()}, not 1")
    reached = np.zeros(t.n_states, dtype=bool)
    frontier = np.flatnonzero(t.initial > 0)
    reached[frontier] = True
    while frontier.size:
        nxt = t.next_state[frontier][t.next_prob[frontier] > 0]
        nxt = np.unique(nxt[~reached[nxt]])
        reached[nxt] = True
        frontier = nxt
    if not reached.all():
        raise ValueError(f"{int((~reached).sum())} states are unreachable, e.g. {t.state(int(np.argmin(reached)))}")


__all__ = ["REWARD_TERMS", "Tables", "check_ablate", "compile_model", "effective_persona", "validate_tables"]
