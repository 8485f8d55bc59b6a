"""Stable-baselines3's ``VecEnv`` interface on the batched customer environment.

Needs stable-baselines3 (``pip install difficult-customer[train]``); it is imported
here only, so the rest of ``difficult_customer.envs`` works without it::

    from stable_baselines3 import PPO
    from difficult_customer.envs.sb3_vec_env import CustomerSB3VecEnv

    model = PPO("MlpPolicy", CustomerSB3VecEnv(num_envs=16, persona="mixture"), n_steps=64)
    model.learn(10_000)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

try:
    from stable_baselines3.common.vec_env import VecEnv
    from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn
except ImportError as error:  # pragma: no cover - depends on the install
    raise ImportError(
        "difficult_customer.envs.sb3_vec_env needs stable-baselines3; "
        "install it with `pip install difficult-customer[train]`"
    ) from error

from difficult_customer.envs.customer_vector_env import CustomerVectorEnv


class CustomerSB3VecEnv(VecEnv):
    """A gymnasium vector env of customers seen through SB3's ``VecEnv`` interface.

    SB3 expects what its ``DummyVecEnv`` does: a customer whose conversation ended is
    reset in the same step, the returned observation is the new conversation's first,
    and that customer's info holds the last observation of the old one under
    ``"terminal_observation"`` and ``"TimeLimit.truncated"`` (True when the turn limit
    ended it). The batched env autoresets on the next step instead
    (``AutoresetMode.NEXT_STEP``), so after a step with ended conversations this
    adapter restarts just those customers with ``reset(options={"reset_mask": done})``.
    Infos of customers whose conversation goes on are empty dicts.

    Rewards are returned as float32, as SB3's own vector envs do. Attributes and
    methods are those of the single batched env underneath, shared by all customers:
    ``get_attr(name)`` gives the same value for every index, ``set_attr`` sets it for
    all, and ``env_method`` calls the method once and repeats its result.

    Args:
        num_envs: number of customers, when the batched env is built here.
        venv: an existing gymnasium vector env with next-step autoreset and
            ``reset_mask`` support (a :class:`CustomerVectorEnv`, or e.g. a
            ``SyncVectorEnv`` of single envs); then give no other arguments.
        **env_kwargs: arguments of :class:`CustomerVectorEnv` (``persona``,
            ``ablate``, ``max_turns``, ``observation``, ``rewards``, ...).

    Raises:
        ValueError: if ``venv`` is combined with other arguments or autoresets otherwise.
    """

    def __init__(self, num_envs: int = 1, *, venv: VectorEnv | None = None, **env_kwargs: Any) -> None:
        if venv is None:
            venv = CustomerVectorEnv(num_envs, **env_kwargs)
        elif env_kwargs or num_envs not in (1, venv.num_envs):
            raise ValueError(
                f"venv given together with num_envs={num_envs!r} / {sorted(env_kwargs)}; "
                "allowed: either venv alone, or arguments to build one"
            )
        mode = venv.metadata.get("autoreset_mode")
        if mode != AutoresetMode.NEXT_STEP:
            raise ValueError(f"venv autoreset_mode={mode!r}; allowed: AutoresetMode.NEXT_STEP")
        self.venv = venv
        self._actions: np.ndarray | None = None
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)

    def reset(self) -> VecEnvObs:
        """Start every conversation, with the seed and options set by ``seed()``/``set_options()``."""
        seed = self._seeds[0]  # one generator serves all customers: SB3's per-env seeds are seed + i
        options = self._options[0] or None
        obs, infos = self.venv.reset(seed=seed, options=options)
        self.reset_infos = [{} for _ in range(self.num_envs)]
        self._reset_seeds()
        self._reset_options()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions)

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async(actions)")
        obs, rewards, terminated, truncated, _ = self.venv.step(self._actions)
        self._actions = None
        dones = terminated | truncated
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if dones.any():
            for i in np.flatnonzero(dones).tolist():
                infos[i]["terminal_observation"] = obs[i].copy()
                infos[i]["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
            obs, _ = self.venv.reset(options={"reset_mask": dones})
        return obs, rewards.astype(np.float32), dones, infos

    def close(self) -> None:
        self.venv.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The batched env's attribute, once per index."""
        return [getattr(self.venv, attr_name)] * len(self._indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the batched env (shared by all customers, whatever ``indices``)."""
        setattr(self.venv, attr_name, value)

    def env_method(
        self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any
    ) -> list[Any]:
        """Call a method of the batched env once; its result is repeated for each index."""
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result] * len(self._indices(indices))

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """False for every index: the customers are rows of one env, not wrapped gymnasium envs."""
        return [False] * len(self._indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [None] * self.num_envs

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        if indices is None:
            return list(range(self.num_envs))
        if isinstance(indices, int):
            return [indices]
        assert isinstance(indices, Iterable)
        return list(indices)
