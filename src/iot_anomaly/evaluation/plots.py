"""PNG figures for reports: confusion matrices, ROC/PR curves and bar charts.

Figures are built as `matplotlib.figure.Figure` objects on an explicit Agg canvas rather
than through pyplot, so nothing touches pyplot's global figure list or the display and
nothing is left open after saving. Files are written atomically (`iot_anomaly.io`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from iot_anomaly.io import atomic_write
from iot_anomaly.schema import CATEGORIES


def _save(fig: Figure, path: Path) -> Path:
    """Write fig as PNG to path (parent folders created) and release it."""
    FigureCanvasAgg(fig)
    fig.tight_layout()
    try:
        return atomic_write(Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=120))
    finally:
        fig.clear()


def confusion_matrix_png(
    cm: list[list[int]] | np.ndarray,
    path: Path,
    title: str,
    labels: Sequence[str] = CATEGORIES,
    normalise: bool = True,
) -> Path:
    """Heat map of a confusion matrix (rows = true, cols = predicted) with counts in cells.

    With `normalise` the colour is each row's share (per-category recall on the diagonal),
    so rare categories such as u2r stay visible next to hundreds of thousands of dos rows;
    the printed numbers are always the raw counts.
    """
    counts = np.asarray(cm, dtype=float)
    if normalise:
        sums = counts.sum(axis=1, keepdims=True)
        colour = np.divide(counts, sums, out=np.zeros_like(counts), where=sums > 0)
        vmax = 1.0
    else:
        colour = counts
        vmax = max(float(counts.max()), 1.0)
    size = max(4.0, 0.9 * len(labels) + 2)
    fig = Figure(figsize=(size + 1, size))
    ax = fig.add_subplot()
    image = ax.imshow(colour, cmap="Blues", vmin=0.0, vmax=vmax)
    fig.colorbar(image, ax=ax, label="share of true row" if normalise else "count")
    ticks = range(len(labels))
    ax.set_xticks(ticks, labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(ticks, labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            dark = colour[i, j] > 0.5 * vmax
            ax.text(
                j,
                i,
                f"{int(counts[i, j]):,}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
    return _save(fig, path)


def _legend_label(name: str, curve: dict, key: str) -> str:
    value = curve.get(key)
    return name if value is None else f"{name} ({key.replace('_', ' ')} {value:.4f})"


def roc_pr_png(curves: dict[str, dict], path: Path, title: str) -> Path:
    """ROC and precision-recall curves of several models side by side.

    `curves` maps a model name to the output of `metrics.roc_pr_curves`; the legend shows
    roc_auc / pr_auc when the dict carries them.
    """
    fig = Figure(figsize=(11, 4.8))
    roc, pr = fig.subplots(1, 2)
    roc.plot([0, 1], [0, 1], linestyle=":", color="grey", linewidth=1)
    for name, curve in curves.items():
        roc.plot(curve["fpr"], curve["tpr"], label=_legend_label(name, curve, "roc_auc"))
        pr.plot(curve["recall"], curve["precision"], label=_legend_label(name, curve, "pr_auc"))
    roc.set(xlabel="false positive rate", ylabel="true positive rate (recall)", title="ROC")
    pr.set(xlabel="recall", ylabel="precision", title="Precision-recall")
    for ax in (roc, pr):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
        if curves:
            ax.legend(loc="lower right" if ax is roc else "lower left", fontsize=8)
    fig.suptitle(title)
    return _save(fig, path)


def bar_png(values: dict[str, float], path: Path, title: str, xlabel: str) -> Path:
    """Horizontal bar chart, largest value at the top (e.g. feature importances)."""
    items = sorted(values.items(), key=lambda kv: kv[1])  # smallest first = bottom bar
    names = [k for k, _ in items]
    heights = [float(v) for _, v in items]
    fig = Figure(figsize=(7, max(2.5, 0.28 * len(items) + 1.2)))
    ax = fig.add_subplot()
    ax.barh(range(len(items)), heights, color="#2271b1")
    ax.set_yticks(range(len(items)), labels=names, fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)
