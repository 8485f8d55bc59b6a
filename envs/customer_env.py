"""The single difficult-customer environment, ``DifficultCustomer-v0``."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded

import difficult_customer.envs.observation as obs_layout
from difficult_customer.customer_models import (
    FACTORS,
    Mixture,
    Move,
    Outcome,
    Persona,
    Reaction,
    Rewards,
    Tables,
    Tone,
    compile_model,
)
from difficult_customer.customer_models.vocabulary import N_TONES
from difficult_customer.envs.core import N_OBSERVATION_CODES, One, conversation_core, split_observation_code
from difficult_customer.envs.frame import draw_frame
from difficult_customer.envs.transcript import turn_lines

MOVE_NAMES: tuple[str, ...] = tuple(m.name for m in Move)
"""Action names in action-id order."""

OBSERVATION_MODES = ("partial", "full")
DEFAULT_MAX_TURNS = 16

_STATUS = FACTORS.index("status")
_N_MOVES = len(Move)
_TONE_NAMES = tuple(t.name for t in Tone)
_OUTCOME_NAMES = tuple(o.name for o in Outcome)
_REACTION_BY_CODE = tuple(Reaction(split_observation_code(code)[1]).name for code in range(N_OBSERVATION_CODES))


def make_rewards(rewards: Rewards | Mapping[str, float] | None) -> Rewards:
    """Reward weights from a :class:`Rewards`, a partial mapping of term -> weight, or None."""
    if rewards is None:
        return Rewards()
    if isinstance(rewards, Rewards):
        return rewards
    if isinstance(rewards, Mapping):
        return Rewards.from_mapping(dict(rewards))
    raise ValueError(f"rewards={rewards!r}; allowed: None, a Rewards, or a mapping of term name -> weight")


def check_max_turns(max_turns: Any) -> int:
    """Validate the turn limit (an int >= 1)."""
    if isinstance(max_turns, bool) or not isinstance(max_turns, (int, np.integer)) or max_turns < 1:
        raise ValueError(f"max_turns={max_turns!r}; allowed is an integer >= 1")
    return int(max_turns)


def check_observation_mode(mode: str) -> str:
    if mode not in OBSERVATION_MODES:
        raise ValueError(f"observation={mode!r}; allowed: {', '.join(OBSERVATION_MODES)}")
    return mode


class CustomerEnv(gym.Env):
    """A conversation with a difficult customer whose anger and trust are hidden.

    ## Description

    The agent is at a customer-service desk. A customer arrives upset; the agent picks
    one move per turn and sees only what a person at the desk would see. Hidden from it
    are the customer's anger (calm ... furious), trust (none ... high), whether they
    feel heard, how many apologies they have had, whether they are abusive, how much
    patience is left, and which kind of customer they are (the persona). Every effect
    of a move is a documented parameter that cites one of ten claims (C1-C10) that five
    customer-service guides make; see ``docs/claims.md``. The dynamics are compiled
    into explicit tables (``env.unwrapped.tables``), so the optimum is computable.

    ## Action Space

    ``Discrete(6)``:

    | id | move          | claim   | what it does                                              |
    |----|---------------|---------|-----------------------------------------------------------|
    | 0  | listen        | C1      | the customer feels heard and calms                        |
    | 1  | empathize     | C2      | calms and builds trust once heard; patronizing before     |
    | 2  | apologize     | C4, C8  | calms a genuine grievance; wears out when repeated        |
    | 3  | offer_options | C3, C5  | solves the problem if accepted; an angry or unheard customer rejects |
    | 4  | set_boundary  | C6      | stops abuse; dismissive to a customer who is not abusive  |
    | 5  | follow_up     | C7      | after a solution: satisfaction and trust; before: nothing |

    ## Observation Space

    ``Box(0, 1, (30,), float32)`` for ``observation="partial"``: one-hot tone (a noisy,
    persona-dependent sign of anger, C8), one-hot reaction to the last move, solved
    flag, turn / ``max_turns``, one-hot last move, and counts of each move so far
    (clipped at 3, divided by 3). Layout and a decoder: ``difficult_customer.envs.observation``.
    ``observation="full"`` appends the hidden state one-hot (for debugging; a policy
    that reads it is an oracle).

    ## Rewards

    Named terms, weighted by name (``rewards={"walked_away": -1.0}``); every step's
    terms are in ``info["reward_terms"]``. Defaults, and why:

    - ``turn`` -0.02 per turn: among equally good conversations, prefer the shorter.
    - ``solved`` +0.6 when the customer accepts a solution: the point of the call (C5).
    - ``followed_up`` +0.2 when a solved conversation ends with a follow-up (C7).
    - ``trust`` +0.1 per trust level (0-3) when a solved conversation ends: loyalty
      beyond this call (C2, C4, C7).
    - ``walked_away`` -0.6: a lost customer, worse than an unsolved call (C10).
    - ``ended_after_abuse`` -0.4: ending the dialogue after abuse protects the agent
      but loses the customer (C6).

    Returns lie in about [-1, 1.1].

    ## Starting State

    The persona is drawn from the mixture (``persona="mixture"``: genuine grievance
    0.45, naturally difficult 0.35, belligerent 0.2), then anger from the persona's
    start distribution (upset to furious for the three difficult personas, annoyed
    for the reasonable one); trust and patience are the persona's, and a
    belligerent customer starts abusive. The first observation shows the customer's
    tone and opening reaction (``complains``, or ``insults`` when abusive).

    ## Episode End

    - Termination: the customer leaves after a solution (with or without a follow-up),
      walks away (patience used up, or furious, C10), or the dialogue is ended after
      continued abuse (C6).
    - Truncation: ``max_turns`` turns (default 16) without an end.

    ## Information

    Every ``info``, reset's included, has the same keys (as replay buffers such as
    tianshou's need):

    - ``"hidden_state"``: a dict of factor name -> value: ``persona`` (name), ``status``,
      ``anger``, ``trust``, ``heard``, ``apologies``, ``solved``, ``abuse``, ``patience``;
    - ``"state_index"`` (row of the tables) and ``"turn"`` (turns taken);
    - ``"tone"`` and ``"reaction"``: names, as in the observation;
    - ``"reward_terms"``: term name -> unweighted value of this step (zeros at reset);
    - ``"outcome"``: ``ongoing`` until the conversation ends, then
      ``solved_and_followed_up``, ``solved``, ``walked_away``, ``ended_after_abuse`` or
      ``timed_out``;
    - ``"return"``: the conversation's total reward so far (at the end, its return).

    The env can be copied (``copy.deepcopy``) and pickled at any point; the copy goes
    on with the same conversation and the same random stream.

    ## Arguments

    - ``persona``: ``"mixture"`` (default), ``"genuine_grievance"``,
      ``"naturally_difficult"``, ``"belligerent"``, ``"reasonable"``, or a
      ``Persona`` / ``Mixture`` object.
    - ``ablate``: claim ids to switch off, e.g. ``["C4"]``: the move becomes neutral in
      that respect.
    - ``max_turns``: turn limit (default 16).
    - ``observation``: ``"partial"`` (default) or ``"full"``.
    - ``rewards``: a ``Rewards`` or a mapping of term name -> weight.
    - ``render_mode``: ``None``, ``"ansi"`` (returns the transcript), ``"human"``
      (prints each turn) or ``"rgb_array"`` (gauges of hidden anger, trust and
      patience, the tone, the turn, the moves and the last lines of the
      conversation, as an image; works with ``RecordVideo``).
    - ``render_hidden``: show hidden anger and trust in the transcript (teachers).

    ## Version History

    - v0: first release.
    """

    metadata = {"render_modes": ["ansi", "human", "rgb_array"], "render_fps": 1}

    def __init__(
        self,
        persona: str | Persona | Mixture = "mixture",
        ablate: Iterable[str] | None = None,
        max_turns: int = DEFAULT_MAX_TURNS,
        observation: str = "partial",
        rewards: Rewards | Mapping[str, float] | None = None,
        render_mode: str | None = None,
        render_hidden: bool = False,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode={render_mode!r}; allowed: None, {', '.join(self.metadata['render_modes'])}")
        self.max_turns = check_max_turns(max_turns)
        self.observation_mode = check_observation_mode(observation)
        self.tables: Tables = compile_model(persona, ablate, make_rewards(rewards))
        self._build()
        self.render_mode = render_mode
        self.render_hidden = bool(render_hidden)
        self.n_personas = len(self.tables.persona_names)
        size = obs_layout.PARTIAL_SIZE
        if self.observation_mode == "full":
            size += obs_layout.hidden_size(self.n_personas)
        self.action_space = spaces.Discrete(len(Move))
        self.observation_space = spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
        self._one: One | None = None
        self._done = True  # no conversation yet: step() needs a reset()
        self._episode = -1
        self._lines: list[str] = []

    def _build(self) -> None:
        """The core and per-state caches (rebuilt after unpickling)."""
        self._core = conversation_core(self.tables, self.max_turns)
        self._step_one = self._core.step_one
        self._hidden: list[dict[str, int | str] | None] = [None] * self.tables.n_states
        self._status: list[int] = self.tables.factor("status").tolist()
        self._full = self.observation_mode == "full"
        self._observe_one = self._core.observe_one
        self._terms = self._core.terms_by_slot

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the tables and the core, which are rebuilt from the model (cached)."""
        state = self.__dict__.copy()
        for key in ("tables", "_core", "_step_one", "_observe_one", "_terms", "_hidden", "_status", "_full"):
            del state[key]
        state["_model"] = (self.tables.mixture, sorted(self.tables.ablate), self.tables.rewards)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        mixture, ablate, rewards = state.pop("_model")
        self.__dict__.update(state)
        self.tables = compile_model(mixture, ablate, rewards)
        self._build()

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        self._episode += 1
        rng = self.np_random
        self._one: One = self._core.reset_one(rng.random(), rng.random())
        self._slot = -1  # no move yet: reward terms are zeros
        self._moves: list[int] = []
        self._done = False
        self._return = 0.0
        self._lines = []
        self._add_lines(None)
        info = self._info(False)
        if self.render_mode == "human":
            self.render()
        return self._observe_one(self._one, self._full), info

    def step(self, action: Any) -> tuple[np.ndarray, SupportsFloat, bool, bool, dict]:
        if self._done:  # also before the first reset
            if self._one is None:
                raise ResetNeeded("step() called before reset(); call env.reset() first")
            raise ResetNeeded("step() called after the conversation ended; call env.reset() first")
        move = action if type(action) is int and 0 <= action < _N_MOVES else self._check_action(action)
        rng = self._np_random
        one, slot, reward, terminated, truncated = self._step_one(self._one, move, rng.random(), rng.random())
        self._one, self._slot = one, slot
        self._moves.append(move)
        self._return += reward
        self._done = done = terminated or truncated
        # The info, as _info() builds it, inline: a step is a few microseconds.
        state, code, turn, _ = one
        hidden = self._hidden[state] or self._hidden_state(state)
        info = {
            "hidden_state": hidden.copy(),
            "state_index": state,
            "turn": turn,
            "tone": _TONE_NAMES[code % N_TONES],
            "reaction": _REACTION_BY_CODE[code],
            "reward_terms": (self._terms[slot] or self._core.slot_terms(slot)).copy(),
            "outcome": _OUTCOME_NAMES[Outcome.timed_out if truncated else self._status[state]],
            "return": self._return,
        }
        if self.render_mode is not None:
            self._add_lines(Move(move), outcome=info["outcome"] if done else None)
            if self.render_mode == "human":
                self.render()
        return self._observe_one(one, self._full), reward, terminated, truncated, info

    def render(self) -> str | np.ndarray | None:
        """The transcript so far (``"ansi"``), the latest turn printed (``"human"``), or a
        picture of gauges and moves (``"rgb_array"``, see ``difficult_customer.envs.frame``)."""
        if self._one is None:
            raise ResetNeeded("render() called before reset(); call env.reset() first")
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'human' to make()")
            return None
        if self.render_mode == "ansi":
            return "\n".join(self._lines) + "\n"
        if self.render_mode == "rgb_array":
            state, code, turn, _ = self._one
            hidden = self.tables.hidden_state(state)
            outcome = Outcome(self.tables.factors[state, _STATUS])
            return draw_frame(
                int(hidden["anger"]),
                int(hidden["trust"]),
                int(hidden["patience"]),
                split_observation_code(code)[0],
                turn,
                self.max_turns,
                self._moves,
                self._done,
                outcome == Outcome.solved_and_followed_up,
                lines=self._lines,
                outcome=(Outcome.timed_out if outcome == Outcome.ongoing else outcome).name if self._done else None,
                episode_return=self._return if self._done else None,
            )
        start = 0 if self._one[2] == 0 else self._printed
        sys.stdout.write("\n".join(self._lines[start:]) + "\n")
        self._printed = len(self._lines)
        return None

    # ------------------------------------------------------------ helpers
    @property
    def state_index(self) -> int | None:
        """Row of the tables for the current hidden state (None before reset)."""
        return None if self._one is None else self._one[0]

    def _check_action(self, action: Any) -> int:
        value = action
        if isinstance(value, np.ndarray) and value.shape == ():
            value = value.item()
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"action {action!r} is not a move id; allowed: integers 0-5 ({', '.join(MOVE_NAMES)})")
        if not 0 <= int(value) < len(Move):
            raise ValueError(f"action {action!r} is outside the action space; allowed: 0-5 ({', '.join(MOVE_NAMES)})")
        return int(value)

    def _info(self, truncated: bool) -> dict[str, Any]:
        """The info of the current state (``step`` builds the same dict inline)."""
        state, code, turn, _ = self._one
        slot = self._slot
        return {
            "hidden_state": (self._hidden[state] or self._hidden_state(state)).copy(),
            "state_index": state,
            "turn": turn,
            "tone": _TONE_NAMES[code % N_TONES],
            "reaction": _REACTION_BY_CODE[code],
            "reward_terms": (self._terms[slot] or self._core.slot_terms(slot)).copy(),
            "outcome": _OUTCOME_NAMES[Outcome.timed_out if truncated else self._status[state]],
            "return": self._return,
        }

    def _hidden_state(self, state: int) -> dict[str, int | str]:
        hidden = self._hidden[state] = self.tables.hidden_state(state)
        return hidden

    def _add_lines(self, move: Move | None, outcome: str | None = None) -> None:
        if self.render_mode is None:
            return
        state, code, turn, _ = self._one
        if move is None:
            self._printed = 0
        tone, reaction, _ = split_observation_code(code)
        self._lines += turn_lines(
            self._episode,
            turn,
            self.tables.hidden_state(state),
            Tone(tone),
            Reaction(reaction),
            move,
            self.render_hidden,
            outcome,
            self._return,
        )
