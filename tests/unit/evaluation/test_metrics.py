"""Figures of merit on cases small enough to count by hand."""

from __future__ import annotations

import numpy as np
import pytest

from edge_inspect.evaluation.metrics import Confusion, auroc, dice, iou, pr_curve, sweep


def test_confusion_matrix_and_its_rates() -> None:
    # given 4 defective and 6 good images; 3 defective and 1 good are called NG
    truth = [True, True, True, True, False, False, False, False, False, False]
    predicted = [True, True, True, False, True, False, False, False, False, False]
    c = Confusion.of(truth, predicted)
    assert (c.tp, c.tn, c.fp, c.fn) == (3, 5, 1, 1)
    assert c.precision == pytest.approx(3 / 4)
    assert c.recall == pytest.approx(3 / 4)
    assert c.false_alarm_rate == pytest.approx(1 / 6)
    assert c.f1 == pytest.approx(3 / 4)
    assert c.accuracy == pytest.approx(8 / 10)


def test_empty_cases_have_defined_figures() -> None:
    c = Confusion.of([False, False], [False, False])
    assert (c.precision, c.recall, c.false_alarm_rate) == (1.0, 1.0, 0.0)
    assert Confusion.of([True], [False]).f1 == 0.0


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="truth has"):
        Confusion.of([True, False], [True])


def test_auroc_counts_pairs_and_halves_ties() -> None:
    # positives 0.9, 0.4; negatives 0.4, 0.1, 0.0 -> pairs won: 3 + (0.5 + 1 + 1) = 5.5 of 6
    assert auroc([True, True, False, False, False], [0.9, 0.4, 0.4, 0.1, 0.0]) == pytest.approx(5.5 / 6)
    assert auroc([True, False], [1.0, 0.0]) == 1.0
    assert auroc([True, False], [0.0, 1.0]) == 0.0
    with pytest.raises(ValueError, match="needs defective and defect-free"):
        auroc([True, True], [0.2, 0.3])


def test_iou_and_dice_of_overlapping_squares() -> None:
    a = np.zeros((10, 10), np.uint8)
    b = np.zeros((10, 10), np.uint8)
    a[0:4, 0:4] = 1  # 16 px
    b[2:6, 0:4] = 255  # 16 px, 8 shared
    assert iou(a, b) == pytest.approx(8 / 24)
    assert dice(a, b) == pytest.approx(16 / 32)
    assert iou(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0


def test_sweep_rows_per_threshold() -> None:
    truth = [True, False, True]
    predictions = np.array([[True, True, True], [True, False, False]])
    rows = sweep([0.1, 0.9], truth, predictions)
    assert rows[0].as_dict() | {} == {
        "threshold": 0.1,
        "tp": 2,
        "tn": 0,
        "fp": 1,
        "fn": 0,
        "fp_rate": 1.0,
        "precision": pytest.approx(2 / 3),
        "recall": 1.0,
        "f1": pytest.approx(0.8),
    }
    assert (rows[1].confusion.tp, rows[1].confusion.fn, rows[1].confusion.fp) == (1, 1, 0)
    with pytest.raises(ValueError, match="thresholds but"):
        sweep([0.5], truth, predictions)


def test_pr_curve_walks_down_the_scores() -> None:
    precision, recall, cuts = pr_curve([True, False, True], [0.9, 0.5, 0.2])
    assert list(cuts) == [0.9, 0.5, 0.2]
    assert list(recall) == [0.5, 0.5, 1.0]
    assert list(precision) == pytest.approx([1.0, 0.5, 2 / 3])
