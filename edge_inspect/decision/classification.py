"""Per-class scores -> PASS / NG, for classification models.

Every class is judged by ``rules.score_threshold``: a class whose score is >= it makes the frame NG and
is named in ``reasons``. A binary model (one class, the defect score) is the one-class case of the same
rule. A classifier locates nothing, so its decisions carry no defect regions and no mask; the classes
that fired are in ``reasons``.
"""

from __future__ import annotations

import numpy as np

from edge_inspect.decision.rules import Rules
from edge_inspect.errors import EngineOutputError
from edge_inspect.types import Decision, FloatArray, Verdict


def decide_score(scores: FloatArray, rules: Rules) -> Decision:
    """Decide one frame from its ``(C,)`` class scores, in ``rules.classes`` order.

    ``score`` is the highest class score, so a sweep over ``score`` reproduces the verdict at every
    ``score_threshold``.
    """
    values = np.asarray(scores, dtype=np.float32)
    if values.ndim != 1 or values.shape[0] != len(rules.classes):
        msg = (
            f"classification scores have shape {values.shape}; expected (C={len(rules.classes)},) "
            f"for classes {list(rules.classes)}"
        )
        raise EngineOutputError(msg)
    threshold = rules.score_threshold
    reasons = tuple(
        f"{name} score {float(value):.4f} >= {threshold}"
        for name, value in zip(rules.classes, values, strict=True)
        if value >= threshold
    )
    return Decision(
        verdict=Verdict.NG if reasons else Verdict.PASS,
        defects=(),
        score=float(values.max()),
        reasons=reasons,
    )
