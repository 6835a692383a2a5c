"""Pure numpy figures of merit: confusion matrix, precision / recall / false-alarm rate / F1, AUROC, IoU,
Dice, and the threshold sweep table.

Conventions, chosen so no figure is ever NaN (a JSON report must stay valid): precision with no NG
predictions is 1.0 (no false alarm was raised); recall with no defective images is 1.0; false-alarm rate
with no defect-free images is 0.0; IoU and Dice of two empty masks are 1.0.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Confusion:
    """Image-level confusion matrix; positive = defective / NG."""

    tp: int
    tn: int
    fp: int
    fn: int

    @classmethod
    def of(cls, truth: Sequence[bool] | BoolArray, predicted: Sequence[bool] | BoolArray) -> Confusion:
        t = np.asarray(truth, dtype=bool)
        p = np.asarray(predicted, dtype=bool)
        if t.shape != p.shape:
            msg = f"truth has {t.shape} entries, predictions {p.shape}"
            raise ValueError(msg)
        return cls(
            tp=int((t & p).sum()), tn=int((~t & ~p).sum()), fp=int((~t & p).sum()), fn=int((t & ~p).sum())
        )

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def false_alarm_rate(self) -> float:
        """FP / (FP + TN): the share of good parts rejected."""
        return self.fp / (self.fp + self.tn) if self.fp + self.tn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def accuracy(self) -> float:
        total = self.tp + self.tn + self.fp + self.fn
        return (self.tp + self.tn) / total if total else 1.0

    def as_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "precision": self.precision,
            "recall": self.recall,
            "false_alarm_rate": self.false_alarm_rate,
            "f1": self.f1,
            "accuracy": self.accuracy,
        }


def auroc(truth: Sequence[bool] | BoolArray, scores: Sequence[float] | npt.NDArray[Any]) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties count half).

    Raises ValueError when either class is absent: an AUROC without both means nothing.
    """
    t = np.asarray(truth, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos, n_neg = int(t.sum()), int((~t).sum())
    if n_pos == 0 or n_neg == 0:
        msg = f"AUROC needs defective and defect-free images (got {n_pos} and {n_neg})"
        raise ValueError(msg)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    u = ranks[t].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (n_pos * n_neg))


def iou(predicted: npt.NDArray[Any], truth: npt.NDArray[Any]) -> float:
    """Intersection over union of two masks (non-zero = defect)."""
    p, t = np.asarray(predicted) > 0, np.asarray(truth) > 0
    union = int((p | t).sum())
    return int((p & t).sum()) / union if union else 1.0


def dice(predicted: npt.NDArray[Any], truth: npt.NDArray[Any]) -> float:
    """Dice coefficient 2|P∩T| / (|P| + |T|) of two masks (non-zero = defect)."""
    p, t = np.asarray(predicted) > 0, np.asarray(truth) > 0
    total = int(p.sum() + t.sum())
    return 2 * int((p & t).sum()) / total if total else 1.0


@dataclass(frozen=True)
class SweepRow:
    """One row of the threshold sweep table."""

    threshold: float
    confusion: Confusion

    def as_dict(self) -> dict[str, Any]:
        c = self.confusion
        return {
            "threshold": self.threshold,
            "tp": c.tp,
            "tn": c.tn,
            "fp": c.fp,
            "fn": c.fn,
            "fp_rate": c.false_alarm_rate,
            "precision": c.precision,
            "recall": c.recall,
            "f1": c.f1,
        }


def sweep(
    thresholds: Sequence[float], truth: Sequence[bool] | BoolArray, predictions: npt.NDArray[np.bool_]
) -> list[SweepRow]:
    """One row per threshold; ``predictions[k, i]``: image i's NG verdict re-decided at ``thresholds[k]``."""
    if predictions.shape[0] != len(thresholds):
        msg = f"{len(thresholds)} thresholds but {predictions.shape[0]} rows of predictions"
        raise ValueError(msg)
    return [SweepRow(float(t), Confusion.of(truth, predictions[k])) for k, t in enumerate(thresholds)]


def pr_curve(
    truth: Sequence[bool] | BoolArray, scores: Sequence[float] | npt.NDArray[Any]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """(precision, recall, threshold) at every distinct score; an image is NG when its score >= threshold."""
    t = np.asarray(truth, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    cuts = np.unique(s)[::-1]
    tp = np.array([(t & (s >= c)).sum() for c in cuts], dtype=np.float64)
    fp = np.array([(~t & (s >= c)).sum() for c in cuts], dtype=np.float64)
    positives = max(int(t.sum()), 1)
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 1.0)
    return precision, tp / positives, cuts
