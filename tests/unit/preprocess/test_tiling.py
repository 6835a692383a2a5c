"""Tiling geometry: input-sized tiles cover the working image, overlapping, the last flush with the edge."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_inspect.errors import PreprocessError
from edge_inspect.model.manifest import Crop
from edge_inspect.preprocess.tiling import crop_box, tile_boxes, tile_starts


def test_a_side_no_longer_than_a_tile_has_one_tile_at_zero() -> None:
    assert tile_starts(512, 512, 32) == (0,)
    assert tile_starts(100, 512, 32) == (0,)


def test_tiles_step_by_tile_minus_overlap_and_the_last_is_flush_with_the_edge() -> None:
    # 1000 px in 256 px tiles overlapping by 32: steps of 224, the last moved back to end at 1000
    assert tile_starts(1000, 256, 32) == (0, 224, 448, 672, 744)


def test_an_overlap_as_large_as_the_tile_is_refused() -> None:
    with pytest.raises(PreprocessError, match="tile_overlap 64 must be smaller than the tile size 64"):
        tile_starts(100, 64, 64)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 3000), st.integers(1, 600), st.data())
def test_tile_starts_cover_the_side_with_at_least_the_overlap(
    length: int, tile: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, tile - 1))
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0
    assert list(starts) == sorted(set(starts))
    assert starts[-1] == max(length - tile, 0)
    assert all(b - a <= tile - overlap for a, b in itertools.pairwise(starts))


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 700), st.integers(1, 700), st.integers(8, 200), st.integers(8, 200), st.data())
def test_tile_boxes_cover_every_pixel_of_the_working_image(
    width: int, height: int, tile_w: int, tile_h: int, data: st.DataObject
) -> None:
    overlap = data.draw(st.integers(0, min(tile_w, tile_h) - 1))
    boxes = tile_boxes((width, height), (tile_w, tile_h), overlap)
    covered = np.zeros((max(height, tile_h), max(width, tile_w)), dtype=np.int32)
    for x, y, w, h in boxes:
        assert (w, h) == (tile_w, tile_h)
        covered[y : y + h, x : x + w] += 1
    assert covered[:height, :width].min() >= 1


def test_the_roi_then_the_model_crop_give_the_inspected_box() -> None:
    crop = Crop(top=2, bottom=3, left=4, right=5)
    assert crop_box((640, 480), (10, 20, 300, 200), crop) == (14, 22, 291, 195)
    assert crop_box((640, 480), None, crop) == (4, 2, 631, 475)


def test_a_roi_outside_the_frame_names_the_roi_and_the_frame() -> None:
    with pytest.raises(PreprocessError, match=r"x=600, y=0, width=100, height=10\) lies outside the 640x480"):
        crop_box((640, 480), (600, 0, 100, 10), Crop())


def test_a_crop_that_leaves_nothing_is_refused() -> None:
    with pytest.raises(PreprocessError, match="leaves nothing of the 10x10 ROI"):
        crop_box((640, 480), (0, 0, 10, 10), Crop(left=5, right=5))
