"""Gymnasium environments of a difficult customer.

Importing this package registers ``DifficultCustomer-v0``::

    import gymnasium as gym
    import envs  # noqa: F401  (registers the id)

    env = gym.make("DifficultCustomer-v0", persona="mixture", render_mode="ansi")
"""

from gymnasium.envs.registration import register, registry

from envs.customer_env import DEFAULT_MAX_TURNS, MOVE_NAMES, CustomerEnv
from envs.customer_vector_env import CustomerVectorEnv

ENV_ID = "DifficultCustomer-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="envs.customer_env:CustomerEnv",
        vector_entry_point="envs.customer_vector_env:CustomerVectorEnv",
        kwargs={"persona": "mixture"},  # the turn limit is the env's own max_turns
    )

__all__ = ["DEFAULT_MAX_TURNS", "ENV_ID", "MOVE_NAMES", "CustomerEnv", "CustomerVectorEnv"]
