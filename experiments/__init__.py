"""Experiments: the command line, the benchmark, speed and exact-solver scripts, reports.

Run ``python -m experiments --help``. Needs the ``report`` extra (scipy, tqdm, rich,
matplotlib); training needs the ``train`` extra.
"""
