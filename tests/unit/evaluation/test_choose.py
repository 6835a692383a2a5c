"""Choosing the operating threshold from a rule."""

from __future__ import annotations

import pytest

from edge_inspect.evaluation.choose import (
    alternatives,
    budget_warning,
    choose_operating_point,
    choose_threshold,
    parse_rule,
)

# scores: defective images 0.9, 0.8, 0.35; good images 0.6, 0.2, 0.1, 0.0
TRUTH = [True, True, True, False, False, False, False]
SCORES = [0.9, 0.8, 0.35, 0.6, 0.2, 0.1, 0.0]
GRID = (0.1, 0.3, 0.5, 0.7, 0.85)


def test_rules_parse() -> None:
    assert parse_rule("precision>=0.995").metric == "precision"
    assert parse_rule(" recall >= 0.99 ").bound == 0.99
    assert parse_rule("fp_rate<=0.001").metric == "fp_rate"
    cost = parse_rule("cost:fp=1,fn=10")
    assert (cost.metric, cost.fp_cost, cost.fn_cost) == ("cost", 1.0, 10.0)


@pytest.mark.parametrize("text", ["precision>99", "precision>=99.5", "f1>=0.9", "cost:fp=1"])
def test_bad_rules_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="--choose"):
        parse_rule(text)


def test_precision_bound_then_best_recall() -> None:
    # precision 1.0 needs t > 0.6 (the good 0.6 must pass): 0.7 keeps recall 2/3, 0.85 only 1/3
    threshold, confusion = choose_threshold(parse_rule("precision>=0.99"), TRUTH, SCORES, GRID)
    assert threshold == 0.7
    assert (confusion.tp, confusion.fp, confusion.fn) == (2, 0, 1)


def test_recall_bound_then_best_precision() -> None:
    # recall 1.0 needs t <= 0.35: at 0.3 only the good 0.6 is a false alarm, at 0.1 three are
    threshold, confusion = choose_threshold(parse_rule("recall>=1.0"), TRUTH, SCORES, GRID)
    assert threshold == 0.3
    assert (confusion.tp, confusion.fp) == (3, 1)


def test_cost_rule_and_ties_take_the_middle() -> None:
    # cost fp=1, fn=1: t=0.3 -> 1 FP; 0.5 -> 1 FP + 1 FN; 0.7 and 0.75 -> 1 FN: three ties at cost 1
    threshold, _ = choose_threshold(parse_rule("cost:fp=1,fn=1"), TRUTH, SCORES, (*GRID, 0.75))
    assert threshold == 0.7
    # a false negative ten times dearer: only t=0.3 keeps every defect at one false alarm
    threshold, _ = choose_threshold(parse_rule("cost:fp=1,fn=10"), TRUTH, SCORES, GRID)
    assert threshold == 0.3


def test_unreachable_bound_is_reported() -> None:
    with pytest.raises(ValueError, match=r"no threshold in 0\.1\.\.0\.85 meets it"):
        choose_threshold(parse_rule("fp_rate<=0.0"), TRUTH, [0.95] * 7, GRID)


def test_the_minimum_area_is_chosen_with_the_threshold() -> None:
    # given the scores under three candidate minimum areas: at 50 px the good 0.6 (a speck) is gone,
    # at 200 px the defective 0.35 (a small defect) is lost as well
    by_area = {
        10: SCORES,
        50: [0.9, 0.8, 0.35, 0.0, 0.2, 0.1, 0.0],
        200: [0.9, 0.8, 0.0, 0.0, 0.2, 0.1, 0.0],
    }
    # then a zero false-alarm rule with the best recall takes 50 px, below every defect, above the speck
    area, threshold, confusion = choose_operating_point(parse_rule("fp_rate<=0.0"), TRUTH, by_area, GRID)
    assert (area, threshold) == (50, 0.3)
    assert (confusion.tp, confusion.fp, confusion.fn) == (3, 0, 0)


def test_equally_good_areas_take_the_smallest() -> None:
    # given two areas with the same scores, then the smaller one (it still reports the smaller defects)
    by_area = {150: SCORES, 20: SCORES}
    area, threshold, _ = choose_operating_point(parse_rule("cost:fp=1,fn=10"), TRUTH, by_area, GRID)
    assert (area, threshold) == (20, 0.3)


def test_no_area_meeting_the_rule_names_each() -> None:
    by_area = {10: [0.95] * 7, 50: [0.95] * 7}
    with pytest.raises(ValueError, match=r"min area 10 px: .*no threshold.*; min area 50 px: "):
        choose_operating_point(parse_rule("fp_rate<=0.0"), TRUTH, by_area, GRID)


def test_alternatives_give_the_best_recall_for_each_false_alarm_budget() -> None:
    truth = [True, True, True, False, False]
    scores = [0.9, 0.6, 0.3, 0.7, 0.2]
    grid = (0.1, 0.4, 0.65, 0.8)
    found = {n: (a, t, c) for n, a, t, c in alternatives(truth, {None: scores}, grid=grid)}
    assert (found[0][1], found[0][2].recall) == (0.8, 1 / 3)
    assert (found[1][1], found[1][2].recall) == (0.4, 2 / 3)
    assert (found[2][1], found[2][2].recall) == (0.1, 1.0)
    # over several minimum areas: the one that keeps more defects within the budget wins
    by_area: dict[int | None, list[float]] = {0: scores, 50: [0.9, 0.0, 0.0, 0.0, 0.0]}
    found_areas = {n: (a, c.recall) for n, a, _t, c in alternatives(truth, by_area, grid=grid)}
    assert found_areas[0] == (0, 1 / 3)  # equal recall: the smaller area
    assert found_areas[1] == (0, 2 / 3)


def test_a_false_alarm_budget_too_small_for_the_images_is_named() -> None:
    rule = parse_rule("fp_rate<=0.001")
    warning = budget_warning(rule, 500)
    assert warning is not None
    assert "allows 0.50 false alarms" in warning
    assert "at least 1000 defect-free images" in warning
    assert budget_warning(rule, 3000) is None
    assert budget_warning(parse_rule("recall>=0.9"), 10) is None
