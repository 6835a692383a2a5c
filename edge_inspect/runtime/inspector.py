"""One frame through preprocess -> engine -> decision, shared by the pipeline and ``edge-inspect eval``.

The pipeline runs the three steps on different threads (``prepare`` / ``engine.submit`` / ``finish``);
evaluation calls :meth:`FrameInspector.inspect` synchronously. Both use the same code, so the figures
that ``eval`` reports are the daemon's own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edge_inspect.types import Decision, Engine, Finish, Frame, Prepared

Prepare = Callable[[Frame], Prepared]
"""Frame -> model input (raises PreprocessError)."""

__all__ = ["Finish", "FrameInspector", "Prepare"]


@dataclass(frozen=True)
class FrameInspector:
    prepare: Prepare
    engine: Engine
    finish: Finish

    def inspect(self, frame: Frame) -> Decision:
        """Run one frame synchronously (evaluation, tools, the naive baseline)."""
        prepared = self.prepare(frame)
        fold = self.finish.fold(prepared)
        if fold is None:
            return self.finish(prepared, self.engine.infer(prepared.rows()))
        step = self.engine.input_spec.shape[0]  # one infer request's tiles
        for first in range(0, prepared.tiles, step):
            fold.add(self.engine.infer(prepared.rows(first, step)))
        return fold.decide()
