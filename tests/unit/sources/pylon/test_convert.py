"""Pixel formats: every camera format becomes HxW mono (8 or MSB-aligned 16 bit) or HxWx3 BGR, through
pylon's own converter. The emulator serves known files, so each converted frame is checked pixel by pixel."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import pytest

from edge_inspect.sources.pylon.convert import FrameConverter, choose_output
from tests.helpers.pylon_emulator import SERIALS, file_features, require_emulator, use_emulator

use_emulator()

BGR = (10, 20, 30)


@pytest.mark.parametrize(
    ("requested", "colour", "bit_depth", "expected"),
    [
        ("auto", False, 8, "mono8"),
        ("auto", False, 12, "mono16"),
        ("auto", False, 16, "mono16"),
        ("auto", True, 8, "bgr8"),
        ("auto", True, 12, "bgr8"),
        ("mono8", True, 8, "mono8"),
        ("mono16", False, 8, "mono16"),
        ("bgr8", False, 8, "bgr8"),
    ],
)
def test_given_a_camera_format_when_choosing_the_output_then_auto_keeps_depth_and_colour(
    requested: Any, colour: bool, bit_depth: int, expected: str
) -> None:
    assert choose_output(requested, colour=colour, bit_depth=bit_depth) == expected


@dataclass(frozen=True)
class Served:
    camera: Any
    file: np.ndarray


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Emulated camera 0 serving one flat colour image (B, G, R) = BGR with a gradient first row; each test
    sets the pixel format it grabs in."""
    require_emulator()
    tmp_path = tmp_path_factory.mktemp("colour")
    from pypylon import pylon

    image = np.zeros((32, 48, 3), dtype=np.uint8)
    image[...] = BGR
    image[0, :, 1] = np.arange(48)
    cv2.imwrite(str(tmp_path / "0.png"), image)
    info = pylon.DeviceInfo()
    info.SetSerialNumber(SERIALS[0])
    cam = pylon.InstantCamera(pylon.TlFactory.GetInstance().CreateDevice(info))
    cam.Open()
    for name, value in file_features(tmp_path).items():
        cam.GetNodeMap().GetNode(name).FromString(value)
    yield Served(cam, image)
    cam.Close()
    cam.DestroyDevice()


def grab(served: Served, pixel_format: str, requested: Any) -> np.ndarray:
    camera = served.camera
    camera.PixelFormat.Value = pixel_format
    result = camera.GrabOne(2000)
    try:
        assert result.GrabSucceeded()
        return FrameConverter(requested).convert(result)
    finally:
        result.Release()


@pytest.mark.parametrize("pixel_format", ["RGB8Packed", "BGR8Packed", "BayerRG8", "BayerBG8", "BayerGB12"])
def test_given_colour_and_bayer_formats_when_converted_auto_then_frames_are_the_file_in_bgr(
    served: Served, pixel_format: str
) -> None:
    frame = grab(served, pixel_format, "auto")

    assert frame.shape == (32, 48, 3)
    assert frame.dtype == np.uint8
    # Bayer demosaicing is exact away from the border and the gradient row
    np.testing.assert_array_equal(frame[4:-4, 4:-4], served.file[4:-4, 4:-4])
    if not pixel_format.startswith("Bayer"):
        np.testing.assert_array_equal(frame, served.file)


def test_given_mono8_when_converted_auto_then_frames_are_hxw_uint8_and_equal_the_camera_luma(
    served: Served,
) -> None:
    frame = grab(served, "Mono8", "auto")
    raw = served.camera.GrabOne(2000)
    expected = raw.GetArray()
    raw.Release()

    assert frame.shape == (32, 48)
    assert frame.dtype == np.uint8
    np.testing.assert_array_equal(frame, expected)
    assert frame[0, 47] > frame[0, 0]  # the gradient row survives, left to right


@pytest.mark.parametrize("pixel_format", ["Mono12", "Mono16"])
def test_given_deep_mono_when_converted_auto_then_frames_are_uint16_msb_aligned(
    served: Served, pixel_format: str
) -> None:
    mono8 = grab(served, "Mono8", "auto")

    frame = grab(served, pixel_format, "auto")

    assert frame.dtype == np.uint16
    assert frame.shape == (32, 48)
    np.testing.assert_array_equal(frame >> 8, mono8)
    assert int(frame.max()) > 4095  # spans the 16-bit range, not the 12-bit one


def test_given_a_colour_camera_and_a_mono_model_when_output_mono8_then_frames_are_hxw(served: Served) -> None:
    frame = grab(served, "BayerRG8", "mono8")

    assert frame.shape == (32, 48)
    assert frame.dtype == np.uint8
    luma = cv2.cvtColor(served.file, cv2.COLOR_BGR2GRAY)
    assert np.abs(frame[4:-4, 4:-4].astype(int) - luma[4:-4, 4:-4]).max() <= 1
