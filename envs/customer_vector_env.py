"""The batched difficult-customer environment: ``gym.make_vec("DifficultCustomer-v0", ...)``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

import difficult_customer.envs.observation as obs_layout
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
from difficult_customer.customer_models.vocabulary import N_MOVES
from difficult_customer.envs.core import Conversations, conversation_core, split_observation_code
from difficult_customer.envs.customer_env import (
    DEFAULT_MAX_TURNS,
    check_max_turns,
    check_observation_mode,
    make_rewards,
)

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

_STATUS = FACTORS.index("status")


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
    customers step together through the conversation core
    (:meth:`difficult_customer.envs.core.ConversationCore.step`): one batch of uniforms per step is
    turned into successors and tones by lookups in the alias tables the single env samples
    from (:class:`difficult_customer.envs.sampling.JointAlias`), and the observations are assembled
    from lookup tables built with
    :func:`difficult_customer.envs.observation.encode`. There is no Python loop over customers; the
    hidden states are integer arrays (:class:`~envs.core.Conversations`). For a given seed
    the sequence of episodes differs from the single env's (one generator is shared by
    all customers), but the distributions are the same, and with ``num_envs=1`` the
    trajectories are the single env's for the same seed and actions.

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
    - ``"outcome"`` (:class:`~customer_models.Outcome` id: ``ongoing`` until the end,
      ``timed_out`` when truncated) and ``"return"`` (float64, the conversation's
      reward so far; its return at the end): every customer, at every step and reset,
      as in the single env. A customer restarted by autoreset is ``ongoing`` with
      return 0.

    ``Outcome(info["outcome"][i]).name`` gives the single env's string. The env can be
    copied (``copy.deepcopy``) and pickled at any point; the copy goes on with the same
    conversations and the same random stream.

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
        self._core = conversation_core(self.tables, self.max_turns)

        size = obs_layout.PARTIAL_SIZE
        if self.observation_mode == "full":
            size += obs_layout.hidden_size(self.n_personas)
        self.single_action_space = spaces.Discrete(N_MOVES)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.single_observation_space = spaces.Box(0.0, 1.0, shape=(size,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self._conv: Conversations | None = None
        self._return = np.zeros(self.num_envs)

    def __getstate__(self) -> dict[str, Any]:
        """Everything but the tables and the core, which are rebuilt from the model (cached)."""
        state = self.__dict__.copy()
        del state["tables"], state["_core"]
        state["_model"] = (self.tables.mixture, sorted(self.tables.ablate), self.tables.rewards)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        mixture, ablate, rewards = state.pop("_model")
        self.__dict__.update(state)
        self.tables = compile_model(mixture, ablate, rewards)
        self._core = conversation_core(self.tables, self.max_turns)

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
        rng = self.np_random
        if mask is None or self._conv is None:
            mask = np.ones(self.num_envs, dtype=bool)
            self._conv = self._core.reset(rng.random((2, self.num_envs)))
            self._return = np.zeros(self.num_envs)
        else:
            self._conv = self._core.reset_rows(self._conv, mask, rng.random((2, int(mask.sum()))))
            self._return = np.where(mask, 0.0, self._return)
        infos = self._infos(mask, moved=None, slot=None, truncated=None) if self.info_keys else {}
        return self._observe(), infos

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Make one move per customer (ignored for customers being autoreset).

        Returns:
            ``(observations, rewards, terminated, truncated, infos)``, arrays over customers.

        Raises:
            ValueError: for actions of another shape or outside 0-5.
        """
        if self._conv is None:
            raise RuntimeError("step() called before reset(); call envs.reset() first")
        self._conv, step = self._core.step(self._conv, actions, self.np_random.random((2, self.num_envs)))
        infos: dict[str, Any] = {}
        if self.info_keys:
            if "return" in self.info_keys:
                self._return = np.where(step.restarted, 0.0, self._return) + step.reward
            everyone = np.ones(self.num_envs, dtype=bool)
            infos = self._infos(everyone, moved=~step.restarted, slot=step.slot, truncated=step.truncated)
        return self._observe(), step.reward, step.terminated, step.truncated, infos

    def render(self) -> None:
        """Not supported: render a single env (``gym.make(..., render_mode="ansi")``) for transcripts."""
        raise NotImplementedError(
            "CustomerVectorEnv does not render; use gym.make('DifficultCustomer-v0', render_mode='ansi')"
        )

    @property
    def state_indices(self) -> np.ndarray:
        """Rows of the tables for the customers' hidden states (a copy)."""
        if self._conv is None:
            raise RuntimeError("no states before reset(); call envs.reset() first")
        return self._conv.state.copy()

    # ------------------------------------------------------------ helpers
    def _observe(self) -> np.ndarray:
        """Observations of all customers from their integer state, by table lookups."""
        return self._core.observe(self._conv, self.observation_mode == "full")

    def _infos(
        self,
        present: np.ndarray,
        moved: np.ndarray | None,
        slot: np.ndarray | None,
        truncated: np.ndarray | None,
    ) -> dict[str, Any]:
        """Vector infos for the keys asked for; ``moved``, ``slot`` and ``truncated`` are None after a reset."""
        keys, infos, conv = self.info_keys, {}, self._conv
        nobody = np.zeros(self.num_envs, dtype=bool)
        everyone = np.ones(self.num_envs, dtype=bool)

        def put(key: str, value: Any, mask: np.ndarray) -> None:
            infos[key], infos["_" + key] = value, mask

        if "hidden_state" in keys:
            factors = self.tables.factors.take(conv.state, axis=0).astype(np.int64)
            put("hidden_state", _masked_dict(FACTORS, factors.T, present), present)
        if "state_index" in keys:
            put("state_index", conv.state.astype(np.int64), present)
        if "turn" in keys:
            put("turn", conv.turn.astype(np.int64), present)
        tone, reaction, _ = split_observation_code(conv.code)
        if "tone" in keys:
            put("tone", tone.astype(np.int64), present)
        moved = nobody if moved is None else moved
        if "reaction" in keys:
            put("reaction", np.where(moved, reaction, 0).astype(np.int64), moved)
        if "reward_terms" in keys:
            if slot is None:
                terms = np.zeros((self.num_envs, len(REWARD_TERMS)), dtype=np.float32)
            else:
                source = np.where(moved, self._core.flat.source.take(slot), 0)
                terms = self.tables.reward_terms.reshape(-1, len(REWARD_TERMS)).take(source, axis=0)
                terms[~moved] = 0.0
            put("reward_terms", _masked_dict(REWARD_TERMS, terms.T, moved), moved)
        if "outcome" in keys:
            status = self.tables.factors[conv.state, _STATUS].astype(np.int64)
            outcome = status if truncated is None else np.where(truncated, int(Outcome.timed_out), status)
            put("outcome", outcome, everyone)
        if "return" in keys:
            put("return", self._return.copy(), everyone)
        return infos


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
