"""Gymnasium environments of a difficult customer.

Importing this package registers ``DifficultCustomer-v0``::

    import gymnasium as gym
    from difficult_customer import envs  # noqa: F401  (registers the id)

    env = gym.make("DifficultCustomer-v0", persona="mixture", render_mode="ansi")
"""

if __name__ != "difficult_customer.envs":  # a checkout's folder imported under a second, top-level name
    raise ImportError(
        f"this package is difficult_customer.envs, imported here as {__name__!r}; install the project "
        "(pip install -e .) and import difficult_customer.envs"
    )

from gymnasium.envs.registration import register, registry

from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS, MOVE_NAMES, CustomerEnv
from difficult_customer.envs.customer_vector_env import CustomerVectorEnv

ENV_ID = "DifficultCustomer-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="difficult_customer.envs.customer_env:CustomerEnv",
        vector_entry_point="difficult_customer.envs.customer_vector_env:CustomerVectorEnv",
        kwargs={"persona": "mixture"},  # the turn limit is the env's own max_turns
    )

__all__ = ["DEFAULT_MAX_TURNS", "ENV_ID", "MOVE_NAMES", "CustomerEnv", "CustomerVectorEnv"]
