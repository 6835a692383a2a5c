"""One frame's raw engine output -> its decision: the ``finish`` step of the inspection path.

Raw tile outputs go through the manifest's activation, are stitched back into frame pixels (a frame
larger than ``DECISION_MAX_PIXELS`` onto a map scaled down to that size) and decided. A segmentation
frame of several tiles is folded instead (:meth:`FrameFinish.fold`): each tile's outputs are activated
and stitched as they come off the engine, so the raw outputs of all its tiles never exist at once.
A sigmoid segmentation model whose frame went through whole (one tile, no crop or resize) skips the
first two steps: its logits are decided directly (see :mod:`edge_inspect.decision.segmentation`), which
is the same decision without an activation pass over every pixel.
"""

from __future__ import annotations

from edge_inspect.decision.activation import logit_maxima, to_probabilities
from edge_inspect.decision.classification import decide_score
from edge_inspect.decision.rules import Rules
from edge_inspect.decision.segmentation import decide_segmentation
from edge_inspect.model.manifest import OutputSpec
from edge_inspect.preprocess.stitch import Stitcher, is_identity, stitch_bounded, stitcher_for
from edge_inspect.types import Decision, FloatArray, Prepared, TileFold

_TILES_NDIM = 4


class FrameFinish:
    """The decision step for a model with this output spec under these rules (a ``Finish``)."""

    def __init__(self, output: OutputSpec, rules: Rules) -> None:
        self.output = output
        self.rules = rules

    def __call__(self, prepared: Prepared, outputs: FloatArray) -> Decision:
        output, rules = self.output, self.rules
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
        probs, scale = stitch_bounded(outputs, prepared.geometry, activate=self._activate)
        return decide_segmentation(probs, rules, scale=scale)

    def fold(self, prepared: Prepared) -> TileFold | None:
        """A segmentation frame of several tiles is folded; anything else is decided all at once."""
        if self.output.kind != "segmentation" or len(prepared.geometry.boxes) < 2:
            return None
        return SegmentationFold(stitcher_for(prepared.geometry, self._activate), self.rules)

    def _activate(self, raw: FloatArray) -> FloatArray:
        return to_probabilities(raw, self.output)


class SegmentationFold:
    """A :class:`~edge_inspect.types.TileFold`: tiles stitched (activated) as they come, then decided."""

    def __init__(self, stitcher: Stitcher, rules: Rules) -> None:
        self._stitcher = stitcher
        self._rules = rules

    def add(self, rows: FloatArray) -> None:
        self._stitcher.add(rows)

    def decide(self) -> Decision:
        probs = self._stitcher.result()
        return decide_segmentation(probs, self._rules, scale=self._stitcher.scale)


def make_finish(output: OutputSpec, rules: Rules) -> FrameFinish:
    """The decision step for a model with this output spec under these rules."""
    return FrameFinish(output, rules)
