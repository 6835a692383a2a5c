"""Pure pixel operations of preprocessing: channel conversion, resize, padding, normalisation, packing.

Each works on whole images or tiles with vectorised numpy or OpenCV calls (no Python loop over pixels),
takes its constants from the caller (the model manifest), and never looks at pixel values to decide anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import cv2
import numpy as np
import numpy.typing as npt

from edge_inspect.errors import PreprocessError
from edge_inspect.types import FloatArray, ImageArray

ColorOrder = Literal["gray", "rgb", "bgr"]
Layout = Literal["NCHW", "NHWC"]

_FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}
_MONO = 1
_COLOR = 3

_TO_MODEL_ORDER: dict[tuple[int, ColorOrder], int | None] = {
    (_MONO, "gray"): None,
    (_COLOR, "gray"): cv2.COLOR_BGR2GRAY,
    (_MONO, "bgr"): cv2.COLOR_GRAY2BGR,
    (_COLOR, "bgr"): None,
    (_MONO, "rgb"): cv2.COLOR_GRAY2RGB,
    (_COLOR, "rgb"): cv2.COLOR_BGR2RGB,
}
"""(frame channels, model order) -> the OpenCV conversion; frames are mono or BGR (see types.Frame)."""


def full_scale(dtype: np.dtype[Any]) -> float:
    """The divisor that maps a pixel type's full range to 0..1: 255 for uint8, 65535 for uint16."""
    try:
        return _FULL_SCALE[np.dtype(dtype)]
    except KeyError:
        msg = f"expected uint8 or uint16 pixels, got {np.dtype(dtype)}"
        raise PreprocessError(msg) from None


def as_frame_image(image: ImageArray) -> ImageArray:
    """Check a frame's pixels are mono (HxW) or BGR (HxWx3) uint8/uint16; HxWx1 becomes HxW."""
    full_scale(image.dtype)
    if image.ndim == 3 and image.shape[2] == _MONO:
        return image[:, :, 0]
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == _COLOR):
        return image
    msg = f"expected a mono (HxW) or BGR (HxWx3) image, got shape {image.shape}"
    raise PreprocessError(msg)


def convert_color(image: ImageArray, color_order: ColorOrder) -> ImageArray:
    """Mono or BGR pixels in the model's channel order; the image itself when it already is."""
    channels = 1 if image.ndim == 2 else image.shape[2]
    try:
        code = _TO_MODEL_ORDER[(channels, color_order)]
    except KeyError:
        msg = f"cannot convert a {channels}-channel image to color_order {color_order!r}"
        raise PreprocessError(msg) from None
    return image if code is None else cv2.cvtColor(image, code)


def resize(image: ImageArray, size: tuple[int, int]) -> ImageArray:
    """Resize to ``(width, height)``: area averaging when shrinking both sides (no aliasing), else linear."""
    height, width = image.shape[:2]
    shrink = size[0] <= width and size[1] <= height
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def pad_to(image: ImageArray, size: tuple[int, int]) -> ImageArray:
    """Grow to at least ``(width, height)`` by mirroring at the right and bottom edges (no new edge there).

    Mirroring (reflect-101: ``abc|ba``) keeps the texture statistics a model saw in training; a constant
    border would look like a defect. The padded part is cut off again when outputs are stitched.
    """
    height, width = image.shape[:2]
    right, bottom = max(size[0] - width, 0), max(size[1] - height, 0)
    if right == 0 and bottom == 0:
        return image
    return cv2.copyMakeBorder(image, 0, bottom, 0, right, cv2.BORDER_REFLECT_101)


def normalisation(
    scale: float, mean: Sequence[float], std: Sequence[float], channels: int
) -> tuple[FloatArray, FloatArray]:
    """Per-channel ``(gain, offset)`` with ``(x / scale - mean) / std == x * gain + offset``."""
    mean_a = np.broadcast_to(np.asarray(mean, dtype=np.float64), (channels,))
    std_a = np.broadcast_to(np.asarray(std, dtype=np.float64), (channels,))
    gain = (1.0 / (scale * std_a)).astype(np.float32)
    offset = (-mean_a / std_a).astype(np.float32)
    return gain, offset


def to_uint8(image: ImageArray, scale: float) -> ImageArray:
    """Pixels mapped to 0..255 for a model that takes uint8 and normalises inside: ``x * 255 / scale``."""
    if image.dtype == np.uint8 and scale == _FULL_SCALE[np.dtype(np.uint8)]:
        return image
    return cv2.convertScaleAbs(image, alpha=255.0 / scale)


def _fill(dst: npt.NDArray[Any], src: ImageArray, gain: Any, offset: Any) -> None:
    """``dst[...] = src * gain + offset`` written straight into ``dst`` (a slot of the tensor)."""
    if gain is None:
        np.copyto(dst, src, casting="unsafe")
    elif dst.dtype == np.float32:
        np.multiply(src, gain, out=dst)
        np.add(dst, offset, out=dst)
    else:  # float16: compute in float32, round once
        np.copyto(dst, src * gain + offset, casting="same_kind")


def pack_tiles(
    work: ImageArray,
    boxes: Sequence[tuple[int, int, int, int]],
    layout: Layout,
    dtype: np.dtype[Any],
    normalise: tuple[FloatArray, FloatArray] | None = None,
) -> npt.NDArray[Any]:
    """Cut ``boxes`` out of the working image into one ``(N, C, h, w)`` or ``(N, h, w, C)`` tensor.

    With ``normalise = (gain, offset)`` (per channel) each value becomes ``x * gain + offset`` as it is
    written: the pixels are read once and the tensor written once, with no full-frame float copy between.
    """
    hwc = work if work.ndim == 3 else work[:, :, None]
    channels = hwc.shape[2]
    gain, offset = normalise if normalise is not None else (None, None)
    _, _, tile_w, tile_h = boxes[0]
    if layout == "NHWC":
        # Rows of w * C values: numpy loops over long rows, not over 3-element pixels.
        out = np.empty((len(boxes), tile_h, tile_w, channels), dtype=dtype)
        row_gain = None if gain is None else np.tile(gain, tile_w)
        row_offset = None if offset is None else np.tile(offset, tile_w)
        for i, (x, y, w, h) in enumerate(boxes):
            rows = hwc[y : y + h, x : x + w].reshape(h, w * channels)
            _fill(out[i].reshape(h, w * channels), rows, row_gain, row_offset)
        return out
    out = np.empty((len(boxes), channels, tile_h, tile_w), dtype=dtype)
    planes = [hwc[:, :, 0]] if channels == _MONO else cv2.split(hwc)  # contiguous rows for each plane
    for i, (x, y, w, h) in enumerate(boxes):
        for c, plane in enumerate(planes):
            plane_gain = None if gain is None else gain[c]
            plane_offset = None if offset is None else offset[c]
            _fill(out[i, c], plane[y : y + h, x : x + w], plane_gain, plane_offset)
    return out
