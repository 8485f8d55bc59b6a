"""Studies on Ray: expand a study file into runs, run them (embedded Ray or a cluster), store the results.

- ``study``: parse a study YAML and expand it into runs with stable ids;
- ``store``: the results store (SQLite table, one row per run, plus artifacts);
- ``engine``: Ray Core execution with retries and progress;
- ``runs``: run kinds (``train``, ``probe``), registered in ``RUN_KINDS``;
- ``trainings``: ``run_trainings`` and ``train_all``, how report, ablations and
  ``sensitivity --learn`` train;
- ``results``: tidy rows, IQMs across seeds per group, and a Parquet copy.

Ray is imported only when runs are executed; reading a store does not need it.
Inside this package, modules import each other directly, never through this file.
"""

from difficult_customer.experiments.library.sweep.engine import Progress, run_study
from difficult_customer.experiments.library.sweep.results import export_parquet, read_rows, summarize
from difficult_customer.experiments.library.sweep.store import Store
from difficult_customer.experiments.library.sweep.study import Run, Study, expand_study, load_study
from difficult_customer.experiments.library.sweep.trainings import run_trainings, train_all

__all__ = [
    "Progress",
    "Run",
    "Store",
    "Study",
    "expand_study",
    "export_parquet",
    "load_study",
    "read_rows",
    "run_study",
    "run_trainings",
    "summarize",
    "train_all",
]
