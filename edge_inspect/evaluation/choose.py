"""Pick the operating threshold from a rule: ``precision>=0.995``, ``recall>=0.99``, ``fp_rate<=0.001`` or
``cost:fp=1,fn=10``.

Scores are the runner's image scores (the highest threshold at which the daemon still says NG), so
"NG at t" is "score >= t" and every candidate threshold is judged exactly. Among equally good thresholds
the middle one is taken: the widest margin on both sides for data the choice has not seen.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_inspect.errors import EvaluationError
from edge_inspect.evaluation.metrics import Confusion

GRID: tuple[float, ...] = tuple(round(float(t), 2) for t in np.arange(0.05, 0.951, 0.01))
_BOUND = re.compile(r"^\s*(precision|recall)\s*>=\s*([0-9.]+)\s*$|^\s*(fp_rate)\s*<=\s*([0-9.]+)\s*$")
_COST = re.compile(r"^\s*cost\s*:\s*fp\s*=\s*([0-9.]+)\s*,\s*fn\s*=\s*([0-9.]+)\s*$")


@dataclass(frozen=True)
class ChoiceRule:
    """A parsed rule: a bound on one figure (then the best of the others), or a cost to minimise."""

    text: str
    metric: str
    """'precision', 'recall', 'fp_rate' or 'cost'."""
    bound: float = 0.0
    fp_cost: float = 1.0
    fn_cost: float = 1.0


def parse_rule(text: str) -> ChoiceRule:
    """Parse ``--choose``; an EvaluationError says which forms are accepted."""
    if match := _BOUND.match(text):
        metric = match.group(1) or match.group(3)
        bound = float(match.group(2) or match.group(4))
        if not 0.0 <= bound <= 1.0:
            msg = f"--choose {text!r}: the bound must be within 0..1 (a fraction, not a percentage)"
            raise EvaluationError(msg)
        return ChoiceRule(text, metric, bound=bound)
    if match := _COST.match(text):
        return ChoiceRule(text, "cost", fp_cost=float(match.group(1)), fn_cost=float(match.group(2)))
    msg = (
        f"--choose {text!r}: expected 'precision>=P', 'recall>=R', 'fp_rate<=F' (fractions) "
        "or 'cost:fp=A,fn=B'"
    )
    raise ValueError(msg)


def _objective(rule: ChoiceRule, c: Confusion) -> tuple[float, ...] | None:
    """Larger is better; None when the rule's bound is not met."""
    if rule.metric == "precision":
        return (c.recall, -c.false_alarm_rate) if c.precision >= rule.bound else None
    if rule.metric == "recall":
        return (c.precision, -c.false_alarm_rate) if c.recall >= rule.bound else None
    if rule.metric == "fp_rate":
        return (c.recall, c.precision) if c.false_alarm_rate <= rule.bound else None
    return (-(rule.fp_cost * c.fp + rule.fn_cost * c.fn),)


def choose_threshold(
    rule: ChoiceRule, truth: Sequence[bool], scores: Sequence[float], grid: Sequence[float] = GRID
) -> tuple[float, Confusion]:
    """The threshold the rule picks on these images, and its confusion matrix there."""
    judged = []
    for threshold in grid:
        confusion = Confusion.of(truth, [s >= threshold for s in scores])
        objective = _objective(rule, confusion)
        if objective is not None:
            judged.append((objective, threshold, confusion))
    if not judged:
        best = max(grid, key=lambda t: _figure(rule, Confusion.of(truth, [s >= t for s in scores])))
        msg = (
            f"--choose {rule.text!r}: no threshold in {grid[0]}..{grid[-1]} meets it on these "
            f"{len(truth)} images; the closest is {best}"
        )
        raise EvaluationError(msg)
    top = max(objective for objective, _, _ in judged)
    tied = sorted(((t, c) for objective, t, c in judged if objective == top), key=lambda pair: pair[0])
    return tied[(len(tied) - 1) // 2]


def _figure(rule: ChoiceRule, c: Confusion) -> float:
    if rule.metric == "precision":
        return c.precision
    if rule.metric == "recall":
        return c.recall
    return -c.false_alarm_rate
