"""Behaviour cloning from a Minari dataset, scored exactly; or the whole imitation study (``--study``).

``difficult-customer imitate --dataset difficult-customer/mixture/guide_000-v0`` clones the
dataset's moves into the MLP policy of an SB3 PPO model (``configs/ppo.yaml``), once per seed,
and scores each clone exactly (it reads only the current observation). ``--rl-steps N`` then
fine-tunes each clone with PPO for N steps (ConvLab's recipe). Each model is saved as
``<out>/bc/<dataset>/seed<k>/model.zip`` with its ``config.json``, so ``benchmark``, ``watch``
and ``explain`` take it by path.

``--study`` runs the report's imitation study (``experiments/library/imitation_study.py``):
BC of every guide against the guide, BC of the best belief-based policy against RL at the same
sample count, BC + RL against RL from scratch, and offline CQL (d3rlpy) on the mixed dataset.
It writes ``<out>/imitation.json`` (the report's imitation section is built from it) and
``<out>/imitation.md``, and resumes where it stopped. Needs the ``data`` extra.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from difficult_customer.experiments.library import datasets, imitation
from difficult_customer.experiments.library.imitation_study import StudyConfig, run_study, summary
from difficult_customer.experiments.library.io import atomic_write_json, atomic_write_text
from difficult_customer.experiments.library.report.imitation import render_imitation, seeds_text
from difficult_customer.experiments.library.training import save_model


@dataclass
class Config:
    """Settings of ``difficult-customer imitate``."""

    dataset: str = ""
    """The dataset to clone, e.g. difficult-customer/mixture/guide_000-v0 (give this or --study)."""
    data: str = "results/datasets"
    """Folder of the datasets (MINARI_DATASETS_PATH; ``difficult-customer datasets --out``)."""
    out: str = "results/imitation"
    """Folder of the cloned models and results."""
    seeds: int = 3
    """Behaviour-cloning seeds (network initialization and minibatch order)."""
    rl_steps: int = 0
    """Then fine-tune each clone with PPO for this many environment steps (0: no fine-tuning)."""
    bc: imitation.BCConfig = field(default_factory=imitation.BCConfig)
    """Behaviour-cloning settings."""
    study: bool = False
    """Run the whole imitation study instead, and write imitation.json for the report."""
    episodes: int = 10_000
    """--study: conversations per dataset (datasets missing from --data are written first)."""
    rl_seeds: int = 5
    """--study: seeds of each RL arm."""
    study_rl_steps: int = 100_000
    """--study: steps of BC + RL and of RL from scratch."""
    cql_seeds: int = 3
    """--study: seeds of offline CQL on the mixed dataset."""
    cql: imitation.CQLConfig = field(default_factory=imitation.CQLConfig)
    """--study: offline CQL settings."""
    mc_episodes: int = 20_000
    """--study: conversations that score a policy the tables cannot value exactly (belief_lookahead)."""
    progress: bool = True
    """Show progress on stderr."""

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        if self.study == bool(self.dataset):
            raise ValueError(f"dataset={self.dataset!r}, study={self.study}; allowed: exactly one of --dataset ID "
                             "and --study")
        if self.seeds < 1:
            raise ValueError(f"seeds={self.seeds}; allowed is an integer >= 1")
        if self.rl_steps < 0:
            raise ValueError(f"rl_steps={self.rl_steps}; allowed is an integer >= 0")
        self.bc.validate()

    def study_config(self) -> StudyConfig:
        return StudyConfig(data=self.data, out=self.out, episodes=self.episodes, bc_seeds=self.seeds,
                           rl_seeds=self.rl_seeds, rl_steps=self.study_rl_steps, cql_seeds=self.cql_seeds,
                           bc=self.bc, cql=self.cql, mc_episodes=self.mc_episodes,
                           progress=self.progress)


def clone_dataset(config: Config) -> dict[str, Any]:
    """BC (and PPO fine-tuning) of ``config.dataset``, each seed scored exactly; models saved beside the result."""
    dataset = datasets.load(config.dataset, config.data)
    demos = imitation.demonstrations(dataset)
    setting = demos.setting
    folder = Path(config.out) / "bc" / config.dataset.replace("/", "__")
    runs = []
    for seed in range(config.seeds):
        model = imitation.ppo_model(setting, seed)
        stats = imitation.clone(model, demos, config.bc, seed)
        run = {"seed": seed, "bc": imitation.exact_score(model, setting), **stats}
        if config.rl_steps:
            model.learn(total_timesteps=config.rl_steps)
            run["bc_rl"] = imitation.exact_score(model, setting)
        path = save_model(model, folder / f"seed{seed}" / "model.zip")
        atomic_write_json(path.parent / "config.json", {"config": {
            "algo": "ppo", "persona": setting.persona, "ablate": list(setting.ablate), "max_turns": setting.max_turns,
            "observation": "partial", "behaviour_cloned_from": config.dataset, "rl_steps": config.rl_steps}})
        run["model"] = str(path)
        runs.append(run)
        model.get_env().close()
    result = {"dataset": config.dataset, "setting": asdict(setting), "transitions": demos.part(False).size,
              "data_normalized": datasets.mean_score(dataset)[1], "runs": runs,
              "bc": summary([r["bc"]["normalized"] for r in runs]), "bc_settings": asdict(config.bc)}
    if config.rl_steps:
        result["bc_rl"] = summary([r["bc_rl"]["normalized"] for r in runs])
    atomic_write_json(folder / "result.json", result)
    return result


def main(config: Config) -> int:
    """``difficult-customer imitate``: clone a dataset, or run the imitation study. Returns the exit status."""
    try:
        config.validate()
        imitation.quiet_d3rlpy()
        import d3rlpy  # noqa: F401  (the data extra: checks it is installed)
        import minari  # noqa: F401  (the data extra)
    except ImportError:
        print("error: imitate needs the data extra: pip install 'difficult-customer[data]'", file=sys.stderr)
        return 2
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if config.study:
        results = run_study(config.study_config(), log=lambda text: print(text, file=sys.stderr))
        text = "\n".join(render_imitation(results)) + "\n"
        atomic_write_text(Path(config.out) / "imitation.md", text)
        print(text)
        print(f"results: {Path(config.out) / 'imitation.json'}; page: {Path(config.out) / 'imitation.md'}")
        return 0
    try:
        result = clone_dataset(config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{config.dataset}: the data score {result['data_normalized']:.3f} (normalized, mean of its conversations)")
    for run in result["runs"]:
        extra = f", after {config.rl_steps:,} PPO steps {run['bc_rl']['normalized']:.3f}" if config.rl_steps else ""
        print(f"  seed {run['seed']}: behaviour cloning {run['bc']['normalized']:.3f} exact "
              f"(held-out move accuracy {run['held_out_accuracy']:.3f}){extra}; model {run['model']}")
    print(f"behaviour cloning: IQM {seeds_text(result['bc'])}")
    if config.rl_steps:
        print(f"after {config.rl_steps:,} PPO steps: IQM {seeds_text(result['bc_rl'])}")
    return 0
