"""The batched difficult-customer environment: ``gym.make_vec("DifficultCustomer-v0", ...)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from difficult_customer.customer_models import (
    FACTORS,
    REWARD_TERMS,
    Mixture,
    Outcome,
    Persona,
    Rewards,
    Tables,
    compile_model,
)
from difficult_customer.customer_models.vocabulary import N_MOVES, N_TONES
from difficult_customer.envs import observation as obs_layout
from difficult_customer.envs.customer_env import (
    DEFAULT_MAX_TURNS,
    check_max_turns,
    check_observation_mode,
    make_rewards,
)
from difficult_customer.envs.observation import START_HISTORY, ObservationLookup, observation_lookup
from difficult_customer.envs.sampling import sampler_for

INFO_KEYS: tuple[str, ...] = (
    "hidden_state",
    "state_index",
    "turn",
    "tone",
    "reaction",
    "reward_terms",
    "outcome",
    "return",
)
"""Keys ``info_keys=`` may ask for (``"all"`` asks for every one)."""

_NO_MOVE = N_MOVES
"""Move code of "no move yet" (the single env's ``last_move == -1``); in a step, a restart."""
_STATUS = FACTORS.index("status")
_SOLVED = FACTORS.index("solved")
_UNSIGNED = {np.dtype(f"i{size}"): np.dtype(f"u{size}") for size in (1, 2, 4, 8)}

# The observation is [tone, reaction, solved | turn | last move, counts]: two lookups and the turn.
assert obs_layout.TONE.start == 0 and obs_layout.REACTION.start == obs_layout.TONE.stop
assert obs_layout.REACTION.stop == obs_layout.SOLVED and obs_layout.TURN == obs_layout.SOLVED + 1
assert obs_layout.LAST_MOVE.start == obs_layout.TURN + 1 and obs_layout.COUNTS.start == obs_layout.LAST_MOVE.stop
assert obs_layout.COUNTS.stop == obs_layout.PARTIAL_SIZE


def check_num_envs(num_envs: Any) -> int:
    """Validate the number of customers (an int >= 1)."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"num_envs={num_envs!r}; allowed is an integer >= 1")
    return int(num_envs)


def check_info_keys(info_keys: Iterable[str] | str | None) -> tuple[str, ...]:
    """Validate the info keys to report: None or ``()`` for none, ``"all"``, or names from :data:`INFO_KEYS`."""
    if info_keys is None:
        return ()
    if info_keys == "all":
        return INFO_KEYS
    if isinstance(info_keys, str):
        info_keys = [info_keys]
    keys = tuple(info_keys)
    for key in keys:
        if key not in INFO_KEYS:
            raise ValueError(f"unknown info key {key!r}; allowed: 'all' or any of {', '.join(INFO_KEYS)}")
    return tuple(k for k in INFO_KEYS if k in keys)


class CustomerVectorEnv(VectorEnv):
    """``num_envs`` conversations with a difficult customer, stepped at once with numpy.

    ## Description

    The batched twin of :class:`~envs.customer_env.CustomerEnv` (read its docstring for
    the customer, the moves and the rewards; this one documents what differs). All
    customers step together: one batch of uniforms per step is turned into successors
    and tones by lookups in the same cumulative tables the single env samples from
    (:mod:`difficult_customer.envs.sampling`), and the observations are assembled from lookup tables
    built with :func:`difficult_customer.envs.observation.encode`. There is no Python loop over customers;
    the hidden states are integer arrays. For a given seed the sequence of episodes
    differs from the single env's (one generator is shared by all customers), but the
    distributions are the same, and with ``num_envs=1`` the trajectories are the single
    env's for the same seed and actions.

    ## Action Space

    ``MultiDiscrete([6] * num_envs)``: one move per customer, ids as in the single env
    (listen, empathize, apologize, offer_options, set_boundary, follow_up).

    ## Observation Space

    ``Box(0, 1, (num_envs, 30), float32)`` (``observation="partial"``), each row laid out
    as the single env's observation (``difficult_customer.envs.observation``); ``observation="full"``
    appends the hidden state one-hot.

    ## Rewards

    As in the single env: ``rewards`` weights the named terms. Rewards are float64.

    ## Starting State

    As in the single env, drawn for each customer independently.

    ## Episode End

    Per customer, as in the single env: termination when the customer leaves (solved,
    walked away, dialogue ended after abuse), truncation at ``max_turns``. Autoreset is
    ``AutoresetMode.NEXT_STEP`` (``metadata["autoreset_mode"]``): the step after a
    customer's episode ended ignores that customer's action and returns the first
    observation of a new conversation, with reward 0 and ``terminated`` and
    ``truncated`` False. ``reset(options={"reset_mask": mask})`` restarts only the
    customers where ``mask`` is True (and cancels their pending autoreset).

    ## Information

    Only what ``info_keys`` asks for (default none: ``{}``), gymnasium's vector style:
    ``info[key]`` is an array over customers and ``info["_" + key]`` a bool mask of the
    customers it holds for. Values are ids rather than the single env's names:

    - ``"hidden_state"``: a dict of factor name -> int array (``persona`` is the index
      into ``tables.persona_names``, ``status`` an :class:`~customer_models.Outcome`,
      ``abuse`` an :class:`~customer_models.Abuse` id), with its own ``_`` masks.
    - ``"state_index"``, ``"turn"``, ``"tone"`` (:class:`~customer_models.Tone` id):
      every customer.
    - ``"reaction"`` (:class:`~customer_models.Reaction` id) and ``"reward_terms"``
      (a dict of term name -> float32 array): customers that made a move this step
      (not those that were just reset, as in the single env's reset info).
    - ``"outcome"`` (:class:`~customer_models.Outcome` id, ``timed_out`` when
      truncated) and ``"return"`` (float64): customers whose episode ended this step.

    ``Outcome(info["outcome"][i]).name`` gives the single env's string.

    ## Arguments

    - ``num_envs``: number of customers (>= 1).
    - ``persona``, ``ablate``, ``max_turns``, ``observation``, ``rewards``: as in the
      single env.
    - ``max_episode_steps``: what ``gym.make_vec`` passes as the turn limit; used as
      ``max_turns`` when given (and then ``max_turns`` must be left out or equal).
    - ``info_keys``: names from :data:`INFO_KEYS`, or ``"all"``.
    - ``render_mode``: only ``None`` (use the single env for transcripts).

    ## Version History

    - v0: first release.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(
        self,
        num_envs: int = 1,
        persona: str | Persona | Mixture = "mixture",
        ablate: Iterable[str] | None = None,
        max_turns: int | None = None,
        observation: str = "partial",
        rewards: Rewards | Mapping[str, float] | None = None,
        info_keys: Iterable[str] | str | None = None,
        max_episode_steps: int | None = None,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError(f"render_mode={render_mode!r}; allowed: None (render the single env for transcripts)")
        self.num_envs = check_num_envs(num_envs)
        if max_episode_steps is not None:
            max_episode_steps = check_max_turns(max_episode_steps)
            if max_turns is not None and check_max_turns(max_turns) != max_episode_steps:
                raise ValueError(
                    f"max_turns={max_turns!r} and max_episode_steps={max_episode_steps!r} disagree; "
                    "allowed is one of them, or both equal"
                )
            max_turns = max_episode_steps
        self.max_turns = check_max_turns(DEFAULT_MAX_TURNS if max_turns is None else max_turns)
        self.observation_mode = check_observation_mode(observation)
        self.info_keys = check_info_keys(info_keys)
        self.tables: Tables = compile_model(persona, ablate, make_rewards(rewards))
        self.n_personas = len(self.tables.persona_names)
        self._sampler = sampler_for(self.tables)
        self._flat = self._sampler.flat
        self._build_lookups()

        size = obs_layout.PARTIAL_SIZE
        if self.observation_mode == "full":
            size += obs_layout.hidden_size(self.n_personas)
        self.single_action_space = spaces.Discrete(N_MOVES)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_observation_space = spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._started = False

    # ------------------------------------------------------------ lookups
    def _build_lookups(self) -> None:
        """Per-slot outcomes of the flat transition table, and the observation lookups."""
        t, flat = self.tables, self._flat
        n_slots = flat.next_state.shape[0]
        from_move = flat.source >= 0
        source = np.where(from_move, flat.source, 0)
        assert flat.restart == _NO_MOVE
        solved = t.factors[flat.next_state, _SOLVED].astype(np.intp)
        reaction = np.where(from_move, t.next_reaction.ravel()[source], t.opening_reaction[flat.next_state])
        self._slot_reward = np.where(from_move, t.reward.ravel()[source], 0.0)
        self._slot_terminal = t.terminal[flat.next_state].copy()
        assert not self._slot_terminal[~from_move].any(), "a start state is terminal"
        # What the customer shows, but for the tone (drawn after the slot and added on).
        self._slot_face = ObservationLookup.face(reaction.astype(np.intp), solved, 0)
        assert self._slot_face.shape == (n_slots,)

        lookup = observation_lookup(self.max_turns)
        self._lookup_a = _as_rows(lookup.head)
        self._turn_fraction = lookup.turn_fraction
        self._lookup_b = _as_rows(lookup.tail)
        self._next_history = lookup.next_history
        self._lookup_hidden = None
        fields = [("a", self._lookup_a.dtype), ("turn", np.float32), ("b", self._lookup_b.dtype)]
        if self.observation_mode == "full":
            self._lookup_hidden = _as_rows(obs_layout.hidden_one_hot(t.factors, self.n_personas))
            fields.append(("hidden", self._lookup_hidden.dtype))
        self._row_dtype = np.dtype(fields)

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start new conversations: all of them, or those in ``options["reset_mask"]``.

        Args:
            seed: seeds the generator shared by all customers.
            options: ``{"reset_mask": bool array (num_envs,)}`` restarts only those customers.

        Returns:
            The observations of all customers and the infos of the restarted ones.
        """
        super().reset(seed=seed)
        mask = _check_reset_mask((options or {}).get("reset_mask"), self.num_envs)
        if mask is None or not self._started:
            n = self.num_envs
            # Integer state of each customer; intp, since most of it indexes lookup tables.
            self._state = np.zeros(n, dtype=np.intp)
            self._face = np.zeros(n, dtype=np.intp)
            self._turn = np.zeros(n, dtype=np.intp)
            self._history = np.zeros(n, dtype=np.intp)
            self._return = np.zeros(n)
            self._autoreset = np.zeros(n, dtype=bool)
            self._started = True
            mask = np.ones(n, dtype=bool)
        rows = np.flatnonzero(mask)
        u = self.np_random.random((2, rows.size))
        slot = self._flat.sample(np.full(rows.size, self._flat.row(0, _NO_MOVE), dtype=np.intp), u[0])
        state = self._flat.next_state.take(slot)
        self._state[rows] = state
        self._face[rows] = self._sampler.add_tones(state, u[1], self._slot_face.take(slot))
        self._turn[rows] = 0
        self._history[rows] = START_HISTORY
        self._return[rows] = 0.0
        self._autoreset[rows] = False
        infos = self._infos(mask, moved=None, done=None, slot=None, truncated=None) if self.info_keys else {}
        return self._observe(), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Make one move per customer (ignored for customers being autoreset).

        Returns:
            ``(observations, rewards, terminated, truncated, infos)``, arrays over customers.
        """
        if not self._started:
            raise RuntimeError("step() called before reset(); call envs.reset() first")
        moves = self._check_actions(actions)
        restart = self._autoreset
        moves = np.where(restart, _NO_MOVE, moves)  # the restart rows of the flat table: a new customer
        u = self.np_random.random((2, self.num_envs))  # successor (or start state), then tone
        slot = self._flat.sample(self._flat.row(self._state, moves), u[0])
        self._state = self._flat.next_state.take(slot)
        self._face = self._sampler.add_tones(self._state, u[1], self._slot_face.take(slot))
        self._history = self._next_history.take(self._history * (N_MOVES + 1) + moves)
        self._turn = np.where(restart, 0, self._turn + 1)
        reward = self._slot_reward.take(slot)
        terminated = self._slot_terminal.take(slot)
        done = terminated | (self._turn >= self.max_turns)
        truncated = done ^ terminated
        self._autoreset = done
        infos: dict[str, Any] = {}
        if self.info_keys:
            if "return" in self.info_keys:
                self._return[restart] = 0.0
                self._return += reward
            everyone = np.ones(self.num_envs, dtype=bool)
            infos = self._infos(everyone, moved=~restart, done=done.copy(), slot=slot, truncated=truncated)
        return self._observe(), reward, terminated, truncated, infos

    def render(self) -> None:
        """Not supported: render a single env (``gym.make(..., render_mode="ansi")``) for transcripts."""
        raise NotImplementedError(
            "CustomerVectorEnv does not render; use gym.make('DifficultCustomer-v0', render_mode='ansi')"
        )

    @property
    def state_indices(self) -> np.ndarray:
        """Rows of the tables for the customers' hidden states (a copy)."""
        if not self._started:
            raise RuntimeError("no states before reset(); call envs.reset() first")
        return self._state.copy()

    # ------------------------------------------------------------ helpers
    def _check_actions(self, actions: Any) -> np.ndarray:
        moves = np.asarray(actions)
        if moves.shape != (self.num_envs,) or moves.dtype.kind not in "iu":
            raise ValueError(
                f"actions of shape {moves.shape} and dtype {moves.dtype}; allowed: integers of shape ({self.num_envs},)"
            )
        unsigned = moves.view(_UNSIGNED[moves.dtype]) if moves.dtype.kind == "i" else moves
        if unsigned.max() >= N_MOVES:  # negative moves are huge as unsigned: one pass checks both ends
            bad = moves[(moves < 0) | (moves >= N_MOVES)][0]
            raise ValueError(f"action {int(bad)} is outside the action space; allowed: 0-{N_MOVES - 1}")
        return moves

    def _observe(self) -> np.ndarray:
        """Observations of all customers from their integer state, by table lookups."""
        obs = np.empty(self.observation_space.shape, dtype=np.float32)
        rows = obs.view(self._row_dtype).reshape(self.num_envs)
        rows["a"] = self._lookup_a.take(self._face)
        rows["turn"] = self._turn_fraction.take(self._turn)
        rows["b"] = self._lookup_b.take(self._history)
        if self._lookup_hidden is not None:
            rows["hidden"] = self._lookup_hidden.take(self._state)
        return obs

    def _infos(
        self,
        present: np.ndarray,
        moved: np.ndarray | None,
        done: np.ndarray | None,
        slot: np.ndarray | None,
        truncated: np.ndarray | None,
    ) -> dict[str, Any]:
        """Vector infos for the keys asked for; ``moved``/``done`` are None after a reset."""
        keys, infos = self.info_keys, {}
        nobody = np.zeros(self.num_envs, dtype=bool)

        def put(key: str, value: Any, mask: np.ndarray) -> None:
            infos[key], infos["_" + key] = value, mask

        if "hidden_state" in keys:
            factors = self.tables.factors.take(self._state, axis=0).astype(np.int64)
            put("hidden_state", _masked_dict(FACTORS, factors.T, present), present)
        if "state_index" in keys:
            put("state_index", self._state.astype(np.int64), present)
        if "turn" in keys:
            put("turn", self._turn.astype(np.int64), present)
        if "tone" in keys:
            put("tone", (self._face % N_TONES).astype(np.int64), present)
        moved = nobody if moved is None else moved
        if "reaction" in keys:
            put("reaction", np.where(moved, self._face // (2 * N_TONES), 0).astype(np.int64), moved)
        if "reward_terms" in keys:
            if slot is None:
                terms = np.zeros((self.num_envs, len(REWARD_TERMS)), dtype=np.float32)
            else:
                source = np.where(moved, self._flat.source.take(slot), 0)
                terms = self.tables.reward_terms.reshape(-1, len(REWARD_TERMS)).take(source, axis=0)
                terms[~moved] = 0.0
            put("reward_terms", _masked_dict(REWARD_TERMS, terms.T, moved), moved)
        done = nobody if done is None else done
        if "outcome" in keys:
            status = self.tables.factors[self._state, _STATUS].astype(np.int64)
            outcome = np.where(truncated, int(Outcome.timed_out), status) if truncated is not None else status
            put("outcome", np.where(done, outcome, 0), done)
        if "return" in keys:
            put("return", np.where(done, self._return, 0.0), done)
        return infos


def _as_rows(block: np.ndarray) -> np.ndarray:
    """A 2-d float32 array as a 1-d array of opaque rows, for fast row lookups with ``take``."""
    block = np.ascontiguousarray(block, dtype=np.float32)
    return block.view(np.dtype((np.void, block.shape[1] * block.itemsize))).ravel()


def _masked_dict(names: Iterable[str], columns: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, column in zip(names, columns, strict=True):
        out[name] = np.ascontiguousarray(column)
        out["_" + name] = mask
    return out


def _check_reset_mask(mask: Any, num_envs: int) -> np.ndarray | None:
    """Validate ``options["reset_mask"]`` as gymnasium's ``SyncVectorEnv`` does."""
    if mask is None:
        return None
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_:
        raise ValueError(f"options['reset_mask']={mask!r}; allowed: a numpy bool array of shape ({num_envs},)")
    if mask.shape != (num_envs,):
        raise ValueError(f"options['reset_mask'] has shape {mask.shape}; allowed: ({num_envs},)")
    if not mask.any():
        raise ValueError("options['reset_mask'] is all False; allowed: at least one True")
    return mask
