"""Conversations as Minari datasets: one per policy and setting, with exact reference scores.

A dataset is a :class:`~envs.rollout.Rollout` (conversations played in lockstep, each with
its own seed, exactly as ``CustomerEnv.reset(seed=...)`` plays it) written in Minari's format
(the successor of D4RL's), so that ``minari.load_dataset(id)`` reads it and offline-RL and
imitation libraries take it as they are. What the datasets add to Minari's usual ones:

- ``ref_min_score`` and ``ref_max_score`` are exact: the expected return of uniformly random
  moves and of the oracle, computed from the tables, so ``minari.get_normalized_score``
  gives the project's normalized score (0 random, 1 oracle), not an estimate of it;
- the env spec carries the persona, the switched-off claims and the turn limit, so
  ``dataset.recover_environment()`` is the same ``DifficultCustomer-v0``, and every episode
  keeps its seed: replaying its actions after ``reset(seed=episode.seed)`` gives the same
  observations and rewards;
- the hidden state is in ``infos`` (see :data:`INFO_KEYS`), for analysis; a learner need not
  read it.

Ids are ``difficult-customer/<setting>/<policy>-v0`` (:func:`dataset_id`). Minari is the
``data`` extra; this module imports it only inside the functions that need it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from difficult_customer import agents
from difficult_customer.agents.base import PolicyContext
from difficult_customer.agents.exact.evaluation import oracle_value, random_value
from difficult_customer.customer_models import FACTORS, Outcome
from difficult_customer.envs import ENV_ID  # importing envs registers the id
from difficult_customer.envs.rollout import Rollout, rollout
from difficult_customer.experiments.library.budgets import BENCHMARK_SEED_STRIDE
from difficult_customer.experiments.library.progress import progress_bar
from difficult_customer.experiments.library.recordings import project_version

NAMESPACE = "difficult-customer"
"""The first part of every dataset id."""
VERSION = 0
"""The ``-v<N>`` of every dataset id; raised when the format of the datasets changes."""
MIXED = "mixed"
"""The policy name of the mixed dataset: equal parts of several policies' conversations."""
HUMAN = "human"
"""The policy name of a dataset of people's recorded conversations."""
DEFAULT_POLICIES = (
    "random", "guide_000", "guide_001", "guide_002", "guide_003", "guide_004", "tone_reader", "belief_lookahead",
    "ppo_converged", "recurrent_converged",
)
"""The policies ``difficult-customer datasets`` writes by default (and mixes into ``mixed``)."""
STATE_COLUMNS = ("state_index", "turn", *FACTORS)
"""The columns of ``infos["state"]``, an ``(T + 1, 11)`` int32 array per episode: the row of the
tables of the hidden state, the turns taken, then each hidden factor (``persona`` is the persona's
index in the compiled tables, the others their levels). ``infos["return"]`` is the return so far.
One array rather than one per factor: each array is a separate HDF5 object, and the file's size is
mostly their overhead."""


@dataclass(frozen=True)
class Setting:
    """What a dataset's conversations were played in: persona (or mixture), switches, turn limit."""

    persona: str = "mixture"
    ablate: tuple[str, ...] = ()
    max_turns: int = 16

    def context(self, seed: int | None = None) -> PolicyContext:
        """The policy context of this setting (partial observation, default rewards)."""
        return PolicyContext.create(self.persona, self.ablate, self.max_turns, seed=seed)

    @property
    def slug(self) -> str:
        """The setting part of a dataset id: ``mixture``, ``mixture-ablate-C4``, ``mixture-turns-12``."""
        name = self.persona
        if self.ablate:
            name += "-ablate-" + "-".join(self.ablate)
        if self.max_turns != 16:
            name += f"-turns-{self.max_turns}"
        return name


def policy_slug(policy: str) -> str:
    """The policy part of a dataset id: a registered name as it is, a model path made id-safe."""
    if re.fullmatch(r"[A-Za-z0-9_]+", policy):
        return policy
    stem = Path(policy).with_suffix("").as_posix()
    return re.sub(r"[^A-Za-z0-9_]+", "_", stem).strip("_")[-60:] or "model"


def dataset_id(setting: Setting, policy: str) -> str:
    """``difficult-customer/<setting>/<policy>-v0``."""
    return f"{NAMESPACE}/{setting.slug}/{policy_slug(policy)}-v{VERSION}"


def dataset_seeds(seed: int, episodes: int, part: int = 0) -> list[int]:
    """Environment seeds of a dataset's episodes: ``seed * 1_000_003 + part * episodes + i``.

    Part 0 gives the benchmark's seeds (the same conversations for every policy's dataset);
    the mixed dataset uses part 1, so its conversations are new ones.
    """
    if episodes < 1:
        raise ValueError(f"episodes={episodes}; allowed is an integer >= 1")
    if seed < 0:
        raise ValueError(f"seed={seed}; allowed is an integer >= 0")
    start = seed * BENCHMARK_SEED_STRIDE + part * episodes
    return list(range(start, start + episodes))


def play(policy: str, setting: Setting, seeds: Sequence[int], seed: int = 0,
         progress: Callable[[int], Any] | None = None) -> Rollout:
    """``policy``'s conversations on ``seeds`` (deterministic moves; a random policy draws from ``seed``)."""
    entry = agents.spec(policy)
    context = entry.context_for(setting.context(seed))
    built = agents.make(policy, context)
    return rollout(built, context.tables, seeds=list(seeds), max_turns=setting.max_turns,
                   observation=context.observation, progress=progress)


def episode_buffers(played: Rollout, first_id: int = 0) -> list[Any]:
    """Minari ``EpisodeBuffer``s of a rollout's conversations, one per conversation, with seeds and infos."""
    from minari.data_collector import EpisodeBuffer  # the data extra

    if played.seeds is None:
        raise ValueError("a dataset needs each conversation's seed: roll out with seeds=[...]")
    observations = played.observations()
    turn = np.broadcast_to(np.arange(played.states.shape[1]), played.states.shape)
    state = np.stack([played.states, turn, *(played.hidden(f) for f in FACTORS)], axis=-1).astype(np.int32)
    out = []
    for i in range(played.n):
        t = int(played.turns[i])
        timed_out = int(played.outcomes[i]) == int(Outcome.timed_out)
        rewards = played.rewards[i, :t].astype(np.float64)
        ended = np.zeros(t, dtype=bool)
        cut = np.zeros(t, dtype=bool)
        (cut if timed_out else ended)[t - 1] = True
        infos = {"state": state[i, : t + 1], "return": np.concatenate([[0.0], np.cumsum(rewards)])}
        out.append(EpisodeBuffer(
            id=first_id + i, seed=int(played.seeds[i]), observations=observations[i, : t + 1].astype(np.float32),
            actions=played.moves[i, :t].astype(np.int64), rewards=rewards, terminations=ended, truncations=cut,
            infos=infos,
        ))
    return out


def env_spec(setting: Setting) -> Any:
    """The ``EnvSpec`` of ``DifficultCustomer-v0`` in ``setting``: what ``recover_environment()`` makes."""
    kwargs = {"persona": setting.persona, "ablate": list(setting.ablate), "max_turns": setting.max_turns,
              "observation": "partial"}
    return replace(gym.spec(ENV_ID), kwargs=kwargs)


def describe(policy: str, setting: Setting) -> str:
    """A dataset's description: what the policy is and what it can see."""
    if policy == HUMAN:
        what = "people playing the agent in the teaching game (difficult-customer play / serve --record)"
        sees = "the page or terminal: the customer's tone and reactions, and the moves so far"
    elif policy == MIXED:
        what = "equal parts of several policies' conversations, from random moves to the best belief-based policy"
        sees = "each part's policy sees what that policy sees (see the metadata's 'mixed_policies')"
    else:
        entry = agents.spec(policy)
        what = entry.description
        sees = {"partial": "the current observation only", "belief": "the observation history (a belief)",
                "full": "the hidden state (an oracle)"}.get(entry.decides_on, entry.decides_on)
        if entry.memory and entry.decides_on == "partial":
            sees = "the observation history (a recurrent network)"
    ablate = f", claims switched off: {', '.join(setting.ablate)}" if setting.ablate else ""
    return (f"Conversations of {what} with a difficult customer (persona {setting.persona}{ablate}, "
            f"at most {setting.max_turns} turns). The policy decided on {sees}. Hidden state per step in infos "
            "(state: state_index, turn and each hidden factor; return); every episode keeps its env seed. "
            "ref_min_score and ref_max_score are the exact expected returns of random moves and of the oracle.")


@dataclass(frozen=True)
class Written:
    """One dataset written (or found already written) by :func:`write_dataset`."""

    dataset_id: str
    path: Path
    episodes: int
    steps: int
    mean_return: float
    normalized: float
    seconds: float
    bytes: int
    reused: bool = False


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def write_dataset(
    root: str | Path,
    setting: Setting,
    policy: str,
    parts: Iterable[Rollout],
    seed: int,
    extra: dict[str, Any] | None = None,
    force: bool = False,
) -> Written:
    """Write the conversations of ``parts`` as one Minari dataset under ``root``.

    The dataset is made in a temporary folder beside it and moved into place, so ``root`` never
    holds half a dataset. If the dataset exists with the same settings (seed, episodes, project
    version, ``extra``) it is kept (``reused``), unless ``force``.

    Returns:
        What was written: id, folder, episodes, steps, mean return and its normalized score, the
        write time and the size on disk.
    """
    import minari  # the data extra

    root = Path(root).resolve()  # minari 0.5.4 joins a relative MINARI_DATASETS_PATH twice when sizing a dataset
    ident = dataset_id(setting, policy)
    final = root / ident
    parts = list(parts)
    n = sum(p.n for p in parts)
    settings = {"seed": seed, "episodes": n, **(extra or {})}
    if not force:
        found = _reuse_if_there(root, setting, policy, settings)
        if found is not None:
            return found
    settings["project_version"] = project_version()
    context = setting.context()
    low, high = random_value(context), oracle_value(context)
    start = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=root, prefix=".writing-"))
    try:
        buffers, first = [], 0
        for part in parts:
            buffers += episode_buffers(part, first)
            first += part.n
        with minari_root(scratch), warnings.catch_warnings():  # minari asks for a permalink, an e-mail, an eval env
            warnings.simplefilter("ignore", UserWarning)
            dataset = minari.create_dataset_from_buffers(
                dataset_id=ident, buffer=buffers, env=env_spec(setting), algorithm_name=policy_slug(policy),
                author="difficult-customer", ref_min_score=low, ref_max_score=high,
                description=describe(policy, setting), requirements=[f"difficult-customer=={project_version()}"],
                data_format="hdf5",
            )
        dataset.storage.update_metadata({"difficult_customer": _metadata_json(setting, policy, settings)})
        returns = np.concatenate([p.returns for p in parts])
        if final.exists():
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(scratch / ident, final)
        _copy_namespace_files(scratch, root, ident)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    mean = float(returns.mean())
    return Written(ident, final, n, int(sum(int(p.turns.sum()) for p in parts)), mean, (mean - low) / (high - low),
                   time.perf_counter() - start, _folder_bytes(final))


def _metadata_json(setting: Setting, policy: str, settings: dict[str, Any]) -> str:
    return json.dumps({"persona": setting.persona, "ablate": list(setting.ablate), "max_turns": setting.max_turns,
                       "policy": policy, "state_columns": list(STATE_COLUMNS), **settings}, sort_keys=True)


def _copy_namespace_files(scratch: Path, root: Path, ident: str) -> None:
    """Minari's namespace metadata files of ``ident``'s namespaces, copied where they are missing."""
    parts = ident.split("/")[:-1]
    for depth in range(1, len(parts) + 1):
        sub = Path(*parts[:depth])
        for f in (scratch / sub).glob("*.json"):
            target = root / sub / f.name
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f, target)


def write_played(root: str | Path, setting: Setting, policy: str, episodes: int, seed: int = 0,
                 force: bool = False, progress: bool = True) -> Written:
    """``policy``'s dataset of ``episodes`` conversations on the seeds of :func:`dataset_seeds` (part 0)."""
    if not force:
        found = _reuse_if_there(root, setting, policy, {"seed": seed, "episodes": episodes})
        if found is not None:
            return found
    with progress_bar(episodes, f"{policy_slug(policy)} on {setting.slug}", progress) as bar:
        played = play(policy, setting, dataset_seeds(seed, episodes), seed, bar.update)
    return write_dataset(root, setting, policy, [played], seed, force=force)


def write_mixed(root: str | Path, setting: Setting, policies: Sequence[str], episodes: int, seed: int = 0,
                force: bool = False, progress: bool = True) -> Written:
    """The mixed dataset: ``episodes`` conversations in equal parts of ``policies``, on new seeds (part 1).

    Its metadata lists each part (``mixed_policies``: policy, first episode, episodes).
    """
    k = len(policies)
    if k < 1:
        raise ValueError("a mixed dataset needs at least one policy")
    sizes = [episodes // k + (1 if i < episodes % k else 0) for i in range(k)]
    first, plan = 0, []
    for policy, size in zip(policies, sizes, strict=True):
        if size:
            plan.append({"policy": policy, "first_episode": first, "episodes": size})
            first += size
    extra = {"mixed_policies": plan}
    if not force:
        found = _reuse_if_there(root, setting, MIXED, {"seed": seed, "episodes": episodes, **extra})
        if found is not None:
            return found
    seeds = dataset_seeds(seed, episodes, part=1)  # after the policy datasets' seeds
    parts = []
    with progress_bar(episodes, f"mixed on {setting.slug}", progress) as bar:
        for part in plan:
            rows = seeds[part["first_episode"] : part["first_episode"] + part["episodes"]]
            parts.append(play(part["policy"], setting, rows, seed, bar.update))
    return write_dataset(root, setting, MIXED, parts, seed, extra=extra, force=force)


def _reuse_if_there(root: str | Path, setting: Setting, policy: str, settings: dict[str, Any]) -> Written | None:
    """The dataset already written with these settings (and this project version), without playing it again."""
    ident = dataset_id(setting, policy)
    final = Path(root) / ident
    if not final.exists():
        return None
    try:
        dataset = load(ident, root)
        stored = json.loads(dataset.storage.metadata["difficult_customer"])
    except Exception:  # an unreadable or foreign dataset is rewritten
        return None
    if any(stored.get(k) != v for k, v in {**settings, "project_version": project_version()}.items()):
        return None
    mean, score = mean_score(dataset)
    return Written(ident, final.resolve(), int(dataset.total_episodes), int(dataset.total_steps), mean, score, 0.0,
                   _folder_bytes(final), reused=True)


@contextmanager
def minari_root(root: Path) -> Iterator[None]:
    """Minari's datasets folder (``MINARI_DATASETS_PATH``, read at each call) set to ``root`` for the block."""
    previous = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = previous


def mean_score(dataset: Any) -> tuple[float, float]:
    """A dataset's mean episode return and that mean normalized by its own reference scores."""
    returns = [float(np.sum(e.rewards)) for e in dataset.iterate_episodes()]
    low, high = dataset.storage.metadata["ref_min_score"], dataset.storage.metadata["ref_max_score"]
    mean = float(np.mean(returns))
    return mean, (mean - low) / (high - low)


def load(ident: str, root: str | Path) -> Any:
    """The Minari dataset ``ident`` under ``root`` (a ``MinariDataset``).

    Raises:
        ValueError: if there is no such dataset, listing the ones that are there.
    """
    import minari  # the data extra

    root = Path(root).resolve()
    if not (root / ident / "data").is_dir():
        found = sorted(str(p.parent.relative_to(root)) for p in root.glob("**/data") if p.is_dir())
        raise ValueError(f"no dataset {ident!r} in {root}; allowed: {', '.join(found) or 'none (run datasets)'}")
    with minari_root(root):
        return minari.load_dataset(ident)


def setting_of(dataset: Any) -> Setting:
    """The setting a dataset's conversations were played in, from its env spec."""
    kwargs = dataset.spec.env_spec.kwargs
    ablate = tuple(kwargs.get("ablate") or ())
    return Setting(kwargs.get("persona", "mixture"), ablate, int(kwargs.get("max_turns", 16)))


__all__ = [
    "DEFAULT_POLICIES", "HUMAN", "STATE_COLUMNS", "MIXED", "NAMESPACE", "Setting", "Written", "dataset_id",
    "dataset_seeds", "describe", "env_spec", "episode_buffers", "load", "mean_score", "minari_root", "play",
    "policy_slug", "setting_of", "write_dataset", "write_mixed", "write_played",
]
