"""decide: the package entry point dispatches on the kind of model the rules were resolved for."""

from __future__ import annotations

import numpy as np

import edge_inspect.decision as decision_pkg
from edge_inspect.config.decision import DecisionConfig
from edge_inspect.decision import decide, resolve_rules, to_probabilities
from edge_inspect.model.manifest import DecisionDefaults, OutputSpec
from edge_inspect.types import Verdict


def resolved(kind: str) -> tuple[OutputSpec, decision_pkg.Rules]:
    output = OutputSpec.model_validate(
        {"name": "out", "kind": kind, "activation": "sigmoid", "classes": ["defect"]}
    )
    defaults = DecisionDefaults.model_validate({"thresholds": {"defect": 0.5}, "score_threshold": 0.5})
    return output, resolve_rules(defaults, output, DecisionConfig())


def test_given_a_segmentation_model_when_decided_then_regions_are_found() -> None:
    output, rules = resolved("segmentation")
    logits = np.full((1, 16, 16), -6.0, np.float32)
    logits[0, 4:8, 4:8] = 6.0

    decision = decide(to_probabilities(logits, output), rules)

    assert decision.verdict is Verdict.NG
    assert [d.area_px for d in decision.defects] == [16]


def test_given_a_classifier_when_decided_then_the_score_decides() -> None:
    output, rules = resolved("classification")

    decision = decide(to_probabilities(np.array([3.0], np.float32), output), rules)

    assert decision.verdict is Verdict.NG
    assert decision.defects == ()
    assert decision.masks is None


def test_the_public_names_all_resolve() -> None:
    assert all(hasattr(decision_pkg, name) for name in decision_pkg.__all__)
