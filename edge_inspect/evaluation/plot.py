"""The precision-recall curve as a PNG (matplotlib, Agg backend: no display on an inspection PC).

Sweep thresholds that land on the same spot of the curve (a model sure of most images puts several
thresholds at one precision and recall) share one label, ``0.1-0.5``; labels are placed so that none
covers another, with a leader line when a label has to move away from its point.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from edge_inspect.evaluation.metrics import auroc, pr_curve
from edge_inspect.training.deps import require

_SAME_SPOT_PX = 6.0
"""Sweep points closer than this on the figure share a label."""
_NEAR = ((4, -10, "left"), (4, 4, "left"), (-4, -10, "right"), (-4, 4, "right"))
"""Label offsets (points) tried first, beside the marker."""
_LADDER = 24
"""Further offsets tried, one text line apart, with a leader line, before a label is left where it is."""


def plot_pr_curve(
    path: Path,
    truth: Sequence[bool],
    scores: Sequence[float],
    sweep_rows: Sequence[dict[str, Any]],
    title: str,
    *,
    operating: Iterable[float] = (),
) -> Path:
    """Draw the PR curve of the image scores, with the sweep thresholds marked and labelled."""
    pyplot = require("matplotlib.pyplot", "the precision-recall plot", package="matplotlib")
    figure = draw_pr_curve(truth, scores, sweep_rows, title, operating=operating)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(str(path))
    pyplot.close(figure)
    return path


def draw_pr_curve(
    truth: Sequence[bool],
    scores: Sequence[float],
    sweep_rows: Sequence[dict[str, Any]],
    title: str,
    *,
    operating: Iterable[float] = (),
) -> Any:
    """The figure of :func:`plot_pr_curve` (a matplotlib ``Figure``; the caller closes it)."""
    matplotlib = require("matplotlib", "the precision-recall plot")
    matplotlib.use("Agg")
    pyplot = require("matplotlib.pyplot", "the precision-recall plot", package="matplotlib")
    points = {round(float(t), 4) for t in operating}
    precision, recall, _ = pr_curve(truth, scores)
    figure, axes = pyplot.subplots(figsize=(6, 5), dpi=100)
    area = auroc(truth, scores) if 0 < sum(truth) < len(truth) else None
    auc = "" if area is None else f", AUROC {area:.4f}"
    axes.step(recall, precision, where="post", label=f"image level (score = max NG threshold){auc}")
    rows = sorted(sweep_rows, key=lambda r: float(r["threshold"]))
    for row in rows:
        at_point = round(float(row["threshold"]), 4) in points
        axes.plot(
            row["recall"],
            row["precision"],
            "*" if at_point else "o",
            color="tab:green" if at_point else "tab:red",
            markersize=9 if at_point else 4,
            zorder=3,
        )
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0.0, 1.01)
    axes.set_ylim(min(0.9, float(min(precision, default=0.9))) - 0.01, 1.005)
    axes.grid(visible=True, alpha=0.3)
    axes.set_title(title, fontsize=9)
    axes.legend(loc="lower left", fontsize=8)
    figure.tight_layout()  # before the labels: their places are found on the final layout
    _label(figure, axes, rows, points)
    return figure


def _label(figure: Any, axes: Any, rows: Sequence[dict[str, Any]], points: set[float]) -> None:
    renderer = figure.canvas.get_renderer()
    taken: list[Any] = []  # window extents of the labels placed so far
    frame = figure.bbox
    for group in _same_spot(axes, rows):
        thresholds = [round(float(r["threshold"]), 4) for r in group]
        text = _range(thresholds)
        marked = [t for t in thresholds if t in points]
        if marked:
            text += " (operating point)" if len(thresholds) == 1 else f" (operating point {marked[0]:g})"
        xy = (group[0]["recall"], group[0]["precision"])
        for dx, dy, align in _offsets():
            leader = (dx, dy, align) not in _NEAR
            label = axes.annotate(
                text,
                xy,
                fontsize=7,
                textcoords="offset points",
                xytext=(dx, dy),
                ha=align,
                arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "0.4"} if leader else None,
            )
            box = label.get_window_extent(renderer)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            if inside and not any(box.overlaps(other) for other in taken):
                taken.append(box)
                break
            label.remove()
        else:  # no free place on the figure: the last resort beside the point
            label = axes.annotate(text, xy, fontsize=7, textcoords="offset points", xytext=_NEAR[0][:2])
            taken.append(label.get_window_extent(renderer))


def _offsets() -> Iterable[tuple[int, int, str]]:
    yield from _NEAR
    for step in range(1, _LADDER + 1):
        for sign in (-1, 1):
            yield (-14, sign * (4 + 10 * step), "right")
            yield (14, sign * (4 + 10 * step), "left")


def _same_spot(axes: Any, rows: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Rows (in threshold order) grouped while they stay on the first one's spot of the figure."""
    groups: list[list[dict[str, Any]]] = []
    anchor: tuple[float, float] | None = None
    for row in rows:
        x, y = axes.transData.transform((row["recall"], row["precision"]))
        if anchor is not None and abs(x - anchor[0]) <= _SAME_SPOT_PX and abs(y - anchor[1]) <= _SAME_SPOT_PX:
            groups[-1].append(row)
            continue
        groups.append([row])
        anchor = (float(x), float(y))
    return groups


def _range(thresholds: Sequence[float]) -> str:
    first, last = f"{thresholds[0]:g}", f"{thresholds[-1]:g}"
    return first if first == last else f"{first}-{last}"
