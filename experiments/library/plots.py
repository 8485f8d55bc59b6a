"""Figures of the report (matplotlib, Agg backend, PNG)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from difficult_customer.customer_models import Move


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    tmp.replace(path)
    _plt().close(fig)
    return path


def learning_curves(
    curves: dict[str, dict[str, Any]], lines: dict[str, float], path: Path, title: str,
    band: tuple[float, float] | None = None,
) -> Path:
    """Normalized score against environment steps, mean and min-max band over seeds.

    Args:
        curves: algorithm -> {"steps": [...], "scores": (seeds, points) array}; a name
            containing "model's filter" is drawn dashed (it uses the model, unlike the others).
        lines: label -> normalized score drawn as a horizontal line (guides).
        band: (lower, upper) of the certified bracket on the best observation-only policy, shaded.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    if band is not None:
        ax.axhspan(band[0], band[1], color="gold", alpha=0.35, label="certified bracket (best observation-only)")
    for algo, data in curves.items():
        steps = np.asarray(data["steps"])
        scores = np.asarray(data["scores"], dtype=float)
        mean = scores.mean(0)
        style = "--" if "model's filter" in algo else "-"
        ax.plot(steps, mean, label=f"{algo} (n={scores.shape[0]})", linewidth=2, linestyle=style)
        if scores.shape[0] > 1:
            ax.fill_between(steps, scores.min(0), scores.max(0), alpha=0.2)
    styles = ["--", ":", "-."]
    for i, (label, value) in enumerate(lines.items()):
        ax.axhline(value, linestyle=styles[i % 3], color="grey" if "guide" in label else "black", linewidth=1)
        ax.text(ax.get_xlim()[1] if ax.lines else 1, value, f" {label}", va="center", fontsize=7)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("normalized score (0 random, 1 oracle)")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def heatmap(
    matrix: np.ndarray, rows: list[str], cols: list[str], path: Path, title: str, fmt: str = "{:.2f}",
    vmin: float = 0.0, vmax: float = 1.0, cmap: str = "RdYlGn",
) -> Path:
    """A labelled heat map with the value in every cell (NaN cells left blank)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(cols), 0.9 + 0.38 * len(rows)))
    ax.imshow(np.ma.masked_invalid(matrix), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    for i in range(len(rows)):
        for j in range(len(cols)):
            if np.isfinite(matrix[i, j]):
                ax.text(j, i, fmt.format(matrix[i, j]), ha="center", va="center", fontsize=7)
    ax.set_title(title, fontsize=10)
    return _save(fig, path)


def strategy_grid(move_by_turn: dict[str, np.ndarray], path: Path, title: str) -> Path:
    """For each policy, the share of each move at each turn (moves x turns heat maps)."""
    plt = _plt()
    names = list(move_by_turn)
    cols = 4
    rows = int(np.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.2 * rows), squeeze=False)
    labels = [m.name.replace("_", " ") for m in Move]
    for ax, name in zip(axes.ravel(), names, strict=False):
        share = move_by_turn[name]
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_title(name, fontsize=8)
        ax.set_yticks(range(len(labels)), labels, fontsize=6)
        ax.set_xticks(range(0, share.shape[1], 2), [str(t + 1) for t in range(0, share.shape[1], 2)], fontsize=6)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    fig.suptitle(title + " (share of conversations still going, by turn)", fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def score_bars(names: list[str], values: list[float], lows: list[float], highs: list[float], path: Path,
               title: str, groups: list[str] | None = None, band: tuple[float, float] | None = None) -> Path:
    """Horizontal bars of normalized scores with interval whiskers.

    Args:
        groups: one group per bar (e.g. "learned, observation only"); bars are coloured by
            group, with a legend, so that unlike policies are told apart.
        band: (lower, upper) of the certified bracket, shaded.
    """
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 0.8 + 0.32 * len(names)))
    y = np.arange(len(names))
    v = np.asarray(values)
    err = np.vstack([v - np.asarray(lows), np.asarray(highs) - v])
    if band is not None:
        ax.axvspan(band[0], band[1], color="gold", alpha=0.35, label="certified bracket")
    if groups is None:
        ax.barh(y, v, xerr=err, color="steelblue", alpha=0.8, capsize=2)
    else:
        palette = plt.get_cmap("tab10")
        for i, group in enumerate(dict.fromkeys(groups)):
            rows = np.array([g == group for g in groups])
            ax.barh(y[rows], v[rows], xerr=err[:, rows], color=palette(i % 10), alpha=0.85, capsize=2, label=group)
        ax.legend(fontsize=7, loc="lower right")
    ax.set_yticks(y, names, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.axvline(1, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel("normalized score (0 random, 1 oracle)")
    ax.set_title(title, fontsize=10)
    return _save(fig, path)
