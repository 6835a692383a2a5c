"""decide_score: binary and multi-class classifiers against the score threshold."""

from __future__ import annotations

import numpy as np
import pytest

from edge_inspect.decision.classification import decide_score
from edge_inspect.decision.rules import Rules
from edge_inspect.errors import EngineOutputError
from edge_inspect.types import Verdict


def rules(classes: tuple[str, ...], score_threshold: float) -> Rules:
    n = len(classes)
    return Rules(
        kind="classification",
        classes=classes,
        thresholds=(score_threshold,) * n,
        min_area_px=(1,) * n,
        score_threshold=score_threshold,
        max_defects=0,
    )


@pytest.mark.parametrize(
    ("score", "verdict"), [(0.2, Verdict.PASS), (0.69, Verdict.PASS), (0.7, Verdict.NG), (0.95, Verdict.NG)]
)
def test_given_a_binary_score_when_decided_then_ng_from_the_threshold_up(
    score: float, verdict: Verdict
) -> None:
    decision = decide_score(np.array([score], np.float32), rules(("defect",), 0.7))

    assert decision.verdict is verdict
    assert decision.score == pytest.approx(score)
    assert decision.defects == ()
    assert decision.masks is None
    assert bool(decision.reasons) == (verdict is Verdict.NG)


def test_given_a_binary_ng_when_decided_then_the_reason_names_score_and_threshold() -> None:
    decision = decide_score(np.array([0.91], np.float32), rules(("defect",), 0.5))

    assert decision.reasons == ("defect score 0.9100 >= 0.5",)


def test_given_multi_class_scores_when_decided_then_every_class_over_threshold_is_named() -> None:
    scores = np.array([0.1, 0.8, 0.6], np.float32)

    decision = decide_score(scores, rules(("chip", "crack", "stain"), 0.6))

    assert decision.verdict is Verdict.NG
    assert decision.reasons == ("crack score 0.8000 >= 0.6", "stain score 0.6000 >= 0.6")
    assert decision.score == pytest.approx(0.8)


def test_given_multi_class_scores_all_below_when_decided_then_pass_with_the_highest_score() -> None:
    decision = decide_score(np.array([0.1, 0.4, 0.3], np.float32), rules(("chip", "crack", "stain"), 0.5))

    assert decision.verdict is Verdict.PASS
    assert decision.reasons == ()
    assert decision.score == pytest.approx(0.4)


@pytest.mark.parametrize("shape", [(3,), (1, 2), (2, 1, 1)])
def test_given_scores_of_the_wrong_shape_when_decided_then_engine_output_error(
    shape: tuple[int, ...],
) -> None:
    with pytest.raises(EngineOutputError, match=r"expected \(C=2,\) for classes \['a', 'b'\]"):
        decide_score(np.zeros(shape, np.float32), rules(("a", "b"), 0.5))
