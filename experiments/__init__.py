"""Experiments: the command line, the benchmark, speed and exact-solver scripts, reports.

Run ``difficult-customer --help``. Needs the ``report`` extra (scipy, tqdm, rich,
matplotlib); training needs the ``train`` extra.
"""

if __name__ != "difficult_customer.experiments":  # a checkout's folder imported under a second, top-level name
    raise ImportError(
        f"this package is difficult_customer.experiments, imported here as {__name__!r}; install the project "
        "(pip install -e .) and import difficult_customer.experiments"
    )
