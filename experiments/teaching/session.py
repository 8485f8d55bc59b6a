"""The teaching game: one conversation, played by a student or replayed from a policy.

A :class:`Session` holds one conversation (four integers of customer state, its random
generator and its transcript), the exact Bayes filter's belief and the history of
decisions; everything read-only (tables, the conversation core that steps the customer,
the solved optimum) is a :class:`SharedModel`, built once per setting and shared by every
session of it, so a session costs under 10 KB. The customer is stepped by
:meth:`~difficult_customer.envs.core.ConversationCore.step_one` with the random stream
``CustomerEnv.reset(seed=...)`` would use, so a session and an environment seeded alike
have the same conversation. The terminal screens (``difficult-customer play`` and ``watch``,
:mod:`difficult_customer.experiments.teaching.play`) and the web page (``difficult-customer serve``,
:mod:`difficult_customer.experiments.teaching.serve`) only display what :meth:`Session.state` and
:meth:`Session.summary` return, so both show the same thing.

At every decision the session records the value of each move twice:

- for the *belief-based reference policy* (:class:`~agents.exact.policies.BeliefPolicy`, belief
  lookahead by default): it sees exactly what the student sees (tone, reaction, the moves
  so far), so its best move is the fair comparison;
- for the *oracle*, which also sees the hidden anger, trust and persona.

At the end, :meth:`Session.summary` gives the outcome, the return, the normalized score of
that return (0 = random moves, 1 = the oracle's expected return in this context) and the
first turn where the move played was not the belief-based reference policy's best move.

Usage::

    session = Session(persona="naturally_difficult", seed=7)
    session.state(teacher=True)   # what a screen shows
    session.move(0)               # the student listens
    ...
    session.summary()             # once session.done

    replay = Session(persona="mixture", seed=3, policy="guide_004")
    while not replay.done:
        replay.policy_step()
"""

from __future__ import annotations

import secrets
import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

import difficult_customer.agents.exact  # noqa: F401  (registers the exact policies)
from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.evaluation import oracle_value, random_value
from difficult_customer.agents.exact.explain import MoveValues
from difficult_customer.agents.exact.policies import BeliefPolicy
from difficult_customer.agents.learned import is_model_file
from difficult_customer.customer_models import PERSONA_NAMES, Move, Reaction, Tone
from difficult_customer.envs.core import ConversationCore, One, conversation_core, split_observation_code
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.envs.transcript import turn_lines

MOVE_NAMES: tuple[str, ...] = tuple(m.name for m in Move)
"""Move names in move-id order."""
MOVE_KEYS: tuple[str, ...] = tuple(str(i + 1) for i in range(len(Move)))
"""The key that picks each move: ``"1"`` is listen ... ``"6"`` is follow_up."""
QUIT_KEYS = frozenset({"q", "quit", "exit", "\x04"})
"""Keys and words that end a terminal game (``\\x04`` is Ctrl-D)."""
BELIEF_DEPTHS = (0, 1, 2)
"""Depths of the belief-based reference policy: 0 QMDP, 1 belief lookahead (default), 2 deeper."""

_STATE, _CODE, _TURN = 0, 1, 2
"""Fields of a conversation of the core (:data:`~difficult_customer.envs.core.One`): hidden state, shown code, turn."""

MAX_SEED = 2**31 - 1
"""Largest conversation seed."""
MAX_TURNS_LIMIT = 64
"""Largest turn limit of a teaching conversation (the solvers' tables grow with it)."""


class SessionStateError(RuntimeError):
    """A request that does not fit the session's state (a move after the end, ...)."""


def moves_help() -> str:
    """``"1 listen, 2 empathize, ..."``: the keys and the moves they pick."""
    return ", ".join(f"{key} {name}" for key, name in zip(MOVE_KEYS, MOVE_NAMES, strict=True))


def parse_key(key: str) -> int | None:
    """The move id a key (or typed word) picks, or None for a key that quits.

    Accepted: ``1``-``6``, a move name (``listen``, ``offer_options``; case and
    surrounding spaces do not matter), and ``q``/``quit``/``exit``/Ctrl-D to quit.

    Args:
        key: one key press or one typed line.

    Returns:
        The move id (0-5), or None to quit.

    Raises:
        ValueError: for anything else, naming the key and the allowed keys.
    """
    text = key.strip().lower() if isinstance(key, str) else key
    if isinstance(text, str):
        if text in MOVE_KEYS:
            return MOVE_KEYS.index(text)
        if text in MOVE_NAMES:
            return MOVE_NAMES.index(text)
        if text in QUIT_KEYS or key in QUIT_KEYS:
            return None
    raise ValueError(f"key {key!r} is not a move; allowed: {moves_help()}, or q to quit")


def check_move(move: Any) -> int:
    """A move id from an int 0-5 or a move name.

    Raises:
        ValueError: naming the bad value and the allowed ones.
    """
    if isinstance(move, str) and move in MOVE_NAMES:
        return MOVE_NAMES.index(move)
    if isinstance(move, (int, np.integer)) and not isinstance(move, (bool, np.bool_)) and 0 <= move < len(Move):
        return int(move)
    allowed = ", ".join(f"{i} {name}" for i, name in enumerate(MOVE_NAMES))
    raise ValueError(f"move {move!r} is not a move; allowed: a move id ({allowed}) or a move name")


def check_persona(persona: Any) -> str:
    """A persona or mixture name.

    Raises:
        ValueError: naming the bad value and the allowed names.
    """
    if isinstance(persona, str) and persona in PERSONA_NAMES:
        return persona
    raise ValueError(f"persona {persona!r} is unknown; allowed: {', '.join(PERSONA_NAMES)}")


def check_seed(seed: Any) -> int:
    """A conversation seed: an integer in [0, 2**31 - 1].

    Raises:
        ValueError: naming the bad value and the allowed range.
    """
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, (bool, np.bool_)) and 0 <= seed <= MAX_SEED:
        return int(seed)
    raise ValueError(f"seed {seed!r} is not allowed; allowed: an integer from 0 to {MAX_SEED}")


def check_policy(policy: Any, allow_files: bool = True) -> str:
    """A policy name that ``difficult_customer.agents.make`` accepts.

    Args:
        policy: a registered name, or the path of a trained model (``runs/.../model.zip``,
            registered on first use by :func:`difficult_customer.agents.spec`).
        allow_files: whether paths of trained models (which load files) are allowed; the
            web server refuses them.

    Raises:
        ValueError: naming the bad value and the registered names (or, for a path, what is
            wrong with the model file).
    """
    registered = agents.names()
    if isinstance(policy, str) and policy in registered:
        return policy
    if allow_files and isinstance(policy, str) and policy.strip() and is_model_file(policy):
        agents.spec(policy)  # registers the model; a bad model file is a named ValueError
        return policy
    extra = ", or the path of a trained model (model.zip)" if allow_files else ""
    raise ValueError(f"policy {policy!r} is unknown; allowed: {', '.join(registered)}{extra}")


@dataclass(frozen=True, eq=False)
class SharedModel:
    """What every session of one setting shares, read-only: built once, cached per key.

    A session holds only its own conversation (the customer's state as four integers,
    the transcript, its random generator), its belief and its decisions; the compiled
    tables, the conversation core (:class:`~difficult_customer.envs.core.ConversationCore`,
    which samples every step), the solved optimum with its caches and the exact reference
    values live here, once per setting.

    Attributes:
        key: ``(persona, ablate, max_turns, depth)``.
        context: the policy context of the setting (seed None).
        believer: the belief-based reference policy (its oracle solution gives the oracle's values).
        random_value: J_random, the exact expected return of random moves.
        oracle_value: J_oracle, the oracle's exact expected return.
        core: the conversation core of the setting's tables and turn limit (shared by
            every environment of those tables too).
    """

    key: tuple
    context: PolicyContext
    believer: BeliefPolicy
    random_value: float
    oracle_value: float
    core: ConversationCore
    _hidden: list[dict[str, int | str] | None] = field(repr=False)

    def hidden_state(self, state: int) -> dict[str, int | str]:
        """The hidden state ``state`` as named fields (a new dict: the cached one is never handed out)."""
        hidden = self._hidden[state]
        if hidden is None:  # filled on first use; a race writes equal dicts
            hidden = self._hidden[state] = self.context.tables.hidden_state(state)
        return dict(hidden)


_SHARED: OrderedDict[tuple, SharedModel] = OrderedDict()
_SHARED_LOCK = threading.Lock()
SHARED_CACHE_SIZE = 16
"""Settings whose shared model is kept in memory (least recently used dropped first; a
session keeps its own setting's model alive)."""


def shared_model(persona: str, ablate: tuple[str, ...], max_turns: int, depth: int) -> SharedModel:
    """The :class:`SharedModel` of a setting (built on first use, then cached).

    Args:
        persona: a persona or ``"mixture"`` (checked).
        ablate: sorted claim ids switched off.
        max_turns: the turn limit.
        depth: depth of the belief-based reference policy.
    """
    key = (persona, tuple(ablate), int(max_turns), int(depth))
    with _SHARED_LOCK:
        if key not in _SHARED:
            context = PolicyContext.create(persona=persona, ablate=ablate, max_turns=max_turns)
            tables = context.tables
            _SHARED[key] = SharedModel(
                key,
                context,
                BeliefPolicy(context, depth),
                random_value(context),
                oracle_value(context),
                conversation_core(tables, context.max_turns),
                [None] * tables.n_states,
            )
            while len(_SHARED) > SHARED_CACHE_SIZE:
                _SHARED.popitem(last=False)
        _SHARED.move_to_end(key)
        return _SHARED[key]


@dataclass(eq=False)
class Session:
    """One conversation of the teaching game.

    Args:
        persona: ``"mixture"`` (default; the persona is drawn and hidden) or one persona name.
        seed: the conversation's seed (``env.reset(seed=...)``); None draws one (shown in
            :meth:`state`, so the same conversation can be played again).
        max_turns: the turn limit.
        ablate: claim ids switched off (``["C4"]``).
        policy: None for a student's game (:meth:`move`); a policy name to replay that
            policy (:meth:`policy_step`), or the path of a trained model
            (``"runs/ppo/mixture/seed0/model.zip"``).
        depth: depth of the belief-based reference policy (0 QMDP, 1 belief lookahead).

    Raises:
        ValueError: for an unknown persona, policy, claim, or a bad seed, turn limit or depth.
    """

    persona: str = "mixture"
    seed: int | None = None
    max_turns: int = DEFAULT_MAX_TURNS
    ablate: Iterable[str] = ()
    policy: str | None = None
    depth: int = 1
    history: list[MoveValues] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.persona = check_persona(self.persona)
        self.seed = secrets.randbelow(1_000_000) if self.seed is None else check_seed(self.seed)
        if self.depth not in BELIEF_DEPTHS or isinstance(self.depth, bool):
            raise ValueError(f"depth={self.depth!r}; allowed: {', '.join(map(str, BELIEF_DEPTHS))}")
        if isinstance(self.max_turns, bool) or not isinstance(self.max_turns, (int, np.integer)) or not (
            1 <= self.max_turns <= MAX_TURNS_LIMIT
        ):
            raise ValueError(f"max_turns={self.max_turns!r}; allowed: an integer from 1 to {MAX_TURNS_LIMIT}")
        self.max_turns = int(self.max_turns)
        self.ablate = tuple(sorted({self.ablate} if isinstance(self.ablate, str) else set(self.ablate or ())))
        if self.policy is not None:
            self.policy = check_policy(self.policy)
        self._shared = shared_model(self.persona, self.ablate, self.max_turns, self.depth)
        self.context = replace(self._shared.context, seed=self.seed)
        self._agent = None
        self._peeks = False
        if self.policy is not None:
            spec = agents.spec(self.policy)
            self._peeks = spec.needs_full_observation
            self._agent = spec.make(spec.context_for(self.context))
        self._lock = threading.RLock()
        # The same random stream as CustomerEnv.reset(seed=seed): the same conversation.
        self._rng = np.random.default_rng(self.seed)
        self._one: One = self._shared.core.reset_one(self._rng.random(), self._rng.random())
        self._return = 0.0
        self._done = False
        self._outcome: str | None = None
        self._lines: list[str] = []
        self._add_lines(None)
        self._memory: Any = None
        self._policy_start = np.ones(1, dtype=bool)
        self._belief_state: Any = None
        self._observe(start=True)

    # ------------------------------------------------------------------ reading
    @property
    def done(self) -> bool:
        """Whether the conversation is over."""
        return self._done

    @property
    def turn(self) -> int:
        """Moves made so far."""
        return self._one[_TURN]

    @property
    def transcript(self) -> list[str]:
        """The transcript lines so far, as ``render_mode="ansi"`` shows them (hidden state not shown)."""
        return list(self._lines)

    @property
    def hidden_state(self) -> dict[str, int | str]:
        """The customer's hidden state now, as named fields (what only a teacher sees)."""
        return self._shared.hidden_state(self._one[_STATE])

    def _shown(self) -> tuple[str, str]:
        """The names of the tone and the reaction the customer shows now."""
        tone, reaction, _ = split_observation_code(self._one[_CODE])
        return Tone(tone).name, Reaction(reaction).name

    def advice(self) -> dict[str, Any] | None:
        """The move values for the next decision (None once the conversation is over).

        Returns:
            ``belief_q`` and ``oracle_q`` (move name -> expected return from here on),
            ``belief_best`` and ``oracle_best`` (move names), and ``believer`` (the name of
            the belief-based policy).
        """
        if self._done:
            return None
        values = MoveValues(self.turn, oracle_q=self._q_oracle, belief_q=self._q_belief)
        return {"believer": self._shared.believer.name, **values.advice()}

    def teacher_view(self) -> dict[str, Any]:
        """What only a teacher sees: the hidden state, the belief and the move values (:meth:`advice`)."""
        hidden = {k: (v if isinstance(v, str) else int(v)) for k, v in self.hidden_state.items()}
        belief = self._belief_state.belief(0, self._shared.context.tables)
        return {
            "hidden": hidden,
            "persona_belief": {k: float(v) for k, v in belief.persona().items()},
            "expected_anger": float(belief.expected("anger")),
            "expected_trust": float(belief.expected("trust")),
            "advice": self.advice(),
        }

    def state(self, teacher: bool = False) -> dict[str, Any]:
        """Everything a screen shows, as plain JSON-ready values.

        Args:
            teacher: include :meth:`teacher_view` (hidden anger and trust, the belief over
                persona, the move values of the oracle and the belief-based reference policy) under ``"teacher"``.

        Returns:
            A dict with ``persona`` (the setting, e.g. ``"mixture"``), ``seed``,
            ``max_turns``, ``ablate``, ``policy`` (None for a student), ``turn``,
            ``done``, ``moves`` (id, key, name of each move), ``transcript`` (lines),
            ``tone`` and ``reaction`` (what the customer shows now), ``played`` (move
            names so far), ``return`` (so far), ``teacher`` (or None) and ``summary``
            (:meth:`summary` once the conversation is over, else None).
        """
        with self._lock:
            return self._state(teacher)

    def _state(self, teacher: bool) -> dict[str, Any]:
        tone, reaction = self._shown()
        return {
            "persona": self.persona,
            "seed": self.seed,
            "max_turns": self.max_turns,
            "ablate": list(self.ablate),
            "policy": self.policy,
            "turn": self.turn,
            "done": self._done,
            "moves": [
                {"id": i, "key": key, "name": name}
                for i, (key, name) in enumerate(zip(MOVE_KEYS, MOVE_NAMES, strict=True))
            ],
            "transcript": self.transcript,
            "tone": tone,
            "reaction": reaction,
            "played": [MOVE_NAMES[d.move] for d in self.history],
            "return": self._return,
            "teacher": self.teacher_view() if teacher else None,
            "summary": self.summary() if self._done else None,
        }

    def first_difference(self) -> MoveValues | None:
        """The first decision whose move was not the belief-based reference policy's best (None if all were)."""
        return next((d for d in self.history if not d.matches_belief), None)

    def summary(self) -> dict[str, Any]:
        """How the conversation went; only once it is over.

        Returns:
            ``outcome``, ``return``, ``normalized_score`` (of this conversation's return:
            ``(return - J_random) / (J_oracle - J_random)``, with the exact expected returns
            of random moves and of the oracle in this context), ``random_value``,
            ``oracle_value``, ``turns``, ``true_persona``, ``player`` (``"you"`` or the
            policy's name), ``matches`` (moves as good as the belief-based reference policy's best),
            ``first_difference`` (a :meth:`MoveValues.as_dict`, or None), ``decisions``
            (every decision) and ``lines`` (the summary in sentences, as the screens show it).

        Raises:
            SessionStateError: if the conversation is not over yet.
        """
        with self._lock:
            return self._summary()

    def _summary(self) -> dict[str, Any]:
        if not self._done:
            raise SessionStateError(
                f"the conversation is not over (turn {self.turn} of {self.max_turns}); the summary comes at the end"
            )
        low, high = self._shared.random_value, self._shared.oracle_value
        first = self.first_difference()
        out = {
            "outcome": self._outcome,
            "return": self._return,
            "normalized_score": (self._return - low) / (high - low) if high - low > 1e-12 else None,
            "random_value": low,
            "oracle_value": high,
            "turns": self.turn,
            "true_persona": str(self.hidden_state["persona"]),
            "player": "you" if self.policy is None else self.policy,
            "believer": self._shared.believer.name,
            "matches": sum(d.matches_belief for d in self.history),
            "first_difference": None if first is None else first.as_dict(),
            "decisions": [d.as_dict() for d in self.history],
        }
        out["lines"] = describe_summary(out)
        return out

    # ------------------------------------------------------------------ acting
    def move(self, move: int | str) -> dict[str, Any]:
        """The student makes ``move`` (an id 0-5 or a move name).

        Returns:
            The decision made, as :meth:`MoveValues.as_dict`.

        Raises:
            ValueError: for a value that is not a move.
            SessionStateError: after the end, or in a policy replay.
        """
        move_id = check_move(move)
        if self.policy is not None:
            raise SessionStateError(f"this session replays policy {self.policy!r}; step it instead of moving")
        with self._lock:
            return self._apply(move_id).as_dict()


    def policy_step(self) -> dict[str, Any]:
        """The replayed policy makes its next move.

        Returns:
            The decision made, as :meth:`MoveValues.as_dict`.

        Raises:
            SessionStateError: for a student's session, or after the end.
        """
        with self._lock:
            if self._agent is None:
                raise SessionStateError("this session has no policy to replay; the student moves")
            if self._done:
                raise SessionStateError(f"the conversation is over ({self._outcome}); start a new one")
            seen = self._shared.core.observe_one(self._one, full=self._peeks)[None]
            action, self._memory = self._agent.predict(seen, self._memory, self._policy_start, True)
            self._policy_start = np.zeros(1, dtype=bool)
            return self._apply(int(np.asarray(action).reshape(-1)[0])).as_dict()

    def _apply(self, move_id: int) -> MoveValues:
        """Step the customer through the shared conversation core, then update the belief."""
        if self._done:
            raise SessionStateError(f"the conversation is over ({self._outcome}); start a new one")
        belief_q, oracle_q, turn = self._q_belief, self._q_oracle, self.turn
        rng = self._rng  # two uniforms per step, as CustomerEnv.step draws them
        self._one, _, reward, terminated, truncated = self._shared.core.step_one(
            self._one, move_id, rng.random(), rng.random()
        )
        self._return += float(reward)
        decision = MoveValues(turn, oracle_q, belief_q, move_id, float(reward))
        self.history.append(decision)
        if terminated or truncated:
            self._done = True
            self._outcome = "timed_out" if truncated else str(self.hidden_state["status"])
        self._add_lines(Move(move_id))
        self._observe(start=False)
        return decision

    def _add_lines(self, move: Move | None) -> None:
        """Add the transcript lines of the turn just taken (the opening for ``move=None``)."""
        tone, reaction, _ = split_observation_code(self._one[_CODE])
        self._lines += turn_lines(
            0,
            self._one[_TURN],
            self.hidden_state,
            Tone(tone),
            Reaction(reaction),
            move,
            outcome=self._outcome,
            episode_return=self._return,
        )

    def _observe(self, start: bool) -> None:
        """Update the belief with the latest observation and compute the move values."""
        believer = self._shared.believer
        flags = np.array([start])
        seen = self._shared.core.observe_one(self._one)[None]
        _, q_belief, self._belief_state = believer.step(seen, self._belief_state, flags)
        self._q_belief = tuple(float(v) for v in q_belief[0])
        solution = believer.solution
        q = solution.q[solution.moves_left(self.turn), self._one[_STATE]]
        self._q_oracle = tuple(float(v) for v in q)


def describe_summary(summary: dict[str, Any]) -> list[str]:
    """The summary in sentences: what the terminal prints and the web page shows.

    Args:
        summary: a :meth:`Session.summary` dict.
    """
    who = summary["player"]
    you = who == "you"
    outcome = str(summary["outcome"]).replace("_", " ")
    score = summary["normalized_score"]
    lines = [
        f"Outcome: {outcome}; return {summary['return']:+.2f} in {summary['turns']} turns.",
        f"Normalized score of this conversation: {'undefined' if score is None else f'{score:.2f}'} "
        f"(0 = random moves, 1 = the oracle's expected return; here {summary['random_value']:+.2f} "
        f"and {summary['oracle_value']:+.2f}).",
        f"The customer was: {summary['true_persona'].replace('_', ' ')}.",
    ]
    first = summary["first_difference"]
    believer = summary["believer"]
    if first is None:
        lines.append(
            f"Every move matched the best move of the belief-based reference policy ({believer}, which sees only what "
            f"{'you' if you else 'the policy'} saw)."
        )
    else:
        if first["oracle_best"] == first["belief_best"]:
            oracle = f"would also have played {first['oracle_best']}"
        elif first["matches_oracle"]:
            oracle = f"rates {first['move']} best here: the hidden state happened to favour it"
        else:
            oracle = f"would have played {first['oracle_best']}"
        lines.append(
            f"Turn {first['turn']}: {'you' if you else who} played {first['move']}; the belief-based reference policy "
            f"({believer}, which saw only what {'you' if you else 'the policy'} saw) would have played "
            f"{first['belief_best']} (value {first['belief_q'][first['belief_best']]:+.3f} against "
            f"{first['belief_q'][first['move']]:+.3f}); the oracle, which sees the hidden state, {oracle}."
        )
    lines.append(
        f"Moves as good as the belief-based reference policy's best: {summary['matches']} of "
        f"{len(summary['decisions'])}."
    )
    return lines



def __getattr__(name: str) -> Any:
    """Deprecated names: ``Decision`` is :class:`~difficult_customer.agents.exact.explain.MoveValues`."""
    if name == "Decision":
        warnings.warn("session.Decision is deprecated; use agents.exact.explain.MoveValues", DeprecationWarning,
                      stacklevel=2)
        return MoveValues
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "MOVE_KEYS",
    "MOVE_NAMES",
    "Session",
    "SessionStateError",
    "check_move",
    "check_persona",
    "check_policy",
    "check_seed",
    "describe_summary",
    "moves_help",
    "parse_key",
]
