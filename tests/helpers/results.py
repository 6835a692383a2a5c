"""Build real InspectionResult records for sink and metrics tests (no pipeline needed)."""

from __future__ import annotations

import time
import uuid

import numpy as np
import numpy.typing as npt

from edge_inspect.types import Decision, Defect, InspectionResult, ModelIdentity, SourceInfo, Verdict

MODEL = ModelIdentity(name="tiny", version="1.0.0", sha256="a" * 64, variant="fp32")


def defect(
    class_name: str = "defect", bbox: tuple[int, int, int, int] = (10, 20, 30, 40), score: float = 0.9
) -> Defect:
    x, y, w, h = bbox
    return Defect(
        class_name=class_name,
        area_px=w * h,
        bbox=bbox,
        centroid=(x + w / 2, y + h / 2),
        max_score=score,
        mean_score=score * 0.8,
    )


def result(
    verdict: Verdict = Verdict.PASS,
    *,
    seq: int = 1,
    defects: tuple[Defect, ...] = (),
    masks: npt.NDArray[np.uint8] | None = None,
    timings: dict[str, float] | None = None,
    captured_at: float | None = None,
    station: str = "st-1",
    camera: str = "cam-1",
    error: str | None = None,
) -> InspectionResult:
    decision = None
    if verdict is not Verdict.ERROR:
        reasons = (f"{len(defects)} defects > max 0",) if verdict is Verdict.NG else ()
        score = max((d.max_score for d in defects), default=0.1)
        decision = Decision(verdict=verdict, defects=defects, score=score, reasons=reasons, masks=masks)
    return InspectionResult(
        result_id=uuid.uuid4().hex,
        seq=seq,
        station=station,
        camera=camera,
        captured_at=time.time() if captured_at is None else captured_at,
        verdict=verdict,
        decision=decision,
        source=SourceInfo(kind="replay", path=f"/data/{seq:04d}.png", index=seq),
        model=MODEL,
        thresholds={"defect": 0.5},
        recipe_hash="0123abcd",
        timings_ms=timings
        if timings is not None
        else {"preprocess": 1.0, "infer": 5.0, "decide": 0.5, "total": 8.0},
        error=error if verdict is Verdict.ERROR else None,
    )
