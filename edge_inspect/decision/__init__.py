"""The decision stage: probabilities + rules -> PASS / NG, with the defects that made it so.

Pure functions of (probabilities, rules): no I/O, no clock, no state. The engine's raw output goes
through ``to_probabilities`` (the manifest's activation), then ``decide``; the rules come from
``resolve_rules`` once at start-up.
"""

from __future__ import annotations

from edge_inspect.decision.activation import expected_channels, to_probabilities
from edge_inspect.decision.classification import decide_score
from edge_inspect.decision.rules import IgnoreZone, Rules, recipe_hash, resolve_rules, rules_summary
from edge_inspect.decision.segmentation import decide_segmentation
from edge_inspect.types import Decision, FloatArray


def decide(probs: FloatArray, rules: Rules) -> Decision:
    """Decide one frame: ``(C, H, W)`` maps for a segmentation model, ``(C,)`` scores for a classifier."""
    if rules.kind == "classification":
        return decide_score(probs, rules)
    return decide_segmentation(probs, rules)


__all__ = [
    "IgnoreZone",
    "Rules",
    "decide",
    "decide_score",
    "decide_segmentation",
    "expected_channels",
    "recipe_hash",
    "resolve_rules",
    "rules_summary",
    "to_probabilities",
]
