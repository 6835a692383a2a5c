"""Run a data set through the daemon's own inspection path and keep what the figures need, per image.

Each image is read by the replay source's decoder, prepared by the daemon's Preprocessor, run by the
engine plug-in, and decided by the daemon's ``finish`` (activation -> stitch -> decision rules), exactly
as ``edge-inspect run`` does: :func:`edge_inspect.station.inspection.build_inspector` builds all three.

For the sweep, the same stitched probability map is re-decided by the daemon's ``decide`` at each
threshold (min-area and count rules included), rather than guessed from one verdict. The image-level
score is the highest threshold at which the rules still say NG: with ``max_defects = 0`` the verdict is
monotone in the threshold (regions only shrink as it rises), so "NG at t" is exactly "score >= t" and
the PR curve, AUROC and threshold choice are all consistent with the daemon's verdicts. Asked for
candidate minimum areas, the runner also scores each image under each of them, so that the threshold
and the minimum area can be chosen together.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import EngineConfig, OpenVINOEngineConfig
from edge_inspect.datasets.loader import Sample
from edge_inspect.decision import decide, to_probabilities
from edge_inspect.decision.rules import Rules
from edge_inspect.evaluation.metrics import dice, iou
from edge_inspect.model.manifest import OutputSpec
from edge_inspect.model.package import ModelPackage
from edge_inspect.preprocess import stitch
from edge_inspect.runtime.inspector import FrameInspector
from edge_inspect.sources.replay import Mask, decode_file
from edge_inspect.station.inspection import build_inspector
from edge_inspect.types import FloatArray, Frame, SourceInfo, Verdict

SWEEP_THRESHOLDS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SCORE_TOLERANCE = 1e-4

SCORE_FLOOR = 0.01
"""Scores below this are reported as 0.0: no operating point sits that low, and it keeps sweeps cheap."""


def sweep_thresholds(
    operating: Iterable[float], base: Sequence[float] = SWEEP_THRESHOLDS
) -> tuple[float, ...]:
    """The sweep's thresholds: ``base`` and the operating point's own (an INT8 point at 0.06 is shown)."""
    return tuple(sorted({round(float(t), 4) for t in (*base, *operating)}))


@dataclass(frozen=True)
class ImageOutcome:
    """What one image gave: the daemon's verdict, the NG score, the sweep verdicts, mask overlap."""

    path: str
    texture_class: str
    defective: bool
    verdict: str
    score: float
    """The highest threshold at which this image is still NG (0.0 when it is NG at no threshold)."""
    sweep_ng: tuple[bool, ...]
    iou: float | None = None
    dice: float | None = None
    error: str | None = None
    area_scores: tuple[float, ...] = ()
    """The score under each candidate minimum area asked for (same order), every class at that area."""


def with_threshold(rules: Rules, threshold: float) -> Rules:
    """The same rules with every class's pixel threshold set to ``threshold``."""
    return dataclasses.replace(rules, thresholds=tuple(threshold for _ in rules.classes))


def with_min_area(rules: Rules, area_px: int) -> Rules:
    """The same rules with every class's minimum defect area set to ``area_px``."""
    return dataclasses.replace(rules, min_area_px=tuple(area_px for _ in rules.classes))


def is_ng(probs: FloatArray, rules: Rules, threshold: float) -> bool:
    """The daemon's verdict on ``probs`` at ``threshold``."""
    return decide(probs, with_threshold(rules, threshold)).verdict is Verdict.NG


def ng_score(probs: FloatArray, rules: Rules, tolerance: float = SCORE_TOLERANCE) -> float:
    """The highest threshold at which ``decide`` says NG, by bisection (0.0 if none above SCORE_FLOOR)."""
    low, high = SCORE_FLOOR, float(probs.max())
    if high < low or not is_ng(probs, rules, low):
        return 0.0
    if is_ng(probs, rules, high):
        return high
    while high - low > tolerance:
        middle = (low + high) / 2
        if is_ng(probs, rules, middle):
            low = middle
        else:
            high = middle
    return low


def relevant_window(probs: FloatArray, rules: Rules) -> FloatArray:
    """The part of ``probs`` that can matter at any threshold >= SCORE_FLOOR: the bounding box of the
    pixels at or above it (every region of ``probs >= t`` lies inside it). Decisions there equal decisions
    on the whole map, at a fraction of the cost; with ignore zones (frame coordinates) the map is kept whole.
    """
    if rules.ignore_zones:
        return probs
    rows, cols = np.nonzero(probs.max(axis=0) >= SCORE_FLOOR)
    if rows.size == 0:
        return probs[:, :1, :1] * 0
    return probs[:, rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def _frame(sample: Sample, index: int) -> tuple[Frame, Mask | None]:
    decoded = decode_file(sample.image, index, lambda _path: sample.mask)
    now = time.time()
    frame = Frame(
        seq=index,
        camera="eval",
        captured_at=now,
        monotonic=time.monotonic(),
        source=SourceInfo(kind="replay", path=str(sample.image), index=index),
        image=decoded.image,
        ground_truth=decoded.ground_truth,
        error=decoded.error,
    )
    return frame, decoded.ground_truth


def evaluate_samples(
    package: ModelPackage,
    samples: Sequence[Sample],
    *,
    variant: str | None = None,
    engine_config: EngineConfig | None = None,
    decision: DecisionConfig | None = None,
    thresholds: Sequence[float] = SWEEP_THRESHOLDS,
    min_areas: Sequence[int] = (),
    progress: Callable[[int, int], None] | None = None,
) -> tuple[list[ImageOutcome], Rules]:
    """Inspect every sample with the daemon's code; returns one outcome per sample and the rules in force.

    ``min_areas``: candidate minimum defect areas (px) to score every image under as well
    (``ImageOutcome.area_scores``), for :func:`edge_inspect.evaluation.choose.choose_operating_point`.
    """
    config = engine_config if engine_config is not None else OpenVINOEngineConfig(type="openvino")
    inspector, rules = build_inspector(package, config, decision or DecisionConfig(), variant=variant)
    output = package.manifest.output
    outcomes = []
    try:
        for index, sample in enumerate(samples):
            frame, truth = _frame(sample, index)
            outcomes.append(
                _one(
                    inspector=inspector,
                    frame=frame,
                    sample=sample,
                    truth=truth,
                    rules=rules,
                    output=output,
                    thresholds=thresholds,
                    min_areas=min_areas,
                )
            )
            if progress is not None:
                progress(index + 1, len(samples))
    finally:
        inspector.engine.close()
    return outcomes, rules


def _one(
    *,
    inspector: FrameInspector,
    frame: Frame,
    sample: Sample,
    truth: Mask | None,
    rules: Rules,
    output: OutputSpec,
    thresholds: Sequence[float],
    min_areas: Sequence[int],
) -> ImageOutcome:
    path, texture, defective = str(sample.image), sample.texture_class, sample.defective
    if frame.error is not None or frame.image is None:
        return ImageOutcome(path, texture, defective, Verdict.ERROR.value, 0.0, (), error=frame.error)
    prepared = inspector.prepare(frame)
    raw = inspector.engine.infer(prepared.rows())
    decision = inspector.finish(prepared, raw)
    probs = relevant_window(stitch(to_probabilities(raw, output), prepared.geometry), rules)
    overlap_iou = overlap_dice = None
    if defective and truth is not None and decision.masks is not None:
        overlap_iou, overlap_dice = iou(decision.masks, truth), dice(decision.masks, truth)
    return ImageOutcome(
        path,
        texture,
        defective,
        decision.verdict.value,
        ng_score(probs, rules),
        tuple(is_ng(probs, rules, t) for t in thresholds),
        iou=overlap_iou,
        dice=overlap_dice,
        area_scores=tuple(ng_score(probs, with_min_area(rules, area)) for area in min_areas),
    )
