"""How robust each conclusion is: sample every assumption and reading over its range, solve each model exactly.

Writes ``sensitivity.json`` (every conclusion's share of plausible models with a Wilson
interval, its Morris or Sobol indices per assumption, each guide's rank distribution),
``sensitivity.md`` and the plots ``ranks_<variant>.png`` and ``indices_<variant>.png``.
Seeded and resumable: run it again with the same options and it continues.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

from difficult_customer.customer_models.switches import VARIANT_NAMES
from difficult_customer.experiments.library.conclusions import RULE_IDS
from difficult_customer.experiments.library.io import atomic_write_json, atomic_write_text
from difficult_customer.experiments.library.sensitivity.design import Design
from difficult_customer.experiments.library.sensitivity.learning import LearnSettings, run_learning
from difficult_customer.experiments.library.sensitivity.models import SolveSettings
from difficult_customer.experiments.library.sensitivity.study import run_study
from difficult_customer.experiments.library.sensitivity.tables import (
    learned_summary,
    plot_indices,
    plot_ranks,
    render_markdown,
)


@dataclass
class Config:
    """Options of ``difficult-customer sensitivity``."""

    out: Path = Path("results/sensitivity")
    """Folder for sensitivity.json, sensitivity.md, the plots and the solved samples (for resuming)."""
    quick: bool = False
    """A small design that finishes in about two minutes (shares from 8 models, 2 Morris trajectories,
    coarser solves)."""
    variants: tuple[Literal["default", "guide_only"], ...] = VARIANT_NAMES  # type: ignore[assignment]
    """Model variants to study: the default model, and the guide-only one (every assumption off)."""
    lhs_samples: int | None = None
    """Latin-hypercube models for the shares (default 64; 8 with --quick)."""
    index_method: Literal["morris", "sobol"] = "morris"
    """Indices: grouped Morris elementary effects, or grouped Sobol total indices (needs many more models)."""
    index_trajectories: int | None = None
    """Morris trajectories r, or Sobol's base N (a power of 2) (default 3; 2 with --quick)."""
    group_by: Literal["switch", "claim"] | None = None
    """Index groups: each switch id (default), or assumptions folded into their claim (the --quick default)."""
    seed: int = 0
    """Seed of the designs, of PBVI's belief points and of the oracle's conformance conversations."""
    workers: int = 0
    """Processes solving models in parallel (0: every core)."""
    bracket_points: int = 64
    """PBVI belief points per turn for the bracket's lower end."""
    conformance_episodes: int = 200
    """Oracle conversations per model for its conformance rates (0 skips them)."""
    max_turns: int = 16
    """Turn limit of every model."""
    learn: bool = False
    """Also retrain a learned policy on sampled models (through the sweep engine, on Ray) and report how its
    score and conformance hold up across them, beside the exact optimum's."""
    learn_algo: Literal["ppo", "a2c", "dqn"] = "ppo"
    """Algorithm retrained by --learn (memoryless, so scored exactly)."""
    learn_samples: int = 8
    """Sampled models --learn retrains on (besides the built-in model)."""
    learn_steps: int = 30_000
    """Environment steps per --learn training."""
    learn_seeds: int = 1
    """Training seeds per model for --learn."""
    address: str | None = None
    """Ray cluster for --learn ("auto" or HOST:PORT); default: an embedded local Ray over every core."""



def designs(config: Config) -> Design:
    """The design the options ask for."""
    lhs = config.lhs_samples if config.lhs_samples is not None else (8 if config.quick else 64)
    r = config.index_trajectories if config.index_trajectories is not None else (2 if config.quick else 3)
    group_by = config.group_by or ("claim" if config.quick else "switch")
    return Design(lhs_samples=lhs, index_method=config.index_method, index_trajectories=r, group_by=group_by,
                  seed=config.seed)


def main(config: Config) -> int:
    """Run the study for each variant and write ``sensitivity.json``, ``sensitivity.md`` and the plots; 0."""
    design = designs(config)
    settings = SolveSettings(
        max_turns=config.max_turns,
        bracket_points=config.bracket_points,
        conformance_episodes=config.conformance_episodes,
        seed=config.seed,
    )
    if config.quick:
        settings = replace(settings, conformance_episodes=min(settings.conformance_episodes, 50),
                           bracket_points=min(settings.bracket_points, 16), fixed_sequence_nodes=50)
    workers = config.workers if config.workers > 0 else (os.cpu_count() or 1)
    config.out.mkdir(parents=True, exist_ok=True)
    results = {}
    for variant in dict.fromkeys(config.variants):
        study = run_study(variant, design, settings, config.out, workers=workers)
        if config.learn:
            learn = LearnSettings(algo=config.learn_algo, samples=config.learn_samples, steps=config.learn_steps,
                                  seeds=config.learn_seeds)
            study["learned"] = run_learning(variant, design, learn, config.out, config.max_turns, config.address)
            study["learned_summary"] = learned_summary(study, study["learned"], RULE_IDS)
        study["plots"] = {
            "ranks": plot_ranks(study["ranks"], config.out / f"ranks_{variant}.png",
                                f"Guide ranks over {study['lhs_samples']} sampled models ({variant})").name,
            "indices": plot_indices(
                study["conclusions"], config.out / f"indices_{variant}.png",
                f"What drives each conclusion ({variant}; {study['conclusions'][0]['index_kind']})").name,
        }
        results[variant] = study
    document = {
        "design": asdict(design),
        "settings": asdict(settings),
        "variants": results,
    }
    atomic_write_json(config.out / "sensitivity.json", document)
    atomic_write_text(config.out / "sensitivity.md", render_markdown(document))
    print(render_markdown(document))
    print(f"wrote {config.out / 'sensitivity.json'} ({len(json.dumps(document)) // 1024} KiB)")
    return 0
