"""What a sensitivity study shows a reader: markdown tables, plots, and the learned strategy's summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.experiments.library.conclusions import GUIDES, robustness_word
from difficult_customer.experiments.library.numbers import fmt


def top_drivers(entry: dict[str, Any], k: int = 3) -> list[tuple[str, float]]:
    """The ``k`` groups with the largest index for one conclusion, largest first (NaN last)."""
    items = [(g, float(v)) for g, v in entry["index"].items()]
    items.sort(key=lambda gv: (not np.isfinite(gv[1]), -gv[1] if np.isfinite(gv[1]) else 0.0))
    return items[:k]


def render_markdown(document: dict[str, Any]) -> str:
    """The robustness tables of every variant of a ``sensitivity.json`` document, as markdown."""
    lines: list[str] = ["# Sensitivity of the conclusions", ""]
    design = document["design"]
    lines.append(
        f"Design: {design['lhs_samples']} Latin-hypercube models for the shares, "
        f"{design['index_method']} indices with r = {design['index_trajectories']}; seed {design['seed']}. "
        "Every model is solved exactly; the bracket and the rule costs are exact; the oracle's conformance "
        f"comes from {document['settings']['conformance_episodes']} conversations per model."
    )
    for variant, study in document["variants"].items():
        lines += ["", f"## Variant `{variant}` ({study['lhs_samples']} sampled models, "
                      f"{len(study['parameters'])} parameters in {len(study['groups'])} groups, "
                      f"{study['seconds']:.0f} s)", ""]
        undefined = study.get("undefined_models") or []
        if undefined:
            lines += [f"Left out: {len(undefined)} sampled models whose oracle is no better than random moves "
                      f"(no normalized score exists there): {', '.join(undefined)}.", ""]
        lines.append("| conclusion | in the default model | share of plausible models (95% CI) | verdict | "
                     "what drives it most |")
        lines.append("|---|---|---|---|---|")
        for c in study["conclusions"]:
            low, high = c["share_ci"]
            drivers = ", ".join(f"{g} {v:.2f}" for g, v in top_drivers(c))
            default = {True: "holds", False: "fails", None: "n/a"}[c.get("holds_in_default")]
            lines.append(
                f"| {c['text']} | {default} ({c.get('default_value', float('nan')):+.3f}) | "
                f"{c['share']:.0%} [{low:.0%}, {high:.0%}] | {robustness_word(c['share'], low, high)} | {drivers} |"
            )
        lines += ["", "| guide | " + " | ".join(f"rank {i + 1}" for i in range(len(GUIDES))) + " |",
                  "|---|" + "---|" * len(GUIDES)]
        for g, shares in study["ranks"].items():
            lines.append(f"| {g} | " + " | ".join(f"{s:.0%}" for s in shares) + " |")
        if "learned" in study:
            learned = study["learned"]
            lines += ["", f"Learned strategy ({learned['algo']}, {learned['steps']:,} steps, retrained on each of "
                          f"{study['learned_summary'][0]['models']} models: the built-in one and LHS samples): "
                          "median [interquartile range] across models, beside the exact optimum's.", "",
                      "| | learned | exact optimum (oracle) | keeping it costs (raw) |", "|---|---|---|---|"]
            for row in study["learned_summary"]:
                lines.append(f"| {row['what']} | {_iqr(row['learned'])} | {_iqr(row['optimum'])} | "
                             f"{_iqr(row.get('cost'))} |")
    return "\n".join(lines) + "\n"


def learned_summary(study: dict[str, Any], learned: dict[str, Any], rules: Sequence[str]) -> list[dict[str, Any]]:
    """Per rule (and the score): the learned strategy across sampled models, beside the exact optimum's.

    The optimum's conformance and rule costs are read from ``study["records"]`` (the
    records of the same models, by key). A learned policy whose model has no normalized
    scale (``normalized`` None) is left out of the score's quartiles.
    """
    records = study["records"]
    out = []
    scores = [r["normalized"] for r in learned["rows"] if r["normalized"] is not None]
    out.append({"what": "normalized score", "learned": _quartiles(scores), "optimum": [1.0, 1.0, 1.0],
                "models": len({r["model"] for r in learned["rows"]})})
    for rule in rules:
        learned_rates = [r["conformance"][rule][0] for r in learned["rows"] if r["conformance"].get(rule)]
        optimum = [records[r["model"]].get(f"conf_{rule}") for r in learned["rows"]]
        optimum = [v for v in optimum if v is not None]
        costs = [records[r["model"]].get(f"cost_{rule}") for r in learned["rows"]]
        out.append({"what": rule, "learned": _quartiles(learned_rates), "optimum": _quartiles(optimum),
                    "cost": _quartiles([c for c in costs if c is not None]),
                    "models": len(learned_rates)})
    return out


def _iqr(q: Sequence[float] | None) -> str:
    """``median [q25, q75]`` of quartiles ``[q25, median, q75]``; a dash for None."""
    if q is None:
        return "—"
    return f"{fmt(q[1])} [{fmt(q[0])}, {fmt(q[2])}]"


def _quartiles(values: Sequence[float]) -> list[float] | None:
    """Median and interquartile range ``[q25, median, q75]``, or None without values."""
    if not values:
        return None
    q = np.quantile(np.asarray(values, dtype=float), [0.25, 0.5, 0.75])
    return [float(v) for v in q]


def plot_ranks(ranks: dict[str, list[float]], path: Path, title: str) -> Path:
    """Stacked bars: for each guide, the share of sampled models in which it ranks 1st ... 5th."""
    import matplotlib  # optional extra (report)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # optional extra (report)

    guides = list(ranks)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    bottom = np.zeros(len(guides))
    colors = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, len(GUIDES)))
    for place in range(len(GUIDES)):
        share = np.array([ranks[g][place] for g in guides])
        ax.bar(guides, share, bottom=bottom, color=colors[place], label=f"rank {place + 1}")
        bottom += share
    ax.set_ylabel("share of sampled models")
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_indices(conclusions: Sequence[dict[str, Any]], path: Path, title: str) -> Path:
    """One panel per conclusion (titled in its words): each group's index (Morris mu* or Sobol total)."""
    import matplotlib  # optional extra (report)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # optional extra (report)

    n = len(conclusions)
    cols = 3
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 2.6 * rows), squeeze=False)
    for ax, c in zip(axes.ravel(), conclusions, strict=False):
        names = list(c["index"])
        values = np.array([c["index"][k] for k in names])
        conf = np.array([c["index_conf"].get(k, 0.0) for k in names])
        order = np.argsort(values)
        ax.barh([names[i] for i in order], values[order], xerr=np.nan_to_num(conf[order]), color="tab:blue")
        ax.set_title(f"{c.get('words', c['id'])} ({c['share']:.0%} hold)", fontsize=8, wrap=True)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["learned_summary", "plot_indices", "plot_ranks", "render_markdown", "robustness_word", "top_drivers"]
