"""stitch: tile outputs go back to original-frame pixels, so the decision stage works in frame coordinates."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_inspect.config.preprocess import Roi
from edge_inspect.decision.rules import Rules
from edge_inspect.decision.segmentation import decide_segmentation
from edge_inspect.errors import EngineOutputError
from edge_inspect.model.manifest import InputSpec
from edge_inspect.preprocess import Preprocessor, stitch
from edge_inspect.preprocess.stitch import stitch_bounded
from edge_inspect.types import TileGeometry


def spec(**fields: Any) -> InputSpec:
    base: dict[str, Any] = {"name": "input", "width": 64, "height": 48, "channels": 1, "color_order": "gray"}
    return InputSpec.model_validate({**base, **fields})


def expected_map(image: np.ndarray, geometry: TileGeometry, scale: float, rgb: bool = False) -> np.ndarray:
    """The frame as the model saw it (pixel / scale, model channel order), zero outside the inspected box."""
    chw = image[:, :, None] if image.ndim == 2 else (image[:, :, ::-1] if rgb else image)
    full = np.zeros((chw.shape[2], *image.shape[:2]), dtype=np.float64)
    x, y, w, h = geometry.frame_box
    full[:, y : y + h, x : x + w] = chw[y : y + h, x : x + w].transpose(2, 0, 1) / scale
    return full


@st.composite
def tiling_cases(draw: st.DrawFn) -> dict[str, Any]:
    tile_w, tile_h = draw(st.integers(8, 48)), draw(st.integers(8, 48))
    frame_w, frame_h = draw(st.integers(12, 160)), draw(st.integers(12, 160))
    colour = draw(st.booleans())
    roi = None
    if draw(st.booleans()):
        x, y = draw(st.integers(0, frame_w - 8)), draw(st.integers(0, frame_h - 8))
        roi = Roi(x=x, y=y, width=draw(st.integers(8, frame_w - x)), height=draw(st.integers(8, frame_h - y)))
    inner_w = roi.width if roi else frame_w
    inner_h = roi.height if roi else frame_h
    left, right = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    top, bottom = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    fields = {
        "width": tile_w,
        "height": tile_h,
        "tile_overlap": draw(st.integers(0, min(tile_w, tile_h) - 1)),
        "channels": 3 if colour else 1,
        "color_order": draw(st.sampled_from(["rgb", "bgr"])) if colour else "gray",
        "layout": draw(st.sampled_from(["NCHW", "NHWC"])),
        "mean": (draw(st.floats(-1, 1)),),
        "std": (draw(st.floats(0.1, 2)),),
        "crop": {"left": left, "right": right, "top": top, "bottom": bottom},
    }
    assert inner_w - left - right > 0
    assert inner_h - top - bottom > 0
    dtype = draw(st.sampled_from([np.uint8, np.uint16]))
    shape = (frame_h, frame_w, 3) if colour else (frame_h, frame_w)
    seed = draw(st.integers(0, 2**32 - 1))
    top = np.iinfo(dtype).max  # type: ignore[type-var]
    image = np.random.default_rng(seed).integers(0, top, shape, dtype=dtype, endpoint=True)
    return {"fields": fields, "roi": roi, "image": image}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiling_cases())
def test_tiles_fed_back_as_identity_outputs_stitch_to_the_cropped_frame(case: dict[str, Any]) -> None:
    # Given a frame of random size, tiled by a random input spec (ROI, crop, overlap, layout, channels)
    image = case["image"]
    preprocessor = Preprocessor(spec(**case["fields"]), roi=case["roi"])
    tensor, geometry = preprocessor.prepare(image)
    # When each tile's output is the tile itself, de-normalised to pixel / scale
    outputs = preprocessor.denormalise(tensor, image.dtype)
    stitched = stitch(outputs, geometry)
    # Then stitching recovers the inspected part of the frame, and zero outside it
    scale = float(np.iinfo(image.dtype).max)
    rgb = case["fields"]["color_order"] == "rgb"
    assert stitched.shape == (outputs.shape[1], *image.shape[:2])
    assert np.allclose(stitched, expected_map(image, geometry, scale, rgb), atol=1e-4)


def test_resized_outputs_are_resized_back_to_the_cropped_frame() -> None:
    # Given a smooth 240x160 frame resized to a 64x48 input after a border crop
    y, x = np.mgrid[0:160, 0:240]
    image = ((x + y) * 0.5).astype(np.uint8)
    preprocessor = Preprocessor(spec(fit="resize", crop={"left": 8, "right": 8, "top": 4, "bottom": 4}))
    tensor, geometry = preprocessor.prepare(image)
    # When the identity output is stitched
    stitched = stitch(preprocessor.denormalise(tensor, image.dtype), geometry)
    # Then it matches the cropped frame closely inside (interpolation at the edges aside), zero outside
    expected = expected_map(image, geometry, 255.0)
    assert np.abs(stitched - expected)[0, 8:-8, 12:-12].max() < 2 / 255
    assert not stitched[:, :4].any()
    assert not stitched[:, :, :8].any()


def test_every_pixel_of_the_inspected_box_is_covered_by_some_tile() -> None:
    # Given an AOI-sized frame tiled into 512 px tiles
    preprocessor = Preprocessor(spec(width=512, height=512, tile_overlap=32, crop={"left": 3, "bottom": 5}))
    geometry = preprocessor.plan((2448, 2048)).geometry
    # When every tile outputs ones
    ones = np.ones((len(geometry.boxes), 1, 512, 512), dtype=np.float32)
    stitched = stitch(ones, geometry)
    # Then every inspected pixel is exactly 1 (covered, overlaps averaged) and the crop is 0
    x, y, w, h = geometry.frame_box
    assert np.array_equal(stitched[0, y : y + h, x : x + w], np.ones((h, w), dtype=np.float32))
    assert stitched[0].sum() == w * h


def test_overlapping_tiles_are_averaged() -> None:
    # Given two 64-px-wide tiles over a 100-px-wide working image (overlap 28 px)
    geometry = Preprocessor(spec(tile_overlap=8)).plan((100, 48)).geometry
    assert geometry.boxes == ((0, 0, 64, 48), (36, 0, 64, 48))
    outputs = np.stack([np.full((1, 48, 64), 1.0), np.full((1, 48, 64), 3.0)]).astype(np.float32)
    stitched = stitch(outputs, geometry)[0, 0]
    assert stitched[:36].tolist() == [1.0] * 36
    assert stitched[36:64].tolist() == [2.0] * 28
    assert stitched[64:].tolist() == [3.0] * 36


def test_maps_smaller_than_the_tile_by_the_output_stride_are_upsampled() -> None:
    # Given a model whose output is 1/8 of its 64x48 input, on a 100x48 frame (two tiles)
    geometry = Preprocessor(spec(tile_overlap=8)).plan((100, 48)).geometry
    outputs = np.full((2, 2, 6, 8), 0.25, dtype=np.float32)
    outputs[:, 1] = 0.75
    stitched = stitch(outputs, geometry)
    assert stitched.shape == (2, 48, 100)
    assert np.allclose(stitched[0], 0.25)
    assert np.allclose(stitched[1], 0.75)


def test_the_wrong_number_of_tile_maps_is_an_engine_output_error() -> None:
    geometry = Preprocessor(spec(tile_overlap=8)).plan((100, 48)).geometry
    with pytest.raises(
        EngineOutputError, match=r"expected 2 tile maps shaped \(N, C, h, w\), got shape \(3, 1"
    ):
        stitch(np.zeros((3, 1, 48, 64), dtype=np.float32), geometry)


# ------------------------------------------------------------------------ frames beyond the decision bound


def seg_rules(min_area_px: int) -> Rules:
    return Rules(
        kind="segmentation",
        classes=("defect",),
        thresholds=(0.5,),
        min_area_px=(min_area_px,),
        score_threshold=0.5,
        max_defects=0,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tiling_cases(), st.integers(16, 4000))
def test_a_frame_beyond_the_bound_stitches_to_the_full_map_scaled_down(
    case: dict[str, Any], max_pixels: int
) -> None:
    # Given any tiling of a smooth frame (a ramp: scaling it down is well defined), and a bound
    noise = case["image"]
    frame_h, frame_w = noise.shape[:2]
    y, x = np.mgrid[0:frame_h, 0:frame_w]
    ramp = (x / frame_w + y / frame_h) / 2 * np.iinfo(noise.dtype).max
    image = np.broadcast_to(ramp[..., None], noise.shape).astype(noise.dtype) if noise.ndim == 3 else ramp
    image = image.astype(noise.dtype)
    preprocessor = Preprocessor(spec(**case["fields"]), roi=case["roi"])
    tensor, geometry = preprocessor.prepare(image)
    outputs = preprocessor.denormalise(tensor, image.dtype)
    # When stitched under the bound
    scaled, (sx, sy) = stitch_bounded(outputs, geometry, max_pixels)
    full = stitch(outputs, geometry)
    height, width = scaled.shape[1:]
    if frame_w * frame_h <= max_pixels:
        assert (sx, sy) == (1.0, 1.0)
        assert np.array_equal(scaled, full)
        return
    # Then it has at most that many pixels, and inside the inspected box it is the full map scaled down
    assert width * height <= max_pixels
    assert (sx, sy) == (frame_w / width, frame_h / height)
    reference = np.stack([cv2.resize(c, (width, height), interpolation=cv2.INTER_AREA) for c in full])
    bx, by, bw, bh = geometry.frame_box
    x0, x1 = math.ceil(bx / sx) + 1, math.floor((bx + bw) / sx) - 1
    y0, y1 = math.ceil(by / sy) + 1, math.floor((by + bh) / sy) - 1
    if x1 > x0 and y1 > y0:
        step = max(sx, sy) / min(frame_w, frame_h)  # the ramp's rise over one map pixel, at most
        assert np.abs(scaled - reference)[:, y0:y1, x0:x1].max() <= 2 * step + 0.02
    assert not scaled[:, : max(0, math.floor(by / sy) - 1)].any()  # zero above the box


def test_a_large_frame_is_decided_on_a_bounded_map_with_defects_in_frame_pixels() -> None:
    # Given a 4096x2048 frame tiled into 256 px tiles, with one bright 200x100 defect
    image = np.zeros((2048, 4096), dtype=np.uint8)
    image[1000:1100, 3000:3200] = 255
    preprocessor = Preprocessor(spec(width=256, height=256, tile_overlap=16))
    tensor, geometry = preprocessor.prepare(image)
    outputs = preprocessor.denormalise(tensor, image.dtype)
    rules = seg_rules(50)
    # When decided at full resolution, and on a map bounded to 1/16 of the frame's pixels
    full = decide_segmentation(stitch(outputs, geometry), rules)
    probs, scale = stitch_bounded(outputs, geometry, max_pixels=4096 * 2048 // 16)
    bounded = decide_segmentation(probs, rules, scale=scale)
    # Then the map is a quarter of the frame per axis and the verdict and defect agree, in frame pixels
    assert probs.shape[1:] == (512, 1024)
    assert scale == (4.0, 4.0)
    assert [d.class_name for d in bounded.defects] == [d.class_name for d in full.defects] == ["defect"]
    [big], [small] = full.defects, bounded.defects
    assert big.bbox == (3000, 1000, 200, 100)
    assert all(abs(a - b) <= 4 for a, b in zip(small.bbox, big.bbox, strict=True))
    assert abs(small.area_px - big.area_px) <= 0.1 * big.area_px
    assert abs(small.centroid[0] - big.centroid[0]) <= 2
    assert abs(small.centroid[1] - big.centroid[1]) <= 2
    assert bounded.verdict == full.verdict


def test_a_small_defect_below_the_minimum_area_in_frame_pixels_stays_below_it_on_the_bounded_map() -> None:
    image = np.zeros((2048, 4096), dtype=np.uint8)
    image[500:508, 500:508] = 255  # 64 frame pixels: 4 map pixels at scale 4
    preprocessor = Preprocessor(spec(width=256, height=256, tile_overlap=16))
    tensor, geometry = preprocessor.prepare(image)
    outputs = preprocessor.denormalise(tensor, image.dtype)
    probs, scale = stitch_bounded(outputs, geometry, max_pixels=4096 * 2048 // 16)

    kept = decide_segmentation(probs, seg_rules(50), scale=scale)
    dropped = decide_segmentation(probs, seg_rules(100), scale=scale)

    assert len(kept.defects) == 1
    assert dropped.defects == ()


def test_given_tiles_piled_on_one_spot_when_counted_then_the_count_type_holds_them() -> None:
    from edge_inspect.preprocess.stitch import _count_dtype
    from edge_inspect.types import TileGeometry

    def geometry(boxes: tuple[tuple[int, int, int, int], ...]) -> TileGeometry:
        return TileGeometry(
            work_size=(64, 64), boxes=boxes, frame_box=(0, 0, 64, 64), scale=(1.0, 1.0), frame_size=(64, 64)
        )

    side_by_side = tuple((x, 0, 8, 8) for x in range(0, 64 * 300, 8))  # 2400 tiles, one per column
    assert _count_dtype(geometry(side_by_side)) == np.uint8
    assert _count_dtype(geometry(((0, 0, 64, 64),) * 255)) == np.uint8
    assert _count_dtype(geometry(((0, 0, 64, 64),) * 256)) == np.uint16
