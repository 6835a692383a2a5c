"""Frame sizes are read from the header, and a frame beyond ``source.max_pixels`` is never decoded."""

from __future__ import annotations

import resource
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspect.errors import FrameDecodeError
from edge_inspect.sources.decode import decode_image, image_size
from tests.helpers.images import write_blank_png


@pytest.mark.parametrize("extension", [".png", ".jpg", ".bmp", ".tif"])
@pytest.mark.parametrize("shape", [(37, 53), (64, 48, 3)])
def test_given_an_encoded_image_when_its_header_is_read_then_the_size_is_exact(
    extension: str, shape: tuple[int, ...]
) -> None:
    ok, encoded = cv2.imencode(extension, np.full(shape, 100, dtype=np.uint8))
    assert ok
    assert image_size(encoded.tobytes()) == (shape[1], shape[0])


def test_given_bytes_of_no_known_format_when_sized_then_none() -> None:
    assert image_size(b"GIF89a" + b"\x00" * 40) is None
    assert image_size(b"\x89PNG\r\n\x1a\n") is None  # cut inside its header


def test_given_a_frame_over_max_pixels_when_decoded_then_it_is_refused_before_decoding(
    tmp_path: Path,
) -> None:
    path = write_blank_png(tmp_path / "huge.png", 20_000, 20_000)
    data = path.read_bytes()
    assert len(data) < 2_000_000  # 400 MB of pixels in a small file
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(FrameDecodeError) as info:
        decode_image(data, str(path), max_pixels=64_000_000)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert "20000x20000 = 400000000 pixels, more than source.max_pixels (64000000)" in str(info.value)
    assert str(info.value).startswith(str(path))
    assert grown_kib < 100_000  # never decoded: the frame would be 400 MB


def test_given_a_frame_within_max_pixels_when_decoded_then_it_is_read() -> None:
    ok, encoded = cv2.imencode(".png", np.zeros((30, 40), dtype=np.uint8))
    assert ok
    assert decode_image(encoded.tobytes(), "x.png", max_pixels=1200).shape == (30, 40)
    with pytest.raises(FrameDecodeError, match=r"more than source\.max_pixels"):
        decode_image(encoded.tobytes(), "x.png", max_pixels=1199)
