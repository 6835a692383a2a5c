"""decode_image: every file either decodes to its exact pixels or fails with a FrameDecodeError naming why."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edge_inspect.errors import FrameDecodeError
from edge_inspect.sources.decode import decode_image

LOSSLESS = (".png", ".bmp", ".tif")
ALL_FORMATS = (*LOSSLESS, ".jpg")
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def encode(image: np.ndarray, ext: str) -> bytes:
    ok, buffer = cv2.imencode(ext, image)
    assert ok, f"OpenCV could not write {ext}"
    return buffer.tobytes()


def gradient(height: int = 48, width: int = 64, channels: int = 1, dtype: type = np.uint8) -> np.ndarray:
    """A smooth image (JPEG keeps it close), scaled to the dtype's range."""
    y, x = np.mgrid[0:height, 0:width]
    base = (x * 3 + y * 2) / (3 * width + 2 * height)
    if channels == 3:
        base = np.stack([base, 1 - base, base / 2], axis=2)
    return (base * np.iinfo(dtype).max).astype(dtype)  # type: ignore[no-any-return,type-var]


@st.composite
def lossless_images(draw: st.DrawFn) -> tuple[np.ndarray, str]:
    ext = draw(st.sampled_from(LOSSLESS))
    dtype = np.uint8 if ext == ".bmp" else draw(st.sampled_from([np.uint8, np.uint16]))
    channels = draw(st.sampled_from([1, 3]))
    height, width = draw(st.integers(1, 40)), draw(st.integers(1, 40))
    shape = (height, width) if channels == 1 else (height, width, 3)
    seed = draw(st.integers(0, 2**32 - 1))
    top = np.iinfo(dtype).max  # type: ignore[type-var]
    image = np.random.default_rng(seed).integers(0, top, shape, dtype=dtype, endpoint=True)
    return image, ext


@PROPERTY
@given(lossless_images())
def test_lossless_images_round_trip_exactly(case: tuple[np.ndarray, str]) -> None:
    # Given an 8- or 16-bit, mono or colour image written as PNG, BMP or TIFF
    image, ext = case
    # When its bytes are decoded
    decoded = decode_image(encode(image, ext), f"frame{ext}")
    # Then the pixels, shape and bit depth are exactly the original's
    assert decoded.dtype == image.dtype
    assert decoded.shape == image.shape
    assert np.array_equal(decoded, image)


@pytest.mark.parametrize("channels", [1, 3])
def test_jpeg_decodes_to_8_bit_pixels_close_to_the_original(channels: int) -> None:
    image = gradient(channels=channels)
    decoded = decode_image(encode(image, ".jpg"), "frame.jpg")
    assert decoded.dtype == np.uint8
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image.astype(int)).mean() < 3


@PROPERTY
@given(st.binary(max_size=2048))
def test_random_bytes_raise_only_frame_decode_errors(data: bytes) -> None:
    # Given any bytes at all: decoding gives pixels or a FrameDecodeError naming the file, nothing else
    try:
        decode_image(data, "noise.bin")
    except FrameDecodeError as exc:
        message = str(exc)
    else:
        return
    assert message.startswith("noise.bin: ")


@PROPERTY
@given(st.sampled_from(ALL_FORMATS), st.sampled_from([1, 3]), st.floats(0.0, 1.0, exclude_max=True))
def test_truncated_files_never_yield_part_of_an_image(ext: str, channels: int, keep: float) -> None:
    # Given a valid file cut short anywhere
    image = gradient(channels=channels)
    data = encode(image, ext)
    cut = data[: int(len(data) * keep)]
    # When it is decoded, then it fails with a FrameDecodeError, and never with anything else
    with pytest.raises(FrameDecodeError):
        decode_image(cut, f"cut{ext}")


@pytest.mark.parametrize("ext", ALL_FORMATS)
@pytest.mark.parametrize("missing", [1, 2, 13])
def test_a_few_missing_bytes_at_the_end_are_reported_as_truncation(ext: str, missing: int) -> None:
    data = encode(gradient(channels=3), ext)
    with pytest.raises(FrameDecodeError, match=rf"^cut{ext}: truncated"):
        decode_image(data[:-missing], f"cut{ext}")


def test_an_empty_file_says_it_is_empty() -> None:
    with pytest.raises(FrameDecodeError, match=r"^empty\.png: empty file \(0 bytes\)$"):
        decode_image(b"", "empty.png")


def test_a_text_file_is_not_an_image() -> None:
    with pytest.raises(FrameDecodeError, match=r"^notes\.png: not a PNG, JPEG, BMP or TIFF image"):
        decode_image(b"these are not the pixels you are looking for", "notes.png")


def test_a_corrupt_png_data_block_is_refused() -> None:
    # Given a PNG whose compressed pixel data has one flipped byte (the chunk CRC no longer matches)
    data = bytearray(encode(gradient(), ".png"))
    idat = data.index(b"IDAT")
    data[idat + 10] ^= 0xFF
    # Then decoding fails, naming the format
    with pytest.raises(FrameDecodeError, match=r"^bad\.png: corrupt PNG data"):
        decode_image(bytes(data), "bad.png")


def test_floating_point_images_are_an_unsupported_bit_depth() -> None:
    data = encode(np.full((8, 8), 0.5, dtype=np.float32), ".tif")
    with pytest.raises(FrameDecodeError, match=r"^float\.tif: unsupported pixel type float32"):
        decode_image(data, "float.tif")


def test_an_alpha_channel_is_dropped_so_colour_frames_are_bgr() -> None:
    bgra = np.dstack([gradient(channels=3), np.full((48, 64), 7, dtype=np.uint8)])
    decoded = decode_image(encode(bgra, ".png"), "alpha.png")
    assert decoded.shape == (48, 64, 3)
    assert np.array_equal(decoded, bgra[:, :, :3])


def test_sixteen_bit_pixels_keep_their_full_range() -> None:
    image = gradient(dtype=np.uint16)
    decoded = decode_image(encode(image, ".png"), "deep.png")
    assert decoded.dtype == np.uint16
    assert decoded.max() == image.max() > 255
