"""The precision-recall curve as a PNG (matplotlib, Agg backend: no display on an inspection PC)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge_inspect.evaluation.metrics import pr_curve
from edge_inspect.training.deps import require


def plot_pr_curve(
    path: Path,
    truth: Sequence[bool],
    scores: Sequence[float],
    sweep_rows: Sequence[dict[str, Any]],
    title: str,
) -> Path:
    """Draw the PR curve of the image scores, with the sweep thresholds marked and labelled."""
    matplotlib = require("matplotlib", "the precision-recall plot")
    matplotlib.use("Agg")
    pyplot = require("matplotlib.pyplot", "the precision-recall plot", package="matplotlib")
    precision, recall, _ = pr_curve(truth, scores)
    figure, axes = pyplot.subplots(figsize=(6, 5), dpi=100)
    axes.step(recall, precision, where="post", label="image level (score = max NG threshold)")
    for row in sweep_rows:
        axes.plot(row["recall"], row["precision"], "o", color="tab:red", markersize=4)
        axes.annotate(
            f"{row['threshold']:.1f}",
            (row["recall"], row["precision"]),
            fontsize=7,
            textcoords="offset points",
            xytext=(3, -9),
        )
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0.0, 1.01)
    axes.set_ylim(min(0.9, float(min(precision, default=0.9))) - 0.01, 1.005)
    axes.grid(visible=True, alpha=0.3)
    axes.set_title(title, fontsize=9)
    axes.legend(loc="lower left", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(str(path))
    pyplot.close(figure)
    return path
