"""Per-pixel probabilities -> defect regions -> PASS / NG, for segmentation models.

Steps, per class: threshold -> binary mask -> ignore zones cleared -> connected components -> regions of
at least the class's minimum area are kept as defects. The frame is NG when it has more kept defects
than ``max_defects``.

Everything is vectorised over pixels: the per-region maximum and mean scores come from the component
label image with ``np.bincount`` and ``np.maximum.reduceat`` over the foreground pixels only; the only
Python loop is over regions, to build the ``Defect`` records.

The probabilities must already be in frame coordinates (tiles stitched, stride undone): ignore zones,
areas, boxes and centroids are all in the pixels of the map given here.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edge_inspect.decision.rules import Rules
from edge_inspect.errors import EngineOutputError
from edge_inspect.types import Decision, Defect, FloatArray, Verdict

_RANK = 3


def decide_segmentation(probs: FloatArray, rules: Rules) -> Decision:
    """Decide one frame from its ``(C, H, W)`` probability map, channels in ``rules.classes`` order.

    ``score`` is the highest probability inside a kept defect; with no kept defect it is the highest
    probability anywhere outside the ignore zones (0.0 when everything is ignored). So an image-level
    sweep over ``score`` is honest about near misses, but note that a confident speck smaller than the
    minimum area can give a PASS frame a higher score than an NG frame; sweeps of the pixel rules must
    re-run the decision rather than threshold ``score``.

    ``masks`` is the ``(H, W)`` uint8 class-id map of the kept defects (0 = background, k = class
    ``rules.classes[k-1]``); where regions of several classes overlap, the higher class id is shown.
    """
    probs = _checked(probs, rules)
    _, height, width = probs.shape
    class_map = np.zeros((height, width), dtype=np.uint8)
    defects: list[Defect] = []
    for index, name in enumerate(rules.classes):
        prob = probs[index]
        mask = prob >= np.float32(rules.thresholds[index])
        for zone_slice in _zone_slices(rules, name):
            mask[zone_slice] = False
        defects += _regions(mask, prob, name=name, class_id=index + 1, rules=rules, class_map=class_map)
    reasons: tuple[str, ...] = ()
    if len(defects) > rules.max_defects:
        plural = "" if len(defects) == 1 else "s"
        reasons = (f"{len(defects)} defect{plural} > max {rules.max_defects}",)
    score = max((d.max_score for d in defects), default=None)
    return Decision(
        verdict=Verdict.NG if reasons else Verdict.PASS,
        defects=tuple(defects),
        score=score if score is not None else _unignored_max(probs, rules),
        reasons=reasons,
        masks=class_map,
    )


def _checked(probs: FloatArray, rules: Rules) -> FloatArray:
    values = np.asarray(probs, dtype=np.float32)
    if values.ndim != _RANK or values.shape[0] != len(rules.classes) or values.size == 0:
        msg = (
            f"segmentation probabilities have shape {values.shape}; expected (C={len(rules.classes)}, H, W) "
            f"for classes {list(rules.classes)}"
        )
        raise EngineOutputError(msg)
    return values


def _zone_slices(rules: Rules, class_name: str) -> list[tuple[slice, slice]]:
    """The (rows, columns) slices of the ignore zones that apply to ``class_name``; numpy clips them."""
    return [
        (slice(zone.y, zone.y + zone.height), slice(zone.x, zone.x + zone.width))
        for zone in rules.ignore_zones
        if zone.classes is None or class_name in zone.classes
    ]


def _regions(
    mask: npt.NDArray[np.bool_],
    prob: FloatArray,
    *,
    name: str,
    class_id: int,
    rules: Rules,
    class_map: npt.NDArray[np.uint8],
) -> list[Defect]:
    """The kept regions of one class's mask; paints them into ``class_map`` as ``class_id``."""
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(
        mask.view(np.uint8), connectivity=rules.connectivity, ltype=cv2.CV_32S
    )
    if count <= 1:
        return []
    areas = stats[:, cv2.CC_STAT_AREA]
    kept = np.flatnonzero(areas[1:] >= rules.min_area_px[class_id - 1]) + 1
    if kept.size == 0:
        return []
    # Per-region statistics over the foreground pixels only (a few percent of the frame at most).
    pixels = np.flatnonzero(mask)
    label_of = labels.ravel()[pixels]
    score_of = prob.ravel()[pixels]
    sums = np.bincount(label_of, weights=score_of, minlength=count)
    order = np.argsort(label_of, kind="stable")
    starts = np.searchsorted(label_of[order], np.arange(1, count))
    maxima = np.concatenate(([0.0], np.maximum.reduceat(score_of[order], starts)))

    keep = np.zeros(count, dtype=bool)
    keep[kept] = True
    class_map.ravel()[pixels[keep[label_of]]] = class_id
    return [
        Defect(
            class_name=name,
            area_px=int(areas[k]),
            bbox=(
                int(stats[k, cv2.CC_STAT_LEFT]),
                int(stats[k, cv2.CC_STAT_TOP]),
                int(stats[k, cv2.CC_STAT_WIDTH]),
                int(stats[k, cv2.CC_STAT_HEIGHT]),
            ),
            centroid=(float(centroids[k, 0]), float(centroids[k, 1])),
            max_score=float(maxima[k]),
            mean_score=float(sums[k] / areas[k]),
        )
        for k in kept
    ]


def _unignored_max(probs: FloatArray, rules: Rules) -> float:
    """The highest probability outside the ignore zones, over every class (0.0 if all is ignored)."""
    best = 0.0
    for index, name in enumerate(rules.classes):
        slices = _zone_slices(rules, name)
        if not slices:
            best = max(best, float(probs[index].max()))
            continue
        visible = np.ones(probs.shape[1:], dtype=bool)
        for zone_slice in slices:
            visible[zone_slice] = False
        if visible.any():
            best = max(best, float(probs[index][visible].max()))
    return best
