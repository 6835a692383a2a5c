"""One frame's raw engine output -> its decision: the ``finish`` step of the inspection path.

Raw tile outputs go through the manifest's activation, are stitched back into frame pixels (a frame
larger than ``DECISION_MAX_PIXELS`` onto a map scaled down to that size) and decided.
A sigmoid segmentation model whose frame went through whole (one tile, no crop or resize) skips the
first two steps: its logits are decided directly (see :mod:`edge_inspect.decision.segmentation`), which
is the same decision without an activation pass over every pixel.
"""

from __future__ import annotations

from collections.abc import Callable

from edge_inspect.decision.activation import logit_maxima, to_probabilities
from edge_inspect.decision.classification import decide_score
from edge_inspect.decision.rules import Rules
from edge_inspect.decision.segmentation import decide_segmentation
from edge_inspect.model.manifest import OutputSpec
from edge_inspect.preprocess.stitch import is_identity, stitch_bounded
from edge_inspect.types import Decision, FloatArray, Prepared

_TILES_NDIM = 4

Finish = Callable[[Prepared, FloatArray], Decision]


def make_finish(output: OutputSpec, rules: Rules) -> Finish:
    """The decision step for a model with this output spec under these rules."""

    def finish(prepared: Prepared, outputs: FloatArray) -> Decision:
        if output.kind == "classification":
            # a tiled frame is as defective as its worst tile
            return decide_score(to_probabilities(outputs, output).max(axis=0), rules)
        if (
            output.activation == "sigmoid"
            and outputs.ndim == _TILES_NDIM
            and outputs.shape[0] == 1
            and is_identity(prepared.geometry, (outputs.shape[3], outputs.shape[2]))
        ):
            logits, maxima = logit_maxima(outputs, output)
            return decide_segmentation(logits, rules, logits=True, maxima=maxima)
        probs, scale = stitch_bounded(
            outputs, prepared.geometry, activate=lambda raw: to_probabilities(raw, output)
        )
        return decide_segmentation(probs, rules, scale=scale)

    return finish
