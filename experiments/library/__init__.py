"""The experiments library: rollouts, evaluation cells, scores, statistics, conformance, files, plots.

Commands (``difficult_customer.experiments.commands``) are thin layers over it.
"""
