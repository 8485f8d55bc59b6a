"""Training one stable-baselines3 run as library code (:func:`train`); a budget's worth is ``sweep.trainings``.

Hyperparameters come from ``experiments/configs/<algo>.yaml``, written in
rl-baselines3-zoo's format (nested under the env id, so the zoo trains with the same
file), and are overridden per run. A run writes, in its own folder
``<out>/<algo>/<persona>[__ablate-C4]/seed<seed>/``: ``model.zip``, ``config.json``
(everything needed to reproduce it, versions included), ``curve.json`` (evaluation
returns against environment steps) and last ``result.json``, atomically. A run whose
``result.json`` matches its settings is skipped, so repeating an interrupted command
continues where it stopped.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import itertools
import json
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np

from difficult_customer import agents
from difficult_customer.agents import PolicyContext
from difficult_customer.agents.exact.belief_input import BeliefInputPolicy, make_belief_vec_env
from difficult_customer.agents.exact.memoryless_value import memoryless_value
from difficult_customer.agents.learned import ALGORITHMS, algorithm_class
from difficult_customer.customer_models import PERSONA_NAMES, Mixture, check_ablate
from difficult_customer.customer_models.space import space_for
from difficult_customer.envs import ENV_ID
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.envs.sb3_vec_env import CustomerSB3VecEnv
from difficult_customer.experiments.library.budgets import train_eval_seeds
from difficult_customer.experiments.library.io import atomic_write_json, read_json
from difficult_customer.experiments.library.rollouts import run_episodes

ZOO_ONLY_KEYS = ("n_envs", "n_timesteps", "normalize", "env_wrapper", "vec_env_wrapper", "frame_stack", "callback",
                 "env_kwargs", "monitor_kwargs")
"""Keys of a zoo hyperparameter entry that configure the zoo's run, not the algorithm."""


def load_hyperparameters(algo: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The versioned YAML hyperparameters of ``algo`` with ``overrides`` applied.

    Raises:
        ValueError: for an unknown algorithm, a malformed file, or an override key the
            algorithm does not take (listing the keys it takes).
    """
    import yaml  # optional extra (train)

    if algo not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algo!r}; allowed: {', '.join(ALGORITHMS)}")
    config_file = resources.files("difficult_customer.experiments").joinpath("configs", f"{algo}.yaml")
    text = config_file.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"configs/{algo}.yaml is not valid YAML: {err}") from err
    if not isinstance(data, dict) or not isinstance(data.get(ENV_ID), dict):
        raise ValueError(f"configs/{algo}.yaml must hold {ENV_ID}: a mapping of hyperparameter -> value "
                         "(rl-baselines3-zoo's format)")
    params = {k: v for k, v in data[ENV_ID].items() if k not in ZOO_ONLY_KEYS}
    params.update(overrides or {})
    allowed = set(inspect.signature(algorithm_class(algo).__init__).parameters) - {"self", "env"}
    for key in params:
        if key not in allowed:
            raise ValueError(f"unknown hyperparameter {key!r} for {algo}; allowed: {', '.join(sorted(allowed))}")
    return params


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """``["learning_rate=1e-3", "policy_kwargs={net_arch: [32]}"]`` -> dict (values parsed as YAML)."""
    import yaml  # optional extra (train)

    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError as err:
            raise ValueError(f"override {item!r}: the value is not valid YAML ({err})") from err
    return out


def load_config_file(path: str | Path) -> dict[str, Any]:
    """Hyperparameter overrides from a YAML file of ``key: value`` lines.

    A file in rl-baselines3-zoo's format (one entry, the env id, holding the mapping) is
    read too; the zoo's own keys (``n_envs``, ``n_timesteps``, ...) are left out.

    Raises:
        ValueError: naming the file if it is missing, malformed, or not a mapping.
    """
    import yaml  # optional extra (train)

    path = Path(path)
    if not path.exists():
        raise ValueError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ValueError(f"config file {str(path)!r} is not valid YAML: {err}") from err
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {str(path)!r} must hold a mapping of hyperparameter -> value, "
                         f"not {type(data).__name__}")
    if list(data) == [ENV_ID] and isinstance(data[ENV_ID], dict):
        data = {k: v for k, v in data[ENV_ID].items() if k not in ZOO_ONLY_KEYS}
    return data


@dataclass
class TrainConfig:
    """One training run."""

    algo: str = "ppo"
    """One of ppo, a2c, dqn, recurrent_ppo."""
    persona: str = "mixture"
    """Persona or mixture to train on."""
    ablate: list[str] = field(default_factory=list)
    """The switches (claims, assumptions, contested readings) turned off in the customer model."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of each conversation."""
    steps: int = 100_000
    """Environment steps to train for."""
    seed: int = 0
    """Seed of the model, its environments and its policy."""
    n_envs: int = 8
    """Environments stepped together (the natively batched env)."""
    observation: str = "partial"
    """What the agent gets: ``partial`` (the env's observation) or ``belief`` (plus the exact Bayes
    filter's marginals over the hidden state, computed from the observation history; see
    ``difficult_customer.agents.exact.belief_input``)."""
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    """Overrides of the YAML hyperparameters."""
    sample: dict[str, Any] = field(default_factory=dict)
    """A model drawn by the sensitivity analysis instead of the named persona: ``{"variant": "default" or
    "guide_only", "x": [one value per sampled parameter]}`` (``customer_models.space.space_for``)."""
    eval_every: int = 10_000
    """Steps between evaluations for the learning curve (0: only at the end)."""
    eval_episodes: int = 200
    """Conversations per evaluation."""
    out: str = "runs"
    """Folder of the run folders."""
    tensorboard: bool = False
    """Also write TensorBoard logs into the run folder."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        if self.algo not in ALGORITHMS:
            raise ValueError(f"unknown algorithm {self.algo!r}; allowed: {', '.join(ALGORITHMS)}")
        if self.persona not in PERSONA_NAMES:
            raise ValueError(f"unknown persona {self.persona!r}; allowed: {', '.join(PERSONA_NAMES)}")
        check_ablate(self.ablate)
        if self.observation not in ("partial", "belief"):
            raise ValueError(f"observation={self.observation!r}; allowed: partial, belief")
        if self.observation == "belief" and self.algo == "recurrent_ppo":
            raise ValueError("observation='belief' with recurrent_ppo; allowed: ppo, a2c, dqn "
                             "(the belief is the memory)")
        for name in ("steps", "n_envs", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}; allowed is an integer >= 1")
        if self.sample:
            self.sampled_model()  # names a bad variant, a wrong number of values or a value out of range

    def sampled_model(self) -> Mixture:
        """The :class:`~difficult_customer.customer_models.Mixture` of :attr:`sample`.

        Raises:
            ValueError: for missing keys, an unknown variant, or values that do not fit its parameters.
        """
        missing = {"variant", "x"} - set(self.sample)
        if missing:
            raise ValueError(f"sample={self.sample!r} lacks {sorted(missing)}; allowed: {{'variant': ..., 'x': [...]}}")
        space = space_for(self.sample["variant"])
        if len(self.sample["x"]) != len(space.specs):
            raise ValueError(f"sample has {len(self.sample['x'])} values; variant {self.sample['variant']!r} "
                             f"samples {len(space.specs)} parameters")
        return space.model(self.sample["x"], name=f"sample-{self.key()}")

    def context(self) -> PolicyContext:
        """The environment the run trains in."""
        persona = self.sampled_model() if self.sample else self.persona
        return PolicyContext.create(persona=persona, ablate=self.ablate, max_turns=self.max_turns, seed=self.seed)

    def key(self) -> str:
        """A digest of every setting that changes the result (not the output folder)."""
        settings = {k: v for k, v in asdict(self).items() if k not in ("out", "tensorboard")}
        return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:16]


def run_dir(config: TrainConfig) -> Path:
    """The folder of one run."""
    tag = (f"sample-{config.key()}" if config.sample else config.persona) + (
        "__ablate-" + "-".join(sorted(config.ablate)) if config.ablate else "")
    algo = config.algo + ("-belief" if config.observation == "belief" else "")
    return Path(config.out) / algo / tag / f"seed{config.seed}"


def is_memoryless_learner(config: TrainConfig) -> bool:
    """Whether the trained policy's move depends only on the current observation (an MLP on the plain observation)."""
    return config.observation == "partial" and config.algo != "recurrent_ppo"


def curve_source(config: TrainConfig) -> str:
    """How the run's curve points are scored: ``exact``, or ``sampled on N conversations``."""
    return "exact" if is_memoryless_learner(config) else f"sampled on {config.eval_episodes} conversations"


def evaluate_model(model: Any, config: TrainConfig, episodes: int | None = None) -> float:
    """The deterministic policy's value: exact for a memoryless learner, else the mean return on fixed seeds.

    A memoryless learner (:func:`is_memoryless_learner`) is valued from the tables
    (:func:`~difficult_customer.agents.exact.memoryless_value.memoryless_value`), which is what
    the sampled mean estimates, with no sampling error; a learner with memory is played on
    ``episodes`` (default ``config.eval_episodes``) fixed evaluation seeds.
    """
    return evaluate_model_with_error(model, config, episodes)[0]


def evaluate_model_with_error(model: Any, config: TrainConfig, episodes: int | None = None) -> tuple[float, float, int]:
    """:func:`evaluate_model` with its standard error and the conversations it was sampled on: ``(value, stderr,
    episodes)``, stderr and episodes 0 when the value is exact."""
    context = config.context()
    if is_memoryless_learner(config) and episodes is None:
        return float(memoryless_value(model, context).value), 0.0, 0
    seeds = train_eval_seeds(episodes or config.eval_episodes)
    if config.observation == "belief":
        model = BeliefInputPolicy(model, context.tables)
    eps = run_episodes(model, context, seeds)
    rets = np.array([e.ret for e in eps], dtype=float)
    stderr = float(rets.std(ddof=1) / np.sqrt(rets.size)) if rets.size > 1 else 0.0
    return float(rets.mean()), stderr, int(rets.size)


def make_training_env(config: TrainConfig) -> Any:
    """The SB3 VecEnv to train on: the natively batched env through its SB3 adapter.

    One env or many, the customers are stepped together with numpy
    (``difficult_customer.envs.sb3_vec_env.CustomerSB3VecEnv``); the model seeds it.
    """
    context = config.context()
    env = CustomerSB3VecEnv(config.n_envs, **context.env_kwargs())
    if config.observation == "belief":
        env = make_belief_vec_env(env, context.tables)
    return env


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a result depends on."""
    import stable_baselines3  # optional extra (train)
    import torch  # optional extra (train)

    out = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "gymnasium": gymnasium.__version__,
        "stable_baselines3": stable_baselines3.__version__,
        "torch": torch.__version__,
    }
    try:
        import sb3_contrib  # optional extra (train)

        out["sb3_contrib"] = sb3_contrib.__version__
    except ImportError:
        pass
    return out


def make_model(config: TrainConfig, tensorboard_log: str | None = None) -> tuple[Any, dict[str, Any]]:
    """A fresh SB3 model of ``config`` on its training env, and the hyperparameters it was built with (policy included).

    What :func:`train` trains, and what behaviour cloning (``experiments/library/imitation.py``) starts from.
    """
    params = load_hyperparameters(config.algo, config.hyperparameters)
    policy = params.pop("policy")
    model = algorithm_class(config.algo)(policy, make_training_env(config), seed=config.seed, device="cpu", verbose=0,
                                         tensorboard_log=tensorboard_log,
                                         **copy.deepcopy(params))  # SB3 may add classes to policy_kwargs in place
    return model, {**params, "policy": policy}


def save_model(model: Any, path: Path) -> Path:
    """Save an SB3 model to ``path`` (a ``.zip``) atomically: written beside it, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp.zip")
    model.save(str(tmp))
    tmp.replace(path)
    return path


def train(config: TrainConfig, progress: bool = True, initialize: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Train one run, or return its saved result if it already finished with these settings.

    ``initialize(model)``, if given, is called on the fresh model before training (e.g. behaviour
    cloning, :mod:`~experiments.library.imitation`); it is not part of the run's key, so give such
    runs their own ``out`` folder.

    Returns:
        The result: ``final_return`` (with ``final_stderr`` and ``final_episodes``, both 0 when it is
        exact), ``curve`` ([(steps, value), ...], exact for a memoryless
        learner, else a mean return: ``curve_source`` says which), ``model``
        (path), ``policy`` (the name ``agents.make`` builds it by: the model's path),
        ``wall_seconds``, ``config``.
    """
    config.validate()
    folder = run_dir(config)
    done = read_json(folder / "result.json")
    if done is not None and done.get("key") == config.key():
        done.setdefault("policy", done["model"])  # result files written before policies were named by path
        return done

    import torch  # optional extra (train)
    from stable_baselines3.common.callbacks import BaseCallback  # optional extra (train)
    from stable_baselines3.common.utils import set_random_seed  # optional extra (train)

    torch.set_num_threads(1)  # reproducible, and leaves the other core to a parallel run
    set_random_seed(config.seed)
    model, hyperparameters = make_model(config, str(folder / "tensorboard") if config.tensorboard else None)
    env = model.get_env()
    if initialize is not None:
        initialize(model)
    curve: list[list[float]] = []

    class Curve(BaseCallback):
        def _on_step(self) -> bool:
            if config.eval_every and self.num_timesteps % config.eval_every < env.num_envs:
                curve.append([int(self.num_timesteps), evaluate_model(self.model, config)])
                atomic_write_json(folder / "curve.json", curve)
            return True

    atomic_write_json(folder / "config.json", {"config": asdict(config),
                                                "hyperparameters": hyperparameters,
                                                "versions": versions()})
    started = time.perf_counter()
    curve.append([0, evaluate_model(model, config)])
    model.learn(total_timesteps=config.steps, callback=Curve(), progress_bar=progress and _has_progress_bar())
    final, final_stderr, final_episodes = evaluate_model_with_error(model, config)
    if not curve or curve[-1][0] != model.num_timesteps:
        curve.append([int(model.num_timesteps), final])
    wall = time.perf_counter() - started
    model_path = save_model(model, folder / "model.zip")
    env.close()
    result = {
        "key": config.key(),
        "config": asdict(config),
        "final_return": final,
        "final_stderr": final_stderr,
        "final_episodes": final_episodes,
        "curve": curve,
        "curve_source": curve_source(config),
        "model": str(model_path),
        "policy": str(model_path),
        "wall_seconds": wall,
    }
    atomic_write_json(folder / "curve.json", curve)
    atomic_write_json(folder / "result.json", result)
    return result


def _has_progress_bar() -> bool:
    try:
        import rich  # noqa: F401  (optional extra: cli)
        import tqdm  # noqa: F401  (optional extra: cli)
    except ImportError:
        return False
    return sys.stderr.isatty()


def policy_name(config: TrainConfig) -> str:
    """The trained policy's name in words: ``ppo seed 3``, ``ppo_belief seed 0 on belligerent with C4, C6 off``.

    The learner (algorithm, ``_belief`` for belief features) and seed, then the persona
    unless it is the default mixture, the switches turned off, and a sampled model's key.
    Two runs with the same name differ only in settings such as steps or hyperparameters.
    """
    learner = config.algo + ("_belief" if config.observation == "belief" else "")
    name = f"{learner} seed {config.seed}"
    if config.sample:
        name += f" on sampled model {config.key()[:8]}"
    elif config.persona != "mixture":
        name += f" on {config.persona}"
    if config.ablate:
        name += f" with {', '.join(sorted(config.ablate))} off"
    return name


def register_policy(config: TrainConfig, model: str | Path) -> str:
    """Register the model ``config`` trained as a policy named in words, and return the name.

    The name is :func:`policy_name`; if another model already holds it in this process
    (e.g. the same learner and seed trained with other steps), `` #2``, `` #3``, ... is
    appended. The same model registered again keeps its name.

    Raises:
        ValueError: for a missing model file (see ``agents.register_model``).
    """
    base, path = policy_name(config), Path(model)
    for n in itertools.count(1):
        name = base if n == 1 else f"{base} #{n}"
        if name not in agents.names() or agents.spec(name).path == path:
            return agents.register_model(path, algo=config.algo, name=name).name
    raise AssertionError("unreachable")  # pragma: no cover
