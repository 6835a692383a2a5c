"""Pixel operations: channel order, bit-depth scale, padding, packing with normalisation."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edge_inspect.errors import PreprocessError
from edge_inspect.preprocess import ops

RNG = np.random.default_rng(7)


def bgr(height: int = 6, width: int = 8, dtype: type = np.uint8) -> np.ndarray:
    return RNG.integers(0, np.iinfo(dtype).max, (height, width, 3), dtype=dtype, endpoint=True)


def test_the_scale_is_the_pixel_types_full_range_never_the_pixel_values() -> None:
    # Given a 12-bit camera's frame stored as uint16 (values up to 4095 only)
    dark = RNG.integers(0, 4096, (4, 4), dtype=np.uint16)
    # Then the scale is still the uint16 range
    assert ops.full_scale(dark.dtype) == 65535.0
    assert ops.full_scale(np.dtype(np.uint8)) == 255.0


def test_other_pixel_types_are_refused_naming_what_came() -> None:
    with pytest.raises(PreprocessError, match="expected uint8 or uint16 pixels, got float32"):
        ops.as_frame_image(np.zeros((4, 4), dtype=np.float32))


@pytest.mark.parametrize("shape", [(4, 4, 2), (4, 4, 4), (4,)])
def test_images_that_are_neither_mono_nor_bgr_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(PreprocessError, match=r"expected a mono \(HxW\) or BGR \(HxWx3\) image, got shape"):
        ops.as_frame_image(np.zeros(shape, dtype=np.uint8))


def test_a_single_channel_third_axis_is_mono() -> None:
    assert ops.as_frame_image(np.zeros((4, 5, 1), dtype=np.uint8)).shape == (4, 5)


def test_bgr_frames_are_reordered_for_an_rgb_model() -> None:
    image = bgr(dtype=np.uint16)
    rgb = ops.convert_color(image, "rgb")
    assert rgb.dtype == np.uint16
    assert np.array_equal(rgb, image[:, :, ::-1])


def test_a_bgr_model_takes_bgr_frames_as_they_are() -> None:
    image = bgr()
    assert ops.convert_color(image, "bgr") is image


def test_mono_frames_are_replicated_for_a_colour_model() -> None:
    mono = bgr()[:, :, 0].copy()
    for order in ("rgb", "bgr"):
        colour = ops.convert_color(mono, order)  # type: ignore[arg-type]
        assert colour.shape == (*mono.shape, 3)
        assert all(np.array_equal(colour[:, :, c], mono) for c in range(3))


def test_colour_frames_become_luminance_for_a_mono_model() -> None:
    image = bgr()
    assert np.array_equal(ops.convert_color(image, "gray"), cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))


def test_padding_mirrors_the_image_at_the_right_and_bottom() -> None:
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    padded = ops.pad_to(image, (5, 3))
    assert padded.shape == (3, 5)
    assert np.array_equal(padded[:2, :3], image)
    assert padded[0].tolist() == [0, 1, 2, 1, 0]
    assert padded[2].tolist() == padded[0].tolist()


def test_normalisation_constants_implement_scale_mean_and_std_per_channel() -> None:
    gain, offset = ops.normalisation(255.0, (0.1, 0.2, 0.3), (0.5,), 3)
    x = np.float32(200)
    expected = (200 / 255.0 - np.array([0.1, 0.2, 0.3])) / 0.5
    assert np.allclose(x * gain + offset, expected, atol=1e-6)


@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_packing_cuts_the_boxes_in_the_layout_and_normalises_each_channel(layout: str) -> None:
    image = bgr(height=10, width=12)
    boxes = ((0, 0, 8, 6), (4, 4, 8, 6))
    gain, offset = ops.normalisation(255.0, (0.1, 0.2, 0.3), (0.5, 0.25, 0.2), 3)
    tensor = ops.pack_tiles(image, boxes, layout, np.dtype(np.float32), (gain, offset))  # type: ignore[arg-type]
    expected_tile = image[4:10, 4:12] * gain + offset
    if layout == "NCHW":
        assert tensor.shape == (2, 3, 6, 8)
        assert np.allclose(tensor[1], expected_tile.transpose(2, 0, 1), atol=1e-6)
    else:
        assert tensor.shape == (2, 6, 8, 3)
        assert np.allclose(tensor[1], expected_tile, atol=1e-6)


def test_packing_to_float16_rounds_the_normalised_values() -> None:
    mono = bgr()[:, :, 1].copy()
    gain, offset = ops.normalisation(255.0, (0.5,), (0.25,), 1)
    tensor = ops.pack_tiles(mono, ((0, 0, 8, 6),), "NCHW", np.dtype(np.float16), (gain, offset))
    assert tensor.dtype == np.float16
    assert np.allclose(tensor[0, 0], (mono / 255.0 - 0.5) / 0.25, atol=2e-3)


def test_a_uint8_model_gets_sixteen_bit_pixels_mapped_to_eight_bits() -> None:
    deep = np.array([[0, 257, 65535]], dtype=np.uint16)
    assert ops.to_uint8(deep, 65535.0).tolist() == [[0, 1, 255]]
    eight = np.array([[0, 9, 255]], dtype=np.uint8)
    assert ops.to_uint8(eight, 255.0) is eight


def test_resizing_shrinks_by_area_averaging() -> None:
    checker = np.indices((8, 8)).sum(axis=0) % 2 * 255
    small = ops.resize(checker.astype(np.uint8), (4, 4))
    # area averaging of a 1-px checkerboard gives flat grey, where nearest or linear would alias
    assert small.shape == (4, 4)
    assert set(np.unique(small).tolist()) <= {127, 128}
