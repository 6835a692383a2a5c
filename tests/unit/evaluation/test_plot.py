"""The PR plot: every sweep threshold labelled, no label over another, the operating point marked."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("matplotlib")

from edge_inspect.evaluation.plot import draw_pr_curve, plot_pr_curve

THRESHOLDS = (0.06, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def _sweep(points: list[tuple[float, float]]) -> list[dict[str, float]]:
    return [
        {"threshold": t, "recall": r, "precision": p} for t, (r, p) in zip(THRESHOLDS, points, strict=True)
    ]


def _texts(figure: Any) -> list[Any]:
    return list(figure.axes[0].texts)


def test_given_thresholds_on_one_spot_and_close_by_when_drawn_then_no_label_covers_another() -> None:
    # a confident model: most thresholds at the same corner, the rest a hair apart
    points = [(0.99, 1.0)] * 6 + [(0.97, 0.999), (0.95, 0.998), (0.93, 0.997), (0.91, 0.996)]
    truth = [True] * 50 + [False] * 50
    scores = [0.9] * 49 + [0.05] + [0.01] * 50
    figure = draw_pr_curve(truth, scores, _sweep(points), "t", operating=[0.06])
    renderer = figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in _texts(figure)]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    labels = [t.get_text() for t in _texts(figure)]
    assert labels[0] == "0.06-0.5 (operating point 0.06)"  # the six on one spot share one label
    assert labels[1:] == ["0.6", "0.7", "0.8", "0.9"]
    for box in boxes:
        assert figure.bbox.x0 <= box.x0
        assert box.x1 <= figure.bbox.x1


def test_given_a_sweep_when_plotted_then_a_png_is_written(tmp_path: Path) -> None:
    points = [(1.0 - 0.05 * i, 0.9 + 0.01 * i) for i in range(len(THRESHOLDS))]
    out = plot_pr_curve(tmp_path / "pr.png", [True, False], [0.9, 0.1], _sweep(points), "t")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_given_both_kinds_of_image_then_the_legend_gives_the_auroc() -> None:
    truth = [True, True, False, False]
    scores = [0.9, 0.3, 0.4, 0.1]  # one good image scores above one defective: AUROC 3/4
    figure = draw_pr_curve(truth, scores, _sweep([(1.0, 1.0)] * 10), "t")
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend == ["image level (score = max NG threshold), AUROC 0.7500"]
