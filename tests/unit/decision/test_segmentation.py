"""decide_segmentation: thresholds -> masks -> ignore zones -> regions -> min area -> max count -> verdict."""

from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from edge_inspect.decision.rules import IgnoreZone, Rules
from edge_inspect.decision.segmentation import decide_segmentation
from edge_inspect.errors import EngineOutputError
from edge_inspect.types import Verdict


def rules(classes: tuple[str, ...] = ("defect",), **fields: Any) -> Rules:
    n = len(classes)
    values: dict[str, Any] = {
        "kind": "segmentation",
        "classes": classes,
        "thresholds": (0.5,) * n,
        "min_area_px": (1,) * n,
        "score_threshold": 0.5,
        "max_defects": 0,
        "connectivity": 8,
        **fields,
    }
    return Rules(**values)


def blank(channels: int = 1, height: int = 32, width: int = 32) -> np.ndarray:
    return np.full((channels, height, width), 0.05, dtype=np.float32)


# ------------------------------------------------------------------------------------------ thresholds


def test_given_a_clean_map_when_decided_then_pass_with_the_map_maximum_as_score() -> None:
    probs = blank()
    probs[0, 3, 3] = 0.3

    decision = decide_segmentation(probs, rules())

    assert decision.verdict is Verdict.PASS
    assert decision.defects == ()
    assert decision.reasons == ()
    assert decision.score == pytest.approx(0.3)
    assert decision.masks is not None
    assert decision.masks.dtype == np.uint8
    assert decision.masks.shape == (32, 32)
    assert not decision.masks.any()


def test_given_per_class_thresholds_when_decided_then_each_class_uses_its_own() -> None:
    probs = blank(channels=2)
    probs[0, 2:6, 2:6] = 0.6  # scratch: above its 0.5
    probs[1, 20:24, 20:24] = 0.6  # stain: below its 0.7

    decision = decide_segmentation(probs, rules(("scratch", "stain"), thresholds=(0.5, 0.7)))

    assert [d.class_name for d in decision.defects] == ["scratch"]
    assert decision.verdict is Verdict.NG


def test_given_a_pixel_exactly_at_the_threshold_when_decided_then_it_counts() -> None:
    probs = blank()
    probs[0, 5, 5] = 0.5

    decision = decide_segmentation(probs, rules())

    assert len(decision.defects) == 1


# ------------------------------------------------------------------------------------ regions and area


def test_given_one_region_when_decided_then_its_geometry_and_scores_are_exact() -> None:
    probs = blank(height=40, width=50)
    region = np.linspace(0.6, 0.9, 12, dtype=np.float32).reshape(3, 4)
    probs[0, 10:13, 20:24] = region

    (defect,) = decide_segmentation(probs, rules()).defects

    assert defect.class_name == "defect"
    assert defect.area_px == 12
    assert defect.bbox == (20, 10, 4, 3)
    assert defect.centroid == pytest.approx((21.5, 11.0))
    assert defect.max_score == pytest.approx(float(region.max()))
    assert defect.mean_score == pytest.approx(float(region.mean()), rel=1e-6)


def test_given_regions_below_the_min_area_when_decided_then_they_are_dropped() -> None:
    probs = blank()
    probs[0, 1:3, 1:3] = 0.9  # 4 px
    probs[0, 10:13, 10:13] = 0.8  # 9 px: exactly the minimum
    probs[0, 20:24, 20:24] = 0.7  # 16 px

    decision = decide_segmentation(probs, rules(min_area_px=(9,)))

    assert sorted(d.area_px for d in decision.defects) == [9, 16]
    assert decision.score == pytest.approx(0.8)  # the dropped 0.9 speck is not a kept defect
    assert decision.masks is not None
    assert not decision.masks[1:3, 1:3].any()
    assert decision.masks[10:13, 10:13].all()


def test_given_per_class_min_areas_when_decided_then_each_class_uses_its_own() -> None:
    probs = blank(channels=2)
    probs[0, 2:4, 2:4] = 0.9  # scratch, 4 px, min 2
    probs[1, 20:22, 20:22] = 0.9  # stain, 4 px, min 5

    decision = decide_segmentation(probs, rules(("scratch", "stain"), min_area_px=(2, 5)))

    assert [(d.class_name, d.area_px) for d in decision.defects] == [("scratch", 4)]


# ---------------------------------------------------------------------------------------- count limit


def three_defects() -> np.ndarray:
    probs = blank()
    for corner in (2, 12, 22):
        probs[0, corner : corner + 3, corner : corner + 3] = 0.9
    return probs


def test_given_more_defects_than_allowed_when_decided_then_ng_says_why() -> None:
    decision = decide_segmentation(three_defects(), rules(max_defects=0))

    assert decision.verdict is Verdict.NG
    assert decision.reasons == ("3 defects > max 0",)


def test_given_no_more_defects_than_allowed_when_decided_then_pass_still_lists_them() -> None:
    decision = decide_segmentation(three_defects(), rules(max_defects=3))

    assert decision.verdict is Verdict.PASS
    assert len(decision.defects) == 3
    assert decision.reasons == ()
    assert decision.score == pytest.approx(0.9)


def test_given_one_defect_over_the_limit_when_decided_then_the_reason_is_singular() -> None:
    probs = blank()
    probs[0, 4, 4] = 0.9

    assert decide_segmentation(probs, rules()).reasons == ("1 defect > max 0",)


# -------------------------------------------------------------------------------------- ignore zones


def test_given_a_zone_over_a_defect_when_decided_then_it_is_ignored_and_not_scored() -> None:
    probs = blank()
    probs[0, 5:8, 5:8] = 0.95
    probs[0, 20, 20] = 0.2

    decision = decide_segmentation(probs, rules(ignore_zones=(IgnoreZone(4, 4, 5, 5),)))

    assert decision.verdict is Verdict.PASS
    assert decision.defects == ()
    assert decision.score == pytest.approx(0.2)


def test_given_a_zone_cutting_a_defect_when_decided_then_only_the_outside_part_counts() -> None:
    probs = blank()
    probs[0, 10:12, 0:10] = 0.9  # 2 x 10, the zone covers columns 0..4

    (defect,) = decide_segmentation(probs, rules(ignore_zones=(IgnoreZone(0, 0, 5, 32),))).defects

    assert defect.area_px == 10
    assert defect.bbox == (5, 10, 5, 2)


def test_given_a_zone_for_one_class_when_decided_then_other_classes_are_still_found_there() -> None:
    probs = blank(channels=2)
    probs[0, 5:8, 5:8] = 0.9  # scratch, inside the zone
    probs[1, 5:8, 5:8] = 0.9  # stain, inside the zone
    zone = IgnoreZone(0, 0, 16, 16, ("scratch",))

    decision = decide_segmentation(probs, rules(("scratch", "stain"), ignore_zones=(zone,)))

    assert [d.class_name for d in decision.defects] == ["stain"]
    assert decision.masks is not None
    assert set(np.unique(decision.masks).tolist()) == {0, 2}


def test_given_a_zone_past_the_map_edge_when_decided_then_it_is_clipped() -> None:
    probs = blank()
    probs[0, 28:32, 28:32] = 0.9

    decision = decide_segmentation(probs, rules(ignore_zones=(IgnoreZone(30, 30, 100, 100),)))

    assert [d.area_px for d in decision.defects] == [12]


def test_given_everything_ignored_when_decided_then_the_score_is_zero() -> None:
    probs = blank()
    probs[0, 1, 1] = 0.99

    decision = decide_segmentation(probs, rules(ignore_zones=(IgnoreZone(0, 0, 32, 32),)))

    assert decision.score == 0.0
    assert decision.verdict is Verdict.PASS


# -------------------------------------------------------------------------------------- connectivity


@pytest.mark.parametrize(("connectivity", "count"), [(4, 2), (8, 1)])
def test_given_a_diagonal_pair_when_decided_then_connectivity_decides_the_count(
    connectivity: int, count: int
) -> None:
    probs = blank()
    probs[0, 10, 10] = 0.9
    probs[0, 11, 11] = 0.9

    decision = decide_segmentation(probs, rules(connectivity=connectivity))

    assert len(decision.defects) == count
    assert sum(d.area_px for d in decision.defects) == 2


# -------------------------------------------------------------------------------------------- masks


def test_given_overlapping_classes_when_decided_then_the_mask_shows_the_higher_class_id() -> None:
    probs = blank(channels=2)
    probs[0, 4:10, 4:10] = 0.9
    probs[1, 6:8, 6:8] = 0.9

    decision = decide_segmentation(probs, rules(("scratch", "stain")))

    assert decision.masks is not None
    assert decision.masks[5, 5] == 1
    assert decision.masks[6, 6] == 2
    assert int(np.count_nonzero(decision.masks)) == 36


def test_given_the_wrong_channel_count_when_decided_then_engine_output_error() -> None:
    with pytest.raises(EngineOutputError, match=r"\(2, 8, 8\); expected \(C=1, H, W\)"):
        decide_segmentation(np.zeros((2, 8, 8), np.float32), rules())


# ----------------------------------------------------------------------- against a plain flood fill


def flood_fill_regions(mask: np.ndarray, probs: np.ndarray, connectivity: int) -> list[tuple[Any, ...]]:
    """A slow, obvious oracle: (area, bbox, centroid, max, mean) of every region, BFS per region."""
    steps = [(0, 1), (1, 0), (0, -1), (-1, 0)]
    if connectivity == 8:
        steps += [(1, 1), (1, -1), (-1, 1), (-1, -1)]
    seen = np.zeros_like(mask)
    regions = []
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        pixels, todo = [], deque([(y0, x0)])
        seen[y0, x0] = True
        while todo:
            y, x = todo.popleft()
            pixels.append((y, x))
            for dy, dx in steps:
                ny, nx = y + dy, x + dx
                inside = 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1]
                if inside and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    todo.append((ny, nx))
        ys = np.array([p[0] for p in pixels])
        xs = np.array([p[1] for p in pixels])
        scores = probs[ys, xs].astype(np.float64)
        bbox = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
        regions.append((len(pixels), bbox, (xs.mean(), ys.mean()), scores.max(), scores.mean()))
    return sorted(regions, key=lambda r: (r[1][1], r[1][0]))


@settings(max_examples=60, deadline=None)
@given(
    probs=arrays(np.float32, (1, 12, 14), elements=st.floats(0, 1, width=32)),
    connectivity=st.sampled_from([4, 8]),
    min_area=st.integers(1, 4),
)
def test_given_any_map_when_decided_then_regions_match_a_flood_fill(
    probs: np.ndarray, connectivity: int, min_area: int
) -> None:
    decision = decide_segmentation(probs, rules(connectivity=connectivity, min_area_px=(min_area,)))

    expected = [r for r in flood_fill_regions(probs[0] >= 0.5, probs[0], connectivity) if r[0] >= min_area]
    got = sorted(decision.defects, key=lambda d: (d.bbox[1], d.bbox[0]))
    assert len(got) == len(expected)
    for defect, (area, bbox, centroid, top, mean) in zip(got, expected, strict=True):
        assert (defect.area_px, defect.bbox) == (area, bbox)
        assert defect.centroid == pytest.approx(centroid)
        assert defect.max_score == pytest.approx(top)
        assert defect.mean_score == pytest.approx(mean, rel=1e-6)
    assert decision.masks is not None
    assert int(np.count_nonzero(decision.masks)) == sum(r[0] for r in expected)
    assert (decision.verdict is Verdict.NG) == bool(expected)


@settings(max_examples=60, deadline=None)
@given(
    patch=arrays(np.float32, (7, 9), elements=st.floats(0, 1, width=32)),
    at=st.tuples(st.integers(0, 33), st.integers(0, 39)),
    connectivity=st.sampled_from([4, 8]),
)
def test_given_defects_in_one_corner_of_a_clean_map_when_decided_then_boxes_and_mask_are_in_frame_pixels(
    patch: np.ndarray, at: tuple[int, int], connectivity: int
) -> None:
    # only the foreground's bounding box is labelled: its offset must not leak into boxes, centroids or mask
    probs = np.zeros((1, 40, 48), dtype=np.float32)
    probs[0, at[0] : at[0] + 7, at[1] : at[1] + 9] = patch

    decision = decide_segmentation(probs, rules(connectivity=connectivity, min_area_px=(1,)))

    expected = flood_fill_regions(probs[0] >= 0.5, probs[0], connectivity)
    got = sorted(decision.defects, key=lambda d: (d.bbox[1], d.bbox[0]))
    assert [(d.area_px, d.bbox) for d in got] == [(r[0], r[1]) for r in expected]
    # (flattened: pytest.approx compares nested tuples exactly)
    assert [c for d in got for c in d.centroid] == pytest.approx([c for r in expected for c in r[2]])
    assert decision.masks is not None
    assert np.array_equal(decision.masks > 0, probs[0] >= 0.5)


# ---------------------------------------------------------------------------------------- raw logits


@settings(max_examples=80, deadline=None)
@given(
    logits=arrays(np.float32, (2, 12, 14), elements=st.floats(-6, 6, width=32)),
    thresholds=st.tuples(st.floats(0.05, 0.95), st.floats(0.05, 0.95)),
    min_area=st.integers(1, 4),
    zone=st.booleans(),
)
def test_given_sigmoid_logits_when_decided_directly_then_the_decision_is_that_of_the_probabilities(
    logits: np.ndarray, thresholds: tuple[float, float], min_area: int, zone: bool
) -> None:
    zones = (IgnoreZone(2, 3, 5, 4),) if zone else ()
    given_rules = rules(
        ("a", "b"), thresholds=thresholds, min_area_px=(min_area, min_area), ignore_zones=zones
    )
    probs = (1.0 / (1.0 + np.exp(-logits.astype(np.float64)))).astype(np.float32)
    # pixels within float rounding of a threshold may fall either way; keep the example clear of them
    for index, threshold in enumerate(thresholds):
        assume(not np.any(np.abs(probs[index] - threshold) < 1e-5))

    direct = decide_segmentation(logits, given_rules, logits=True)
    via_probs = decide_segmentation(probs, given_rules)
    maxima = logits.reshape(2, -1).max(axis=1)
    with_maxima = decide_segmentation(logits, given_rules, logits=True, maxima=maxima)

    assert with_maxima.verdict is direct.verdict
    assert with_maxima.score == direct.score
    assert [d.area_px for d in with_maxima.defects] == [d.area_px for d in direct.defects]

    assert direct.verdict is via_probs.verdict
    assert direct.masks is not None
    assert via_probs.masks is not None
    assert np.array_equal(direct.masks, via_probs.masks)
    assert direct.score == pytest.approx(via_probs.score, abs=1e-6)
    assert len(direct.defects) == len(via_probs.defects)
    for ours, theirs in zip(direct.defects, via_probs.defects, strict=True):
        assert (ours.class_name, ours.area_px, ours.bbox) == (theirs.class_name, theirs.area_px, theirs.bbox)
        assert ours.max_score == pytest.approx(theirs.max_score, abs=1e-6)
        assert ours.mean_score == pytest.approx(theirs.mean_score, abs=1e-6)


@pytest.mark.parametrize(("threshold", "flagged"), [(0.0, 32 * 32), (1.0, 0)])
def test_given_logits_and_a_threshold_at_an_end_when_decided_then_all_or_nothing_is_flagged(
    threshold: float, flagged: int
) -> None:
    logits = np.full((1, 32, 32), 40.0, dtype=np.float32)  # p = 1 - 4e-18: below 1, above 0

    decision = decide_segmentation(logits, rules(thresholds=(threshold,)), logits=True)

    assert decision.masks is not None
    assert int(np.count_nonzero(decision.masks)) == flagged


def test_given_everything_ignored_when_logits_are_decided_then_the_score_is_zero() -> None:
    logits = np.full((1, 8, 8), 3.0, dtype=np.float32)

    decision = decide_segmentation(logits, rules(ignore_zones=(IgnoreZone(0, 0, 8, 8),)), logits=True)

    assert decision.verdict is Verdict.PASS
    assert decision.score == 0.0


# ------------------------------------------------------------------------------- many regions, one pass


def reference_regions(
    prob: np.ndarray, threshold: float, min_area: int
) -> dict[tuple[int, ...], tuple[int, float, float]]:
    """Each region's (area, max, mean) by its bounding box, found one region at a time (the slow way)."""
    import cv2

    mask = (prob >= threshold).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    found = {}
    for k in range(1, count):
        if stats[k, cv2.CC_STAT_AREA] < min_area:
            continue
        values = prob[labels == k].astype(np.float64)
        box = tuple(int(v) for v in stats[k, :4])
        found[box] = (len(values), float(values.max()), float(values.mean()))
    return found


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), density=st.floats(0.05, 0.6), min_area=st.integers(1, 6))
def test_given_many_regions_when_decided_then_each_matches_a_region_by_region_reference(
    seed: int, density: float, min_area: int
) -> None:
    rng = np.random.default_rng(seed)
    prob = np.where(rng.random((96, 128)) < density, rng.uniform(0.5, 1.0, (96, 128)), 0.1).astype(np.float32)
    decision = decide_segmentation(prob[None], rules(min_area_px=(min_area,), max_defects=10**6))
    expected = reference_regions(prob, 0.5, min_area)
    got: dict[tuple[int, ...], tuple[int, float, float]] = {
        d.bbox: (d.area_px, d.max_score, d.mean_score) for d in decision.defects
    }
    assert got.keys() == expected.keys()
    for box, (area, top, mean) in expected.items():
        assert got[box][0] == area
        assert got[box][1] == pytest.approx(top, abs=1e-6)
        assert got[box][2] == pytest.approx(mean, rel=1e-5)
    assert decision.masks is not None
    painted = int(np.count_nonzero(decision.masks))
    assert painted == sum(area for area, _, _ in expected.values())
