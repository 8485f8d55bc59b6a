"""Write Minari datasets of conversations: one per policy and persona, a mixed one, and people's.

Each dataset is ``difficult-customer/<persona>/<policy>-v0`` under ``--out`` (point
``MINARI_DATASETS_PATH`` there, or use ``difficult-customer imitate --data DIR``). Its
``ref_min_score`` and ``ref_max_score`` are the exact random and oracle values, so
``minari.get_normalized_score`` is the project's normalized score; its env spec recovers the
same ``DifficultCustomer-v0``; every episode keeps its seed and the hidden state is in
``infos``. Seeded: the same command writes the same datasets, and a dataset already written
with the same settings is kept (``--force`` rewrites). ``--from-recordings DIR`` turns the
conversations people saved with ``serve --record`` / ``play --record`` into
``.../human-v0`` datasets, one per setting; a bad or truncated recording is named and skipped.
Needs the ``data`` extra (minari).
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from difficult_customer import agents
from difficult_customer.customer_models import PERSONA_NAMES, check_ablate
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS, check_max_turns
from difficult_customer.experiments.library import datasets
from difficult_customer.experiments.library.io import atomic_write_json
from difficult_customer.experiments.library.recordings import read_recordings, replay


@dataclass
class Config:
    """Settings of ``difficult-customer datasets``."""

    out: str = "results/datasets"
    """Root folder of the datasets (a Minari datasets folder: MINARI_DATASETS_PATH)."""
    policies: list[str] = field(default_factory=lambda: list(datasets.DEFAULT_POLICIES))
    """Policies, one dataset each: registered names or paths of trained models, as in benchmark."""
    personas: list[str] = field(default_factory=lambda: ["mixture"])
    """Personas (or mixtures) to play; one dataset per policy and persona."""
    episodes: int = 10_000
    """Conversations per dataset (the mixed dataset has as many, in equal parts)."""
    mixed: bool = True
    """Also write the mixed dataset: equal parts of every chosen policy's conversations (--no-mixed skips it)."""
    seed: int = 0
    """Base seed: episode i has env seed seed * 1_000_003 + i (the mixed dataset's parts use later seeds)."""
    ablate: list[str] = field(default_factory=list)
    """Claims (C1-C10) or other switches of the customer model to turn off, e.g. C4."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of each conversation."""
    from_recordings: Path | None = None
    """Instead of playing policies: turn the recordings in this folder (serve/play --record) into datasets."""
    force: bool = False
    """Rewrite datasets that already exist with the same settings."""
    progress: bool = True
    """Show a progress bar on stderr."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        if self.episodes < 1:
            raise ValueError(f"episodes={self.episodes}; allowed is an integer >= 1")
        if self.seed < 0:
            raise ValueError(f"seed={self.seed}; allowed is an integer >= 0")
        check_max_turns(self.max_turns)
        check_ablate(self.ablate)
        for persona in self.personas:
            if persona not in PERSONA_NAMES:
                raise ValueError(f"unknown persona {persona!r}; allowed: {', '.join(PERSONA_NAMES)}")
        if not self.personas:
            raise ValueError("personas is empty; allowed: one or more of " + ", ".join(PERSONA_NAMES))
        if self.from_recordings is None:
            if not self.policies:
                raise ValueError("policies is empty; allowed: registered names or model paths")
            for policy in self.policies:
                agents.spec(policy)  # raises, naming the policy and the registered ones
            if len({datasets.policy_slug(p) for p in self.policies}) < len(self.policies):
                raise ValueError(f"policies={self.policies} name the same dataset twice; give each once")


def write_policies(config: Config) -> list[datasets.Written]:
    """Every (persona, policy) dataset of ``config``, then each persona's mixed one."""
    written = []
    for persona in config.personas:
        setting = datasets.Setting(persona, tuple(sorted(config.ablate)), config.max_turns)
        for policy in config.policies:
            written.append(datasets.write_played(config.out, setting, policy, config.episodes, config.seed,
                                                 config.force, config.progress))
            report(written[-1])
        if config.mixed and len(config.policies) > 1:
            written.append(datasets.write_mixed(config.out, setting, config.policies, config.episodes, config.seed,
                                                config.force, config.progress))
            report(written[-1])
    return written


def write_recordings(config: Config) -> list[datasets.Written]:
    """One ``human-v0`` dataset per setting found in the recordings folder; bad files are named and skipped."""
    recordings, skipped = read_recordings(config.from_recordings)
    for bad in skipped:
        print(f"skipped {bad}", file=sys.stderr)
    if not recordings:
        raise ValueError(f"no usable recording in {config.from_recordings} ({len(skipped)} skipped)")
    written = []
    for group in replay(recordings):
        setting = datasets.Setting(group.setting.persona, tuple(group.setting.ablate), group.setting.max_turns)
        files = [f"{r.recorded_at} seed {r.seed}" for r in group.recordings]
        written.append(datasets.write_dataset(config.out, setting, datasets.HUMAN, [group.rollout], 0,
                                              extra={"recordings": files}, force=config.force))
        report(written[-1])
    return written


def report(w: datasets.Written) -> None:
    """One line per dataset: id, episodes, steps, mean return, normalized score, size, time."""
    how = "kept (same settings)" if w.reused else f"written in {w.seconds:.1f} s"
    print(f"{w.dataset_id}: {w.episodes:,} episodes, {w.steps:,} steps, mean return {w.mean_return:+.4f} "
          f"(normalized {w.normalized:.3f}), {w.bytes / 1e6:.1f} MB, {how}")


def main(config: Config) -> int:
    """``difficult-customer datasets``: write the datasets ``config`` describes. Returns the exit status."""
    try:
        config.validate()
        import minari  # noqa: F401  (the data extra: checks it is installed)
    except ImportError:
        print("error: datasets need the data extra: pip install 'difficult-customer[data]'", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        written = write_recordings(config) if config.from_recordings is not None else write_policies(config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary: dict[str, Any] = {"config": {**asdict(config), "from_recordings": str(config.from_recordings or "")},
                               "datasets": [{**asdict(w), "path": str(w.path)} for w in written]}
    atomic_write_json(Path(config.out) / "datasets.json", summary)
    print(f"{len(written)} datasets in {config.out} (MINARI_DATASETS_PATH={config.out}); summary in "
          f"{Path(config.out) / 'datasets.json'}")
    return 0
