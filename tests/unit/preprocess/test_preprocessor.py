"""The Preprocessor: Frame -> Prepared exactly as the model manifest's InputSpec says."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge_inspect.config.preprocess import Roi
from edge_inspect.errors import PreprocessError
from edge_inspect.model.manifest import InputSpec
from edge_inspect.preprocess import Preprocessor, preprocess_input
from edge_inspect.types import Frame, SourceInfo

RNG = np.random.default_rng(11)


def spec(**fields: Any) -> InputSpec:
    base: dict[str, Any] = {"name": "input", "width": 64, "height": 48, "channels": 1, "color_order": "gray"}
    return InputSpec.model_validate({**base, **fields})


def frame(image: np.ndarray | None, error: str | None = None) -> Frame:
    source = SourceInfo(kind="replay", path="/data/0001.png", index=0)
    return Frame(
        seq=3, camera="cam-1", captured_at=0.0, monotonic=0.0, source=source, image=image, error=error
    )


def pixels(shape: tuple[int, ...], dtype: type = np.uint8) -> np.ndarray:
    return RNG.integers(0, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def test_a_frame_of_the_input_size_is_one_normalised_tile() -> None:
    # Given a mono model with mean 0.5 and std 0.25, and a frame of exactly its input size
    image = pixels((48, 64))
    prepared = Preprocessor(spec(mean=(0.5,), std=(0.25,)))(frame(image))
    # Then the tensor is one NCHW tile of (x / 255 - 0.5) / 0.25
    assert prepared.tensor.shape == (1, 1, 48, 64)
    assert prepared.tensor.dtype == np.float32
    assert np.allclose(prepared.tensor[0, 0], (image / 255.0 - 0.5) / 0.25, atol=1e-5)
    assert prepared.geometry.boxes == ((0, 0, 64, 48),)
    assert prepared.geometry.frame_box == (0, 0, 64, 48)
    assert prepared.frame.seq == 3
    assert prepared.preprocess_ms > 0


def test_sixteen_bit_frames_scale_by_their_full_range_or_by_the_manifest_scale() -> None:
    image = pixels((48, 64), np.uint16) // 16  # a 12-bit camera: values up to 4095
    by_range = Preprocessor(spec())(frame(image)).tensor
    assert np.allclose(by_range[0, 0], image / 65535.0, atol=1e-6)
    by_manifest = Preprocessor(spec(scale=4095.0))(frame(image)).tensor
    assert np.allclose(by_manifest[0, 0], image / 4095.0, atol=1e-6)


def test_a_bgr_frame_feeds_an_rgb_model_channel_by_channel() -> None:
    image = pixels((48, 64, 3))
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    tensor = Preprocessor(spec(channels=3, color_order="rgb", mean=mean, std=std))(frame(image)).tensor
    assert tensor.shape == (1, 3, 48, 64)
    for c in range(3):  # model channel c is frame channel 2 - c (BGR -> RGB)
        assert np.allclose(tensor[0, c], (image[:, :, 2 - c] / 255.0 - mean[c]) / std[c], atol=1e-5)


def test_nhwc_layout_and_float16_dtype_are_honoured() -> None:
    tensor = Preprocessor(spec(channels=3, color_order="bgr", layout="NHWC", dtype="float16"))(
        frame(pixels((48, 64, 3)))
    ).tensor
    assert tensor.shape == (1, 48, 64, 3)
    assert tensor.dtype == np.float16


def test_a_uint8_model_gets_the_pixels_themselves() -> None:
    image = pixels((48, 64))
    tensor = Preprocessor(spec(dtype="uint8"))(frame(image)).tensor
    assert tensor.dtype == np.uint8
    assert np.array_equal(tensor[0, 0], image)


def test_a_uint8_model_with_normalisation_constants_is_refused() -> None:
    with pytest.raises(PreprocessError, match=r"a uint8 input takes pixels as they are, so mean \(0\.5,\)"):
        Preprocessor(spec(dtype="uint8", mean=(0.5,)))


def test_a_colour_order_that_contradicts_the_channel_count_is_refused() -> None:
    with pytest.raises(PreprocessError, match="color_order 'rgb' does not fit channels=1"):
        Preprocessor(spec(color_order="rgb"))


def test_resize_fits_the_cropped_frame_to_the_input_and_records_the_scale() -> None:
    # Given a 200x100 frame, a 2-px border crop and a 64x48 model that resizes
    prepared = Preprocessor(spec(fit="resize", crop={"top": 2, "bottom": 2, "left": 2, "right": 2}))(
        frame(pixels((100, 200)))
    )
    geometry = prepared.geometry
    assert prepared.tensor.shape == (1, 1, 48, 64)
    assert geometry.frame_box == (2, 2, 196, 96)
    assert geometry.work_size == (64, 48)
    assert geometry.scale == pytest.approx((196 / 64, 96 / 48))
    assert geometry.frame_size == (200, 100)


def test_tiling_cuts_the_roi_and_crop_region_into_overlapping_input_sized_tiles() -> None:
    # Given a 300x200 frame, a station ROI and the model's crop, and 64x48 tiles overlapping by 8
    image = pixels((200, 300))
    roi = Roi(x=10, y=20, width=150, height=100)
    preprocessor = Preprocessor(spec(tile_overlap=8, crop={"left": 5, "top": 4}), roi=roi)
    prepared = preprocessor(frame(image))
    geometry = prepared.geometry
    # Then the working image is the ROI less the crop, and each tile holds its part of it
    assert geometry.frame_box == (15, 24, 145, 96)
    assert geometry.work_size == (145, 96)
    assert prepared.tensor.shape == (len(geometry.boxes), 1, 48, 64)
    region = image[24:120, 15:160]
    for tile, (x, y, w, h) in zip(prepared.tensor, geometry.boxes, strict=True):
        assert np.allclose(tile[0], region[y : y + h, x : x + w] / 255.0, atol=1e-6)


def test_a_working_image_smaller_than_the_input_is_padded_by_mirroring() -> None:
    image = pixels((30, 40))
    prepared = Preprocessor(spec())(frame(image))
    tile = prepared.tensor[0, 0]
    assert prepared.tensor.shape == (1, 1, 48, 64)
    assert prepared.geometry.work_size == (40, 30)
    assert np.allclose(tile[:30, :40], image / 255.0, atol=1e-6)
    assert np.allclose(tile[:30, 40], image[:, 38] / 255.0, atol=1e-6)  # reflect-101: column 39 is the axis


def test_the_plan_for_a_frame_size_is_computed_once() -> None:
    preprocessor = Preprocessor(spec())
    first = preprocessor(frame(pixels((100, 200)))).geometry
    second = preprocessor(frame(pixels((100, 200)))).geometry
    assert first is second


def test_a_roi_outside_the_frame_names_the_frame_roi_and_size() -> None:
    preprocessor = Preprocessor(spec(), roi=Roi(x=100, y=0, width=150, height=50))
    with pytest.raises(
        PreprocessError, match=r"frame 3 \(/data/0001\.png\): preprocess\.roi .* 200x100 frame"
    ):
        preprocessor(frame(pixels((100, 200))))


def test_a_frame_of_unsupported_pixels_is_refused_naming_what_came() -> None:
    with pytest.raises(PreprocessError, match=r"frame 3 \(/data/0001\.png\): .*got float64"):
        Preprocessor(spec())(frame(np.zeros((48, 64))))


def test_a_frame_without_an_image_is_refused_with_its_source_error() -> None:
    with pytest.raises(PreprocessError, match=r"no image to preprocess \(/data/0001\.png: empty file\)"):
        Preprocessor(spec())(frame(None, error="/data/0001.png: empty file"))


@pytest.mark.parametrize(
    "fields", [{}, {"fit": "resize"}, {"channels": 3, "color_order": "rgb", "layout": "NHWC"}]
)
def test_read_only_frames_are_preprocessed_without_being_written(fields: dict[str, Any]) -> None:
    # Given a frame whose pixels are read-only (a replay cached in memory hands out the same array again)
    image = pixels((100, 150, 3))
    image.flags.writeable = False
    before = image.copy()
    # When it is preprocessed, then it works and the pixels are untouched
    Preprocessor(spec(**fields))(frame(image))
    assert np.array_equal(image, before)


def test_for_an_engine_that_normalises_inside_the_tensor_is_the_frames_own_bytes() -> None:
    model = spec(mean=[0.5], std=[0.25])
    # Given an engine whose input is uint8 where the manifest says float32
    pixel_spec = preprocess_input(model, "uint8")
    assert pixel_spec.dtype == "uint8"
    assert (pixel_spec.mean, pixel_spec.std) == ((0.0,), (1.0,))
    assert (pixel_spec.width, pixel_spec.height, pixel_spec.layout) == (
        model.width,
        model.height,
        model.layout,
    )
    image = pixels((model.height, model.width))
    # then the preprocessor hands the 8-bit pixels over unchanged
    tensor = Preprocessor(pixel_spec)(frame(image)).tensor
    assert tensor.dtype == np.uint8
    np.testing.assert_array_equal(tensor[0, 0], image)
    # an engine of the manifest's own dtype takes the manifest's input, and any other dtype is refused
    assert preprocess_input(model, "float32") is model
    with pytest.raises(PreprocessError, match="float16"):
        preprocess_input(model, "float16")


@pytest.mark.parametrize("shape", [(1, 1), (48, 31), (23, 64)])
def test_a_frame_much_smaller_than_the_input_is_refused_not_padded(shape: tuple[int, int]) -> None:
    # Given a 64x48 model and the station's rule that at least half its input must be inspected
    preprocessor = Preprocessor(spec(fit="tile"), min_input_fraction=0.5)
    # When a frame smaller than half the input in width or height comes
    with pytest.raises(PreprocessError) as info:
        preprocessor(frame(pixels(shape)))
    # Then it is refused, naming its size and the setting
    assert f"{shape[1]}x{shape[0]}" in str(info.value)
    assert "preprocess.min_input_fraction" in str(info.value)


def test_a_frame_at_the_minimum_fraction_is_padded_and_inspected() -> None:
    prepared = Preprocessor(spec(fit="tile"), min_input_fraction=0.5)(frame(pixels((24, 32))))
    assert prepared.tensor.shape == (1, 1, 48, 64)


def test_an_roi_smaller_than_the_minimum_is_refused() -> None:
    preprocessor = Preprocessor(spec(), roi=Roi(x=0, y=0, width=10, height=48), min_input_fraction=0.5)
    with pytest.raises(PreprocessError, match="10x48"):
        preprocessor(frame(pixels((48, 64))))
