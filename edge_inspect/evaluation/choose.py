"""Pick the operating threshold from a rule: ``precision>=0.995``, ``recall>=0.99``, ``fp_rate<=0.001`` or
``cost:fp=1,fn=10``.

Scores are the runner's image scores (the highest threshold at which the daemon still says NG), so
"NG at t" is "score >= t" and every candidate threshold is judged exactly. Among equally good thresholds
the middle one is taken: the widest margin on both sides for data the choice has not seen.

The minimum defect area can be chosen with it (:func:`choose_operating_point`): each candidate area has
its own image scores, the rule picks a threshold for each, and the best of those operating points wins;
among equally good ones the smallest area, the rule that still reports the smallest defects.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
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
    _, threshold, confusion = _best_threshold(rule, truth, scores, grid)
    return threshold, confusion


def _best_threshold(
    rule: ChoiceRule, truth: Sequence[bool], scores: Sequence[float], grid: Sequence[float]
) -> tuple[tuple[float, ...], float, Confusion]:
    """:func:`choose_threshold`, with the rule's objective at the chosen threshold first."""
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
    threshold, confusion = tied[(len(tied) - 1) // 2]
    return top, threshold, confusion


def _figure(rule: ChoiceRule, c: Confusion) -> float:
    if rule.metric == "precision":
        return c.precision
    if rule.metric == "recall":
        return c.recall
    return -c.false_alarm_rate


def choose_operating_point(
    rule: ChoiceRule,
    truth: Sequence[bool],
    scores_by_area: Mapping[int, Sequence[float]],
    grid: Sequence[float] = GRID,
) -> tuple[int, float, Confusion]:
    """The (minimum area, threshold) the rule picks, given the image scores under each candidate area,
    and the confusion matrix there. An EvaluationError when no candidate meets the rule (it names the
    closest threshold of each area)."""
    judged: list[tuple[tuple[float, ...], int, float, Confusion]] = []
    failures: list[str] = []
    for area in sorted(scores_by_area):
        try:
            objective, threshold, confusion = _best_threshold(rule, truth, scores_by_area[area], grid)
        except EvaluationError as exc:
            failures.append(f"min area {area} px: {exc}")
            continue
        judged.append((objective, area, threshold, confusion))
    if not judged:
        raise EvaluationError("; ".join(failures))
    top = max(objective for objective, _, _, _ in judged)
    _, area, threshold, confusion = next(item for item in judged if item[0] == top)
    return area, threshold, confusion


ALTERNATIVE_FALSE_ALARMS: tuple[int, ...] = (0, 1, 2, 5, 10)
"""False alarms allowed on the images of the choice, for the alternatives shown beside it."""


def alternatives(
    truth: Sequence[bool],
    scores_by_area: Mapping[int | None, Sequence[float]],
    grid: Sequence[float] = GRID,
    allowed: Sequence[int] = ALTERNATIVE_FALSE_ALARMS,
) -> list[tuple[int, int | None, float, Confusion]]:
    """For each number of false alarms in ``allowed``: (that number, minimum area, threshold, confusion)
    of the best recall with at most that many, over every candidate area (``None``: the package's own)
    and threshold; among equal recalls the smallest area and the middle threshold. A number no point
    stays within is left out."""
    points = [
        (area, t, Confusion.of(truth, [s >= t for s in scores]))
        for area, scores in scores_by_area.items()
        for t in grid
    ]
    found: list[tuple[int, int | None, float, Confusion]] = []
    for budget in allowed:
        within = [(area, t, c) for area, t, c in points if c.fp <= budget]
        if not within:
            continue
        best = max(c.recall for _, _, c in within)
        areas = sorted(
            {area for area, _, c in within if c.recall == best}, key=lambda a: -1 if a is None else a
        )
        tied = sorted((t, c) for area, t, c in within if c.recall == best and area == areas[0])
        threshold, confusion = tied[(len(tied) - 1) // 2]
        found.append((budget, areas[0], threshold, confusion))
    return found


def budget_warning(rule: ChoiceRule, good: int) -> str | None:
    """A line when ``fp_rate<=F`` on ``good`` defect-free images allows no false alarm at all."""
    if rule.metric != "fp_rate" or good <= 0 or rule.bound * good >= 1:
        return None
    return (
        f"{rule.text} on {good} defect-free images allows {rule.bound * good:.2f} false alarms: the choice "
        f"demands none at all here; a budget this small needs at least {int(np.ceil(1 / rule.bound))} "
        "defect-free images to be measured"
        if rule.bound > 0
        else f"{rule.text} demands no false alarm at all on these {good} defect-free images"
    )
