"""Global sensitivity of the report's conclusions to every assumption and reading.

The model solves exactly in about a second, so each conclusion the report draws can be
checked over the whole plausible range of the numbers no guide gives:

- ``design``: which models to draw from the documented ranges of every assumption and
  reading parameter (``customer_models.space``, the mixture weights included) with SALib's
  designs: a Latin hypercube for the *shares* (in how many plausible models a conclusion
  holds) and a grouped Morris (or Sobol) design for the *indices* (which assumption drives
  each conclusion);
- ``models``: solving one sampled model exactly (:func:`solve_sample`): the oracle, random,
  every guide, the best fixed sequence, the certified bracket on the best observation-only
  policy, each rule's cost, and the optimum's conformance;
- ``checks``: each conclusion (``library.conclusions``) as a number of one solved model;
- ``analysis``: the share of models in which each conclusion holds (with a Wilson
  interval), each guide's rank distribution, and indices per conclusion;
- ``study``: a whole study of one variant, resumable and in parallel (:func:`run_study`);
- ``tables``: the markdown tables and plots a reader sees;
- ``learning``: ``sensitivity --learn``, a learned policy retrained on sampled models.

This file only gathers their public names; the modules import each other directly.
See docs/sensitivity.md.
"""

from difficult_customer.customer_models.space import Problem, Space, space_for
from difficult_customer.experiments.library.conclusions import GUIDES, robustness_word
from difficult_customer.experiments.library.sensitivity.analysis import Analysis, analyze, ranks_of
from difficult_customer.experiments.library.sensitivity.checks import (
    Check,
    default_conclusions,
    guide_margin,
    normalized,
    scale_defined,
)
from difficult_customer.experiments.library.sensitivity.design import Design, Sample, design_fingerprint, draw
from difficult_customer.experiments.library.sensitivity.learning import (
    LearnSettings,
    learn_configs,
    run_learning,
    score_learned,
)
from difficult_customer.experiments.library.sensitivity.models import (
    RULE_COST_CAP,
    SolveSettings,
    finite_record,
    solve_sample,
)
from difficult_customer.experiments.library.sensitivity.study import read_records, run_study, solve_models
from difficult_customer.experiments.library.sensitivity.tables import (
    learned_summary,
    plot_indices,
    plot_ranks,
    render_markdown,
    top_drivers,
)

__all__ = [
    "GUIDES",
    "RULE_COST_CAP",
    "Analysis",
    "Check",
    "Design",
    "LearnSettings",
    "Problem",
    "Sample",
    "SolveSettings",
    "Space",
    "analyze",
    "default_conclusions",
    "design_fingerprint",
    "draw",
    "finite_record",
    "guide_margin",
    "learn_configs",
    "learned_summary",
    "normalized",
    "plot_indices",
    "plot_ranks",
    "ranks_of",
    "read_records",
    "render_markdown",
    "robustness_word",
    "run_learning",
    "run_study",
    "scale_defined",
    "score_learned",
    "solve_models",
    "solve_sample",
    "space_for",
    "top_drivers",
]
