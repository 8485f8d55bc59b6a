"""Why a memoryless learner stalls below the best memoryless table: exact evidence.

A learner that reads only the current observation (PPO's MLP) is a memoryless policy, so
its value and every alternative to it can be computed exactly. :func:`disagreements`
compares its deterministic moves with the best memoryless table's
(:func:`~difficult_customer.agents.exact.memoryless_search.search_memoryless`):

- how much of the conversations' probability passes through observations where the two
  choose differently (the *disagreement mass*, in expected turns per conversation);
- for the observations that carry most of that mass, what switching the learner's move to
  the table's at that one observation (everything else unchanged) is worth, exactly;
- how far one exact improvement sweep, and a local search, move the learner's own policy
  (:func:`~difficult_customer.agents.exact.memoryless_search.local_search` with the learner
  as the table's fallback): a small first-sweep gain that the learner never finds is what
  a gradient on a stochastic policy averages away.

:func:`training_dynamics` summarizes what the compiled trainer measured along training
(policy entropy, value error, approximate KL, clipped share), per curve window, so a
plateau can be read against them: an entropy that collapses early, or a value error that
stays high, says why updates stop changing the moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from difficult_customer.agents.base import Policy, PolicyContext
from difficult_customer.agents.exact.memoryless_search import local_search
from difficult_customer.agents.exact.memoryless_value import memoryless_value, reached_table_keys
from difficult_customer.agents.exact.normalize import normalize
from difficult_customer.agents.exact.table_keys import observation_vectors
from difficult_customer.agents.exact.table_policies import TablePolicy, moves_of
from difficult_customer.customer_models.vocabulary import Move, Reaction, Tone
from difficult_customer.envs.observation import decode


@dataclass(frozen=True)
class Disagreement:
    """One observation where the learner's move differs from the best table's."""

    turn: int
    key: int
    mass: float
    """Probability that a conversation shows this observation at this turn (under the learner)."""
    learner_move: str
    table_move: str
    gain: float
    """Exact change of the learner's normalized value when only this observation takes the table's move."""
    observation: str = ""
    """What the agent sees there, in words (:func:`describe`)."""
    table_reaches: bool = True
    """Whether the table itself reaches this observation at this turn (if not, its move there is only its
    fallback's, and the learner got there by moves of its own earlier on)."""


@dataclass(frozen=True)
class StallEvidence:
    """The exact comparison of a memoryless learner with the best memoryless table (normalized values)."""

    learner: float
    table: float
    after_one_sweep: float
    """The learner's policy after one exact improvement sweep."""
    local_optimum: float
    """After improvement sweeps to a local optimum (or ``sweeps`` of them)."""
    sweeps_changed: list[int]
    """Observations changed by each sweep."""
    reached: int
    """(turn, observation) pairs the learner reaches."""
    disagreeing: int
    """Of those, where its move differs from the table's."""
    disagreement_mass: float
    """Expected turns per conversation spent at such observations."""
    shared_disagreement_mass: float
    """Of that, at observations the table reaches too (where the two policies really choose differently)."""
    expected_turns: float
    top: list[Disagreement]
    """The disagreements of most mass, with what fixing each alone is worth."""

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["top"] = [d.__dict__ for d in self.top]
        return out


def describe(observation: np.ndarray) -> str:
    """One partial observation in words: tone, reaction, solved, last move and the moves made so far."""
    seen = decode(observation)
    last = int(seen.last_move)
    made = ", ".join(f"{Move(m).name} x{int(c)}{'+' if c >= 3 else ''}" for m, c in enumerate(seen.counts) if c)
    return (f"tone {Tone(int(seen.tone)).name}, reaction {Reaction(int(seen.reaction)).name}"
            f"{', solved' if seen.solved else ''}, last move {Move(last).name if last >= 0 else 'none'}"
            f"; so far: {made or 'nothing'}")


def disagreements(learner: Policy, table: TablePolicy, context: PolicyContext, top: int = 10,
                  sweeps: int = 30) -> StallEvidence:
    """Exact evidence of where ``learner`` (deterministic, memoryless) loses against ``table``.

    Raises:
        ValueError: for ``top`` < 0 or ``sweeps`` < 1, or a context whose observation is not partial.
    """
    if top < 0 or sweeps < 1:
        raise ValueError(f"top={top}, sweeps={sweeps}; allowed: top >= 0 and sweeps >= 1")
    from difficult_customer.experiments.library.scores import reference_values  # needs scipy (report extra)

    refs = reference_values(context)

    def norm(value: float) -> float:
        return float(normalize(value, refs["random"], refs["oracle"]))

    base = memoryless_value(learner, context).value
    turns, keys, mass = reached_table_keys(learner, context)
    mine = np.concatenate([moves_of(learner, int(t), keys[turns == t], context.max_turns) for t in np.unique(turns)])
    theirs = np.concatenate([table.moves(int(t), keys[turns == t]) for t in np.unique(turns)])
    differ = np.flatnonzero(mine != theirs)
    t_turns, t_keys, _ = reached_table_keys(table, context)
    table_reached = set(zip(t_turns.tolist(), t_keys.tolist(), strict=True))
    shared = np.array([(int(turns[i]), int(keys[i])) in table_reached for i in range(turns.shape[0])], dtype=bool)
    order = differ[np.argsort(-mass[differ], kind="stable")][:top]
    found = []
    for i in order:
        fixed = TablePolicy(context.max_turns, None, learner, name="learner with one move fixed")
        fixed.set(int(turns[i]), keys[i : i + 1], theirs[i : i + 1])
        gain = norm(memoryless_value(fixed, context).value) - norm(base)
        vector = observation_vectors(int(turns[i]), keys[i : i + 1], context.max_turns)[0]
        found.append(Disagreement(int(turns[i]), int(keys[i]), float(mass[i]), Move(int(mine[i])).name,
                                  Move(int(theirs[i])).name, gain, describe(vector), bool(shared[i])))
    improved = TablePolicy(context.max_turns, None, learner, name="learner, improved")
    values, changed, _ = local_search(improved, context, max_sweeps=sweeps)
    return StallEvidence(
        learner=norm(base), table=norm(memoryless_value(table, context).value),
        after_one_sweep=norm(values[1] if len(values) > 1 else values[0]), local_optimum=norm(values[-1]),
        sweeps_changed=list(changed), reached=int(turns.shape[0]), disagreeing=int(differ.shape[0]),
        disagreement_mass=float(mass[differ].sum()), shared_disagreement_mass=float(mass[differ][shared[differ]].sum()),
        expected_turns=float(mass.sum()), top=found)


def training_dynamics(metrics: Any, updates_per_point: int, batch: int) -> list[dict[str, float]]:
    """Per curve window: steps, and the mean over seeds and the window's updates of each training metric.

    ``metrics`` is a :class:`~difficult_customer.experiments.library.jax_ppo.Metrics` of numpy
    arrays ``(seeds, updates)`` (a ``JaxTrainResult.metrics``).
    """
    if updates_per_point < 1:
        raise ValueError(f"updates_per_point={updates_per_point}; allowed is an integer >= 1")
    n = np.asarray(metrics.entropy).shape[1]
    out = []
    for start in range(0, n, updates_per_point):
        end = min(start + updates_per_point, n)
        row = {"steps": float(end * batch)}
        for name in ("entropy", "value_loss", "approx_kl", "clip_fraction"):
            row[name] = float(np.asarray(getattr(metrics, name))[:, start:end].mean())
        out.append(row)
    return out


__all__ = ["Disagreement", "StallEvidence", "describe", "disagreements", "training_dynamics"]
