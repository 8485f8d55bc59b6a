"""Write a learner's tuned hyperparameters from its tuning study's store (rl-baselines3-zoo's format).

``difficult-customer tuned --store results/sweeps/tune-ppo_jax`` ranks the study's Sobol
points by the IQM over their seeds of the normalized final score, prints the ranking, and
writes ``experiments/configs/tuned/<algo>.yaml`` (the best point) and
``<algo>.tuning.json`` (every point) (experiments/library/tuning.py). The tuning studies
are experiments/studies/tuning/*.yaml.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from difficult_customer.experiments.library.tuning import tuning_table, write_tuned


@dataclass
class Config:
    """Settings of ``difficult-customer tuned``."""

    store: str
    """The tuning study's results store (``sweep --store``)."""
    out: str = "experiments/configs/tuned"
    """Folder of the tuned files."""


def main(config: Config) -> int:
    """Print the ranked points and write the tuned files; 2 on a bad store."""
    try:
        table = tuning_table(config.store)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"{table.algo}: {len(table.points)} points, {table.steps:,} steps, IQM of the normalized final score "
          f"({table.source})\n")
    keys = [k for k in table.points[0].hyperparameters  # the varied ones; the tuned file has them all
            if len({repr(p.hyperparameters.get(k)) for p in table.points}) > 1]
    print("| rank | IQM [95% interval] | seeds | " + " | ".join(keys) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in keys) + " |")
    for rank, p in enumerate(table.points, 1):
        values = " | ".join(f"{p.hyperparameters[k]:.4g}" if isinstance(p.hyperparameters[k], float)
                            else str(p.hyperparameters[k]) for k in keys)
        print(f"| {rank} | {p.iqm:.3f} [{p.low:.3f}, {p.high:.3f}] | {len(p.scores)} | {values} |")
    yaml_path, json_path = write_tuned(table, config.out)
    print(f"\nwritten: {yaml_path}, {json_path}")
    return 0
