"""A frame's outcome as the record published for it: station, camera, part, model identity, timings."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from edge_inspect.runtime.pipeline import ResultFactory
from edge_inspect.types import Decision, Frame, InspectionResult, ModelIdentity, Verdict

_MASK_NDIM = 2


@dataclass(frozen=True)
class ResultBuilder:
    """Turns a frame's outcome into the published record (station, model identity, thresholds, timings)."""

    station: str
    camera: str
    model: ModelIdentity
    thresholds: dict[str, float]
    recipe: str

    def __call__(
        self, frame: Frame, decision: Decision | None, error: str | None, timings: dict[str, float]
    ) -> InspectionResult:
        timings["total"] = (time.monotonic() - frame.monotonic) * 1000.0
        verdict = Verdict.ERROR if decision is None else decision.verdict
        return InspectionResult(
            result_id=uuid.uuid4().hex,
            seq=frame.seq,
            station=self.station,
            camera=self.camera,
            captured_at=frame.captured_at,
            verdict=verdict,
            decision=decision,
            source=frame.source,
            model=self.model,
            thresholds=self.thresholds,
            recipe_hash=self.recipe,
            timings_ms=timings,
            error=error if decision is None else None,
            expected=expected_verdict(frame),
            frame_size=None
            if frame.image is None
            else (int(frame.image.shape[1]), int(frame.image.shape[0])),
            part=frame.part,
        )


def expected_verdict(frame: Frame) -> Verdict | None:
    """The ground truth's verdict (any marked pixel -> NG); None for a frame without a mask."""
    truth = frame.ground_truth
    if truth is None:
        return None
    if truth.ndim == _MASK_NDIM and truth.dtype == np.uint8:
        marked = bool(cv2.hasNonZero(truth))  # stops at the first marked pixel; np.any reads them all
    else:
        marked = bool(np.any(truth))
    return Verdict.NG if marked else Verdict.PASS


def by_camera(factories: Mapping[str, ResultFactory]) -> ResultFactory:
    """One factory per camera, chosen by the frame's camera (the only one when there is one)."""
    if len(factories) == 1:
        return next(iter(factories.values()))
    table = dict(factories)

    def make(
        frame: Frame, decision: Decision | None, error: str | None, timings: dict[str, float]
    ) -> InspectionResult:
        return table[frame.camera](frame, decision, error, timings)

    return make
