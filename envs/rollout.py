"""Run any policy through N conversations in lockstep, through the conversation core.

:func:`rollout` runs a policy on a batch of conversations and records them: Monte Carlo
evaluation (``agents.exact.evaluation.monte_carlo``), the experiments' ``run_episodes``
(benchmark, conformance, training checks) and the annotated conversations of ``explain``
call it. (The environments and the teaching session step conversations through the core
themselves.) The policy is any object with stable-baselines3's
``predict(observation, state, episode_start, deterministic)``; it is called once per
turn on the batch of all N conversations.

Two ways to seed:

- ``seeds=[s0, s1, ...]``: conversation ``i`` draws from its own generator seeded with
  ``seeds[i]``, exactly as ``CustomerEnv.reset(seed=seeds[i])`` does, so with the same
  moves it is the single env's conversation for that seed, whatever else is in the
  batch.
- ``episodes=n, seed=s``: one generator for the batch, as ``CustomerVectorEnv``; faster
  for many conversations.

A conversation that ends is restarted at once (the policy sees the new opening with
``episode_start`` set, as in SB3's ``evaluate_policy``) so that a recurrent policy's
batched state stays consistent; only each row's first conversation is recorded, and
the loop stops when all of them have ended. :class:`Rollout` records, per turn, the
hidden state before each move and at the end, what the customer showed, the moves,
rewards, and each conversation's return, length and outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from gymnasium.utils import seeding

from difficult_customer.customer_models import FACTORS, Move, Outcome, Reaction, Tables, Tone
from difficult_customer.envs.core import ConversationCore, Conversations, conversation_core, split_observation_code
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS, check_observation_mode
from difficult_customer.envs.transcript import turn_lines

_STATUS = FACTORS.index("status")


@dataclass(frozen=True, eq=False)
class Rollout:
    """N recorded conversations, as padded arrays (``T = max_turns``).

    Column ``t`` of the ``(N, T + 1)`` arrays is the moment before move ``t``; column
    ``turns[i]`` is the end of conversation ``i``; later columns are padding (-1).
    Column ``t`` of the ``(N, T)`` arrays is move ``t`` (padding: move -1, reward 0).
    """

    core: ConversationCore
    """The core the conversations ran on (its ``tables`` and ``max_turns``)."""
    observation: str
    """``"partial"`` or ``"full"``: what the policy was shown."""
    seeds: np.ndarray | None
    """(N,) each conversation's seed, or None when one generator served the batch."""
    turns: np.ndarray
    """(N,) moves made."""
    states: np.ndarray
    """(N, T + 1) row of the tables of the hidden state."""
    codes: np.ndarray
    """(N, T + 1) :func:`~envs.core.observation_code` of what the customer showed."""
    histories: np.ndarray
    """(N, T + 1) history code (last move and clipped move counts)."""
    moves: np.ndarray
    """(N, T) move ids."""
    rewards: np.ndarray
    """(N, T) float64 rewards."""
    slots: np.ndarray
    """(N, T) slots drawn in the core's flat transition table."""
    returns: np.ndarray
    """(N,) float64 total reward of each conversation."""
    outcomes: np.ndarray
    """(N,) :class:`~customer_models.Outcome` id (``timed_out`` when truncated)."""

    @property
    def tables(self) -> Tables:
        return self.core.tables

    @property
    def n(self) -> int:
        """Number of conversations."""
        return int(self.turns.shape[0])

    @property
    def valid(self) -> np.ndarray:
        """(N, T + 1) bool: column ``t`` is before a move or at the end (not padding)."""
        return np.arange(self.states.shape[1]) <= self.turns[:, None]

    def _shown(self, part: int) -> np.ndarray:
        return np.where(self.valid, split_observation_code(self.codes)[part], -1)

    @property
    def tones(self) -> np.ndarray:
        """(N, T + 1) :class:`~customer_models.Tone` ids shown (-1 padding)."""
        return self._shown(0)

    @property
    def reactions(self) -> np.ndarray:
        """(N, T + 1) :class:`~customer_models.Reaction` ids shown (-1 padding)."""
        return self._shown(1)

    def hidden(self, factor: str) -> np.ndarray:
        """(N, T + 1) values of a hidden factor (a name in ``FACTORS``; -1 padding).

        Raises:
            ValueError: for an unknown factor name.
        """
        if factor not in FACTORS:
            raise ValueError(f"unknown factor {factor!r}; allowed: {', '.join(FACTORS)}")
        values = self.tables.factor(factor).astype(np.int64)
        return np.where(self.valid, values[np.maximum(self.states, 0)], -1)

    def observations(self, i: int | None = None) -> np.ndarray:
        """The observations the policy was shown: ``(turns[i] + 1, W)`` for conversation ``i``,
        or ``(N, T + 1, W)`` for all (zeros in the padding)."""
        full = self.observation == "full"
        if i is not None:
            end = int(self.turns[i]) + 1
            state = self.states[i, :end] if full else None
            return self.core.observe_codes(self.codes[i, :end], np.arange(end), self.histories[i, :end], state)
        valid = self.valid
        turn = np.broadcast_to(np.arange(self.states.shape[1]), self.states.shape)
        safe = [np.where(valid, a, 0) for a in (self.codes, turn, self.histories, self.states)]
        obs = self.core.observe_codes(*safe[:3], safe[3] if full else None)
        obs[~valid] = 0.0
        return obs

    def turn_transcripts(self, i: int, render_hidden: bool = False, episode: int = 0) -> list[list[str]]:
        """Conversation ``i`` as ``render_mode="ansi"`` writes it, as the lines each turn adds.

        Args:
            i: the conversation.
            render_hidden: also show the hidden state (``render_hidden=True`` in the env).
            episode: the env's conversation number, which picks the wording with the turn
                (0 for the first conversation of a fresh env).

        Returns:
            ``turns[i] + 1`` lists: the opening's lines, then each move's.
        """
        end = int(self.turns[i])
        tones, reactions = self.tones[i], self.reactions[i]
        out, running = [], 0.0
        for turn in range(end + 1):
            if turn:
                running += float(self.rewards[i, turn - 1])
            out.append(
                turn_lines(
                    episode,
                    turn,
                    self.tables.hidden_state(int(self.states[i, turn])),
                    Tone(int(tones[turn])),
                    Reaction(int(reactions[turn])),
                    Move(int(self.moves[i, turn - 1])) if turn else None,
                    render_hidden,
                    self.outcome_names()[i] if turn == end else None,
                    running,
                )
            )
        return out

    def transcript(self, i: int, render_hidden: bool = False, episode: int = 0) -> str:
        """Conversation ``i`` as ``env.render()`` returns it at the end (``render_mode="ansi"``)."""
        return "\n".join(line for lines in self.turn_transcripts(i, render_hidden, episode) for line in lines) + "\n"

    def outcome_names(self) -> list[str]:
        """Each conversation's outcome as the single env names it in ``info["outcome"]``."""
        return [Outcome(int(o)).name for o in self.outcomes]


def rollout(
    policy: Any,
    tables: Tables,
    *,
    seeds: Sequence[int] | None = None,
    episodes: int | None = None,
    seed: int | None = 0,
    max_turns: int = DEFAULT_MAX_TURNS,
    observation: str = "partial",
    deterministic: bool = True,
    progress: Callable[[int], Any] | None = None,
) -> Rollout:
    """Run ``policy`` through N conversations in lockstep and record them.

    Args:
        policy: any object with SB3's ``predict(observation, state, episode_start,
            deterministic) -> (actions, state)``, called on batches ``(N, W)``.
        tables: the compiled model (``compile_model(persona, ablate, rewards)``).
        seeds: one seed per conversation (N = ``len(seeds)``): conversation ``i`` is
            ``CustomerEnv.reset(seed=seeds[i])``'s. Give either this or ``episodes``.
        episodes: N conversations drawn from one generator seeded with ``seed``.
        seed: the generator's seed with ``episodes`` (None: fresh entropy).
        max_turns: the turn limit.
        observation: ``"partial"`` or ``"full"`` (appends the hidden state one-hot).
        deterministic: passed to ``predict``.
        progress: called with 1 each time a conversation ends (e.g. a tqdm update).

    Returns:
        The :class:`Rollout`.

    Raises:
        ValueError: for both or neither of ``seeds`` and ``episodes``, fewer than one
            conversation, a bad turn limit or observation mode, or a policy that returns
            the wrong number of moves or a move outside 0-5.
    """
    core = conversation_core(tables, max_turns)
    full = check_observation_mode(observation) == "full"
    if (seeds is None) == (episodes is None):
        raise ValueError(f"seeds={seeds!r:.60}, episodes={episodes!r}; allowed: exactly one of them")
    if seeds is not None:
        seeds = np.asarray([int(s) for s in seeds], dtype=np.int64)
        if (seeds < 0).any():
            raise ValueError(f"seed {int(seeds[seeds < 0][0])} is negative; allowed: integers >= 0")
        n = int(seeds.shape[0])
        generators = [seeding.np_random(int(s))[0] for s in seeds]

        def draw(rows: np.ndarray) -> np.ndarray:
            return np.array([generators[i].random(2) for i in rows.tolist()]).reshape(-1, 2).T

    else:
        if isinstance(episodes, bool) or not isinstance(episodes, (int, np.integer)):
            raise ValueError(f"episodes={episodes!r}; allowed is an integer >= 1")
        n = int(episodes)
        rng = np.random.default_rng(seed)

        def draw(rows: np.ndarray) -> np.ndarray:
            return rng.random((2, rows.shape[0]))

    if n < 1:
        raise ValueError(f"{n} conversations; allowed is at least 1")
    everyone = np.arange(n)
    width = max_turns + 1
    states = np.full((n, width), -1, dtype=np.intp)
    codes, histories = states.copy(), states.copy()
    moves = np.full((n, max_turns), -1, dtype=np.intp)
    slots = moves.copy()
    rewards = np.zeros((n, max_turns))
    returns = np.zeros(n)
    turns = np.zeros(n, dtype=np.intp)
    outcomes = np.zeros(n, dtype=np.int64)

    def record(conv: Conversations, rows: np.ndarray, column: int) -> None:
        states[rows, column] = conv.state[rows]
        codes[rows, column] = conv.code[rows]
        histories[rows, column] = conv.history[rows]

    conv = core.reset(draw(everyone))
    running = np.ones(n, dtype=bool)  # the row's first conversation has not ended
    start = np.ones(n, dtype=bool)
    memory = None
    for t in range(max_turns):
        live = np.flatnonzero(running)
        record(conv, live, t)
        action, memory = policy.predict(core.observe(conv, full), memory, start, deterministic)
        chosen = _as_moves(action, n, policy)
        conv, step = core.step(conv, chosen, draw(everyone))
        moves[live, t] = chosen[live]
        slots[live, t] = step.slot[live]
        rewards[live, t] = step.reward[live]
        returns[live] += step.reward[live]  # summed turn by turn, as the env's info["return"]
        done = step.terminated | step.truncated
        ended = np.flatnonzero(running & done)
        record(conv, ended, t + 1)
        turns[ended] = t + 1
        status = tables.factors[conv.state[ended], _STATUS].astype(np.int64)
        outcomes[ended] = np.where(step.truncated[ended], int(Outcome.timed_out), status)
        running[ended] = False
        if progress is not None:
            for _ in range(ended.size):
                progress(1)
        if not running.any():
            break
        start = done
        if done.any():  # restart at once: the policy's batch goes on with fresh openings
            conv = core.reset_rows(conv, done, draw(np.flatnonzero(done)))
    assert not running.any(), "a conversation outlasted the turn limit"
    return Rollout(
        core=core,
        observation=observation,
        seeds=seeds,
        turns=turns,
        states=states,
        codes=codes,
        histories=histories,
        moves=moves,
        rewards=rewards,
        slots=slots,
        returns=returns,
        outcomes=outcomes,
    )


def _as_moves(action: Any, n: int, policy: Any) -> np.ndarray:
    """The policy's actions as ``n`` integer move ids, or a ValueError naming what it returned."""
    moves = np.asarray(action).reshape(-1)
    if moves.shape != (n,):
        raise ValueError(f"policy {policy!r:.80} returned {moves.shape[0]} actions for {n} conversations; allowed: {n}")
    if moves.dtype.kind == "f" and np.array_equal(moves, np.rint(moves)):
        moves = moves.astype(np.int64)
    if moves.dtype.kind not in "iu":
        raise ValueError(
            f"policy {policy!r:.80} returned actions of dtype {moves.dtype}; allowed: integer move ids 0-5"
        )
    return moves


__all__ = ["Rollout", "rollout"]
