"""The research report: train, evaluate every policy, compare with the guides and the certified optimum.

Trains the budget's learners on the mixture, scores every policy on every persona (exactly
wherever its move depends only on the current observation, else on 2,000+ sampled
conversations), brackets the best observation-only policy, compares with the guides and
says how robust each headline conclusion is. Writes report.md, PNG figures and
results.json (the typed results, which load back). Resumable: running it again skips what
is done. ``--from STORE`` builds the report from a sweep study's results store instead;
with ``--baselines-doc docs/baselines.md`` it also saves the store's results as
``STORE/baselines.json`` (what the default report shows as the converged baselines) and
writes that page (``difficult-customer report --from experiments/baselines --out
results/baselines --baselines-doc docs/baselines.md``, from the repository's root).
The pipeline is ``experiments/library/report/``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import tyro

from difficult_customer.customer_models import PERSONA_NAMES, check_ablate
from difficult_customer.customer_models.switches import VARIANTS
from difficult_customer.envs.customer_env import DEFAULT_MAX_TURNS
from difficult_customer.experiments.library.budgets import BudgetName, budget
from difficult_customer.experiments.library.report.baselines import RESULTS_FILE, intro_path, load_baselines
from difficult_customer.experiments.library.report.build import build_results
from difficult_customer.experiments.library.report.files import write_baselines_doc, write_report
from difficult_customer.experiments.library.report.robustness import QUICK_STUDY_SAMPLES
from difficult_customer.experiments.library.report.store import display_path, store_results

PERSONAS = ("mixture", "genuine_grievance", "naturally_difficult", "belligerent")


@dataclass
class Config:
    """Settings of the report."""

    budget: BudgetName = "default"
    """Named budget (experiments/library/budgets.py): default (5 seeds per learner), quick (3 seeds), tiny (tests)."""
    quick: bool = False
    """Shorthand for --budget quick."""
    out: str = "results/report"
    """Folder for report.md, results.json, the figures, the training store, evaluation cells and cached solutions."""
    seed: int = 0
    """Training seeds are seed, seed + 1, ...; evaluation seeds are derived from it too."""
    variant: Literal["default", "guide_only"] = "default"
    """Customer model: default (every assumption on) or guide_only (every assumption off); the headline names it."""
    train_persona: str = "mixture"
    """Persona or mixture the learners train on; the report leads with it."""
    personas: list[str] = field(default_factory=lambda: list(PERSONAS))
    """Personas every policy is evaluated on."""
    ablate: list[str] = field(default_factory=list)
    """Claims (C1-C10) or other switches of the customer model turned off on top of the variant, e.g. C4 C6."""
    max_turns: int = DEFAULT_MAX_TURNS
    """Turn limit of each conversation."""
    workers: int = 2
    """CPUs the training runs (and the quick sensitivity study) are spread over."""
    n_envs: int = 8
    """Environments stepped together while training."""
    sensitivity: str | None = None
    """An existing sensitivity.json (difficult-customer sensitivity) to read the robustness of each conclusion from."""
    robustness_samples: int | None = None
    """Models of the report's own quick sensitivity study (0: none; default: 16 with the default budget, 0
    otherwise). Ignored with --sensitivity."""
    from_store: Annotated[str | None, tyro.conf.arg(name="from")] = None
    """Build the report from a sweep study's results store (difficult-customer sweep) instead of training."""
    baselines_doc: str | None = None
    """With --from: also save the store's results as STORE/baselines.json (the converged baselines the default report
    shows) and write this page from them (docs/baselines.md), after the hand-written text of its .intro.md sibling
    (docs/baselines.intro.md)."""
    progress: bool = True
    """Show progress bars on stderr."""

    @property
    def budget_name(self) -> str:
        """The budget used: quick with --quick, else --budget."""
        return "quick" if self.quick else self.budget

    @property
    def study_samples(self) -> int:
        """Models of the quick sensitivity study this report runs (0: none)."""
        if self.sensitivity is not None:
            return 0
        if self.robustness_samples is not None:
            return self.robustness_samples
        return QUICK_STUDY_SAMPLES if self.budget_name == "default" else 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first bad setting."""
        budget(self.budget_name)
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown variant {self.variant!r}; allowed: {', '.join(VARIANTS)}")
        check_ablate(self.ablate)
        for persona in [self.train_persona, *self.personas]:
            if persona not in PERSONA_NAMES:
                raise ValueError(f"unknown persona {persona!r}; allowed: {', '.join(PERSONA_NAMES)}")
        if not self.personas:
            raise ValueError("personas=[]; allowed is one or more personas")
        if isinstance(self.workers, bool) or not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers={self.workers}; allowed is an integer >= 1")
        if self.robustness_samples is not None and (self.robustness_samples < 0 or self.robustness_samples == 1):
            raise ValueError(f"robustness_samples={self.robustness_samples}; allowed is 0 or an integer >= 2")
        if self.sensitivity is not None and not Path(self.sensitivity).is_file():
            raise ValueError(f"sensitivity={self.sensitivity!r} is not a file; give a sensitivity.json written by "
                             "difficult-customer sensitivity")
        if self.from_store is not None and not (Path(self.from_store) / "runs.sqlite").is_file():
            raise ValueError(f"from={self.from_store!r} is not a results store (no runs.sqlite in it); give the "
                             "folder of a difficult-customer sweep")
        if self.baselines_doc is not None and self.from_store is None:
            raise ValueError(f"baselines_doc={self.baselines_doc!r} without --from; allowed: with --from STORE "
                             "(e.g. --from experiments/baselines --baselines-doc docs/baselines.md)")
        if self.baselines_doc is not None and not self.baselines_doc.endswith(".md"):
            raise ValueError(f"baselines_doc={self.baselines_doc!r}; allowed: a markdown file ending in .md")


def main(config: Config) -> int:
    """Build the results, write the report; 2 on bad settings, 1 when training runs failed (run again to retry)."""
    try:
        config.validate()
        if config.from_store is not None:
            known, _ = load_baselines(Path(config.from_store)) if config.baselines_doc else (None, "")
            results = store_results(config.from_store, config.out, config.budget_name, config.seed,
                                    config.sensitivity, name=display_path(config.from_store),
                                    brackets={k: c.bracket for k, c in known.contexts.items()} if known else None)
        else:
            results = build_results(config)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except RuntimeError as err:  # failed training runs (the others are stored; running again retries these)
        print(f"error: {err}", file=sys.stderr)
        return 1
    path = write_report(results, config.out)
    print(f"report: {path} ({results.settings.wall_seconds:.0f} s)")
    if config.baselines_doc is not None:
        doc = write_baselines_doc(results, config.from_store, config.baselines_doc)
        intro = intro_path(doc)
        print(f"baselines: {doc} (after {intro if intro.is_file() else 'no hand-written preamble'}), "
              f"{Path(config.from_store) / RESULTS_FILE}")
    return 0
