"""An exact Bayes filter over the customer's hidden state, persona included.

After move ``a`` the agent sees the customer's reaction ``r``, tone ``t`` and the solved
flag ``σ``. The filter keeps the posterior over hidden states given everything seen::

    b'(s') ∝ Σ_s b(s) Σ_k P(k | s, a) [next_state = s', next_reaction = r]
             · tone_prob[s', t] · [solved(s') = σ]

and at reset ``b0(s) ∝ initial(s) · [opening_reaction(s) = r0] · tone_prob[s, t0]``.
What else the agent sees (turn, its own last move and move counts) carries no
information about the customer beyond the moves themselves.

Beliefs are sparse: a conversation's belief puts weight on a few hundred of the ~7000
states of the mixture. :class:`SparseBeliefs` holds a batch of them as flat
(row, state, weight) arrays, so one filter step for thousands of conversations is a
handful of vectorized numpy operations. :class:`Belief` is one conversation's belief,
with the summaries used for analysis (belief over persona, expected anger and trust).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from difficult_customer.agents.exact.model import TransitionIndex, transition_index
from difficult_customer.customer_models import FACTORS, Move, Reaction, Tables, Tone
from difficult_customer.envs.core import observation_code, opening_distribution
from difficult_customer.envs.observation import decode


class SparseBeliefs(NamedTuple):
    """A batch of (possibly unnormalized) distributions over hidden states.

    Entry ``i`` gives weight ``weight[i]`` to state ``state[i]`` in batch row ``row[i]``.
    Entries are sorted by row, then state, and each (row, state) appears once.
    """

    row: np.ndarray
    """(E,) int64 batch row."""
    state: np.ndarray
    """(E,) int64 state index."""
    weight: np.ndarray
    """(E,) float64 weight."""
    n_rows: int

    def totals(self) -> np.ndarray:
        """(n_rows,) total weight of each row."""
        return np.bincount(self.row, self.weight, minlength=self.n_rows)

    def normalized(self) -> SparseBeliefs:
        """Each row scaled to sum to 1 (rows of total 0 stay empty)."""
        total = self.totals()
        return self._replace(weight=self.weight / total[self.row])

    def select(self, rows: np.ndarray) -> SparseBeliefs:
        """A new batch made of ``rows`` of this one, in that order (rows may repeat)."""
        rows = np.asarray(rows, dtype=np.int64)
        starts = np.searchsorted(self.row, rows, side="left")
        ends = np.searchsorted(self.row, rows, side="right")
        lengths = ends - starts
        new_row = np.repeat(np.arange(rows.shape[0]), lengths)
        offsets = np.cumsum(lengths) - lengths
        entry = np.arange(int(lengths.sum())) - np.repeat(offsets - starts, lengths)
        return SparseBeliefs(new_row, self.state[entry], self.weight[entry], int(rows.shape[0]))

    def dense(self, n_states: int) -> np.ndarray:
        """(n_rows, n_states) dense array."""
        out = np.zeros((self.n_rows, n_states))
        out[self.row, self.state] = self.weight
        return out

    @staticmethod
    def concatenate(parts: Sequence[SparseBeliefs]) -> SparseBeliefs:
        """Stack batches row-wise."""
        offset = 0
        rows, states, weights = [], [], []
        for part in parts:
            rows.append(part.row + offset)
            states.append(part.state)
            weights.append(part.weight)
            offset += part.n_rows
        if not parts:
            return SparseBeliefs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), 0)
        return SparseBeliefs(np.concatenate(rows), np.concatenate(states), np.concatenate(weights), offset)


def merge(row: np.ndarray, state: np.ndarray, weight: np.ndarray, n_rows: int, n_states: int) -> SparseBeliefs:
    """Sum duplicate (row, state) entries and drop zero weights; sort by row and state."""
    keep = weight > 0
    key = row[keep] * n_states + state[keep]
    unique, inverse = np.unique(key, return_inverse=True)
    summed = np.bincount(inverse, weight[keep], minlength=unique.shape[0])
    return SparseBeliefs(unique // n_states, unique % n_states, summed, n_rows)


class BeliefFilter:
    """The exact Bayes filter of one compiled model, batched.

    Args:
        tables: the compiled model the conversations come from.
    """

    def __init__(self, tables: Tables) -> None:
        self.tables = tables
        self.index: TransitionIndex = transition_index(tables)
        self._opening = opening_distribution(tables)

    # ------------------------------------------------------------ batched core
    def reset_batch(self, tone: np.ndarray, reaction: np.ndarray, solved: np.ndarray | None = None) -> SparseBeliefs:
        """Beliefs after the opening observation of a batch of conversations.

        Args:
            tone: (N,) tone ids seen at reset.
            reaction: (N,) reaction ids seen at reset (complains or insults).
            solved: (N,) solved flags seen at reset (always 0 in this model).

        Returns:
            The normalized beliefs.

        Raises:
            ValueError: if an observation is impossible under the model.
        """
        tone = np.asarray(tone, dtype=np.int64).reshape(-1)
        reaction = np.asarray(reaction, dtype=np.int64).reshape(-1)
        solved = np.zeros_like(tone) if solved is None else np.asarray(solved, dtype=np.int64).reshape(-1)
        n = tone.shape[0]
        opening = self._opening  # every (first observation, start state) with its chance
        entries = opening.code.shape[0]
        row = np.repeat(np.arange(n), entries)
        seen = np.repeat(observation_code(tone, reaction, solved), entries)
        weight = np.tile(opening.prob, n) * (np.tile(opening.code, n) == seen)
        out = merge(row, np.tile(opening.state, n), weight, n, self.tables.n_states)
        return self._normalize(out, "reset", tone, reaction, solved)

    def recover_batch(
        self, move: np.ndarray, tone: np.ndarray, reaction: np.ndarray, solved: np.ndarray
    ) -> SparseBeliefs:
        """Beliefs for conversations joined mid-way, with no history: an uninformed guess.

        Every state still in conversation that ``move`` can lead to with ``reaction``
        gets weight ``tone_prob[s, tone]``. Used only when a policy is handed an
        observation after the opening without the belief that led to it.
        """
        move = np.asarray(move, dtype=np.int64).reshape(-1)
        tone = np.asarray(tone, dtype=np.int64).reshape(-1)
        reaction = np.asarray(reaction, dtype=np.int64).reshape(-1)
        solved = np.asarray(solved, dtype=np.int64).reshape(-1)
        ix = self.index
        rows, states, weights = [], [], []
        for i in range(move.shape[0]):
            hit = (ix.move == move[i]) & (ix.reaction == reaction[i]) & ~ix.terminal[ix.target]
            target = np.unique(ix.target[hit])
            target = target[ix.solved[target] == solved[i]]
            rows.append(np.full(target.shape[0], i))
            states.append(target)
            weights.append(self.tables.tone_prob[target, tone[i]])
        out = merge(
            np.concatenate(rows), np.concatenate(states), np.concatenate(weights), move.shape[0], self.tables.n_states
        )
        return self._normalize(out, "recover", tone, reaction, solved)

    def update_batch(
        self,
        beliefs: SparseBeliefs,
        move: np.ndarray,
        tone: np.ndarray,
        reaction: np.ndarray,
        solved: np.ndarray,
    ) -> SparseBeliefs:
        """One filter step for a batch: row ``i`` made ``move[i]`` and saw the rest.

        Raises:
            ValueError: if an observation is impossible under the model and the belief.
        """
        move = np.asarray(move, dtype=np.int64).reshape(-1)
        tone = np.asarray(tone, dtype=np.int64).reshape(-1)
        reaction = np.asarray(reaction, dtype=np.int64).reshape(-1)
        solved = np.asarray(solved, dtype=np.int64).reshape(-1)
        if np.any((move < 0) | (move >= len(Move))):
            raise ValueError(f"moves {move.tolist()} must be move ids; allowed: 0-{len(Move) - 1}")
        ix = self.index
        parent, entry = ix.expand(beliefs.state, move[beliefs.row])
        row = beliefs.row[parent]
        target = ix.target[entry]
        keep = ix.reaction[entry] == reaction[row]
        row, target, parent, entry = row[keep], target[keep], parent[keep], entry[keep]
        weight = (
            beliefs.weight[parent]
            * ix.prob[entry]
            * self.tables.tone_prob[target, tone[row]]
            * (ix.solved[target] == solved[row])
        )
        out = merge(row, target, weight, beliefs.n_rows, self.tables.n_states)
        return self._normalize(out, "update", tone, reaction, solved)

    def _normalize(self, beliefs: SparseBeliefs, where: str, tone, reaction, solved) -> SparseBeliefs:
        total = beliefs.totals()
        bad = np.flatnonzero(total <= 0)
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"{where}: observation (tone {Tone(int(tone[i])).name}, reaction {Reaction(int(reaction[i])).name}, "
                f"solved {int(solved[i])}) is impossible under model {self.tables.mixture.name!r} "
                f"(ablate {sorted(self.tables.ablate)}); does the policy context match the environment?"
            )
        return beliefs._replace(weight=beliefs.weight / total[beliefs.row])

    # ------------------------------------------------------------ one conversation
    def reset(self, tone: int, reaction: int, solved: int = 0) -> Belief:
        """The belief after the opening observation of one conversation."""
        b = self.reset_batch(np.array([tone]), np.array([reaction]), np.array([solved]))
        return Belief(self.tables, b.state, b.weight)

    def update(self, belief: Belief, move: int, tone: int, reaction: int, solved: int) -> Belief:
        """The belief after ``move`` was made and (tone, reaction, solved) seen."""
        batch = SparseBeliefs(np.zeros(belief.states.shape[0], np.int64), belief.states, belief.probs, 1)
        b = self.update_batch(batch, np.array([move]), np.array([tone]), np.array([reaction]), np.array([solved]))
        return Belief(self.tables, b.state, b.weight)

    def track(self, observations: Sequence[np.ndarray], moves: Sequence[int] | None = None) -> list[Belief]:
        """Beliefs after each observation of one conversation.

        Args:
            observations: the observations from reset on (partial or full vectors).
            moves: the moves made between them; read from the observations' last-move
                one-hot if None.

        Returns:
            One belief per observation.
        """
        seen = decode(np.asarray(observations))
        beliefs = [self.reset(int(seen.tone[0]), int(seen.reaction[0]), int(seen.solved[0]))]
        for i in range(1, len(observations)):
            move = int(seen.last_move[i]) if moves is None else int(moves[i - 1])
            beliefs.append(
                self.update(beliefs[-1], move, int(seen.tone[i]), int(seen.reaction[i]), int(seen.solved[i]))
            )
        return beliefs


@dataclass(frozen=True, eq=False)
class Belief:
    """One conversation's belief over hidden states (sparse, sums to 1).

    Attributes:
        tables: the model.
        states: (n,) int64 state indices with positive probability, sorted.
        probs: (n,) float64 their probabilities.
    """

    tables: Tables
    states: np.ndarray
    probs: np.ndarray

    def dense(self) -> np.ndarray:
        """(S,) probability of every state."""
        out = np.zeros(self.tables.n_states)
        out[self.states] = self.probs
        return out

    def marginal(self, factor: str) -> np.ndarray:
        """Distribution of one hidden factor (a name in ``FACTORS``), indexed by its value.

        Raises:
            ValueError: for an unknown factor name.
        """
        if factor not in FACTORS:
            raise ValueError(f"unknown factor {factor!r}; allowed: {', '.join(FACTORS)}")
        values = self.tables.factor(factor)
        size = len(self.tables.persona_names) if factor == "persona" else int(values.max()) + 1
        return np.bincount(values[self.states], self.probs, minlength=size)

    def expected(self, factor: str) -> float:
        """Expected value of a numeric hidden factor, e.g. ``"anger"`` or ``"trust"``."""
        dist = self.marginal(factor)
        return float(dist @ np.arange(dist.shape[0]))

    def persona(self) -> dict[str, float]:
        """Probability of each persona of the mixture."""
        return dict(zip(self.tables.persona_names, self.marginal("persona").tolist(), strict=True))

    def summary(self) -> dict[str, object]:
        """Belief over persona, expected anger and trust, and the support size."""
        return {
            "persona": self.persona(),
            "anger": self.expected("anger"),
            "trust": self.expected("trust"),
            "support": int(self.states.shape[0]),
        }


__all__ = ["Belief", "BeliefFilter", "SparseBeliefs", "merge"]
