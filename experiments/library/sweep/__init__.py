"""Studies on Ray: expand a study file into runs, run them (embedded Ray or a cluster), store the results.

- ``study``: parse a study YAML and expand it into runs with stable ids;
- ``store``: the results store (SQLite table, one row per run, plus artifacts);
- ``engine``: Ray Core execution with retries and progress; ``run_trainings`` for
  report, ablations and sensitivity;
- ``runs``: run kinds (``train``, ``probe``);
- ``results``: tidy rows and IQMs across seeds per group.

Ray is imported only when runs are executed: reading a store needs only the standard
library and numpy/scipy.
"""

from difficult_customer.experiments.library.sweep.engine import Progress, run_study, run_trainings
from difficult_customer.experiments.library.sweep.results import read_rows, summarize
from difficult_customer.experiments.library.sweep.store import Store, export_parquet
from difficult_customer.experiments.library.sweep.study import Run, Study, expand_study, load_study

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
]
