"""One frame through preprocess -> engine -> decision, shared by the pipeline and ``edge-inspect eval``.

The pipeline runs the three steps on different threads (``prepare`` / ``engine.submit`` / ``finish``);
evaluation calls :meth:`FrameInspector.inspect` synchronously. Both use the same code, so the figures
that ``eval`` reports are the daemon's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge_inspect.types import Decision, Engine, FloatArray, Frame, Prepared

Prepare = Callable[[Frame], Prepared]
"""Frame -> model input (raises PreprocessError)."""

Finish = Callable[[Prepared, FloatArray], Decision]
"""Raw engine output of a frame's tiles -> Decision (raises EngineOutputError on NaN, Inf or a wrong shape;
a sigmoid model's -Inf logit is probability 0, see :func:`~edge_inspect.decision.activation.logit_maxima`)."""


@dataclass(frozen=True)
class FrameInspector:
    prepare: Prepare
    engine: Engine
    finish: Finish

    def inspect(self, frame: Frame) -> Decision:
        """Run one frame synchronously (evaluation, tools, the naive baseline)."""
        prepared = self.prepare(frame)
        return self.finish(prepared, self.engine.infer(prepared.tensor))
