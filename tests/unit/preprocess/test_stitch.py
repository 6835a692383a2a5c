"""stitch: tile outputs go back to original-frame pixels, so the decision stage works in frame coordinates."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_inspect.config.preprocess import Roi
from edge_inspect.errors import EngineOutputError
from edge_inspect.model.manifest import InputSpec
from edge_inspect.preprocess import Preprocessor, stitch
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
