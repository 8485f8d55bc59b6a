"""Every policy behind one interface: ``difficult_customer.agents.make(name)``, ``difficult_customer.agents.names()``.

Scripted policies (guides, baselines, adaptive rules) read only the observation and
need only numpy. Every policy has a :class:`PolicySpec` saying what it is: its kind,
what it decides on and whether it has memory. Trained stable-baselines3
models register like any other policy, ``register_model("runs/.../model.zip")``, or are
named by their path (needs the ``train`` extra to load). The pretrained agents listed in
``agents/pretrained/pretrained.json`` (``ppo_converged``, ``recurrent_converged``) register on
import and play in numpy (see docs/pretrained.md); none are registered if that file is absent.
"""

if __name__ != "difficult_customer.agents":  # a checkout's folder imported under a second, top-level name
    raise ImportError(
        f"this package is difficult_customer.agents, imported here as {__name__!r}; install the project "
        "(pip install -e .) and import difficult_customer.agents"
    )

import difficult_customer.agents.exact as exact
import difficult_customer.agents.registry as registry
from difficult_customer.agents.adaptive import ToneReader
from difficult_customer.agents.base import ObservationPolicy, Policy, PolicyContext
from difficult_customer.agents.baselines import ApologySpam, RandomPolicy, SolutionFirst, make_random
from difficult_customer.agents.deprecation import module_aliases
from difficult_customer.agents.guides import GUIDE_SCRIPTS, GuidePolicy, GuideScript
from difficult_customer.agents.learned import (
    ALGORITHMS,
    LearnedPolicy,
    load_model_spec,
    model_spec,
    register_model,
    register_pretrained,
)
from difficult_customer.agents.numpy_networks import NumpyNetworkPolicy
from difficult_customer.agents.registry import DECIDES_ON, KINDS, PolicySpec, make, names, register, spec

register("random", make_random, "uniformly random moves (normalized score 0)", "baseline")
register("solution_first", lambda ctx: SolutionFirst(), SolutionFirst.__doc__.splitlines()[0], "baseline")
register("apology_spam", lambda ctx: ApologySpam(), ApologySpam.__doc__.splitlines()[0], "baseline")
for _name, _script in GUIDE_SCRIPTS.items():
    register(_name, lambda ctx, s=_script: GuidePolicy(s), f"guide {_script.source}: {_script.summary}", "guide")
register("tone_reader", lambda ctx: ToneReader(), ToneReader.__doc__.splitlines()[0], "adaptive")
for _name, _factory, _description, _kind, _decides_on, _memory in exact.POLICIES:
    register(_name, _factory, _description, _kind, decides_on=_decides_on, memory=_memory)
registry.set_model_loader(load_model_spec)  # a policy named by a model's path is loaded and registered
register_pretrained()  # agents/pretrained/pretrained.json: none if it is absent or empty

__getattr__ = module_aliases(__name__, {"OBSERVATIONS": ("DECIDES_ON", DECIDES_ON)})

__all__ = [
    "ALGORITHMS",
    "GUIDE_SCRIPTS",
    "DECIDES_ON",
    "KINDS",
    "ApologySpam",
    "GuidePolicy",
    "GuideScript",
    "LearnedPolicy",
    "NumpyNetworkPolicy",
    "ObservationPolicy",
    "Policy",
    "PolicyContext",
    "PolicySpec",
    "RandomPolicy",
    "SolutionFirst",
    "ToneReader",
    "make",
    "model_spec",
    "names",
    "register",
    "register_model",
    "register_pretrained",
    "spec",
]
