"""Put per-tile output maps back together in original-frame pixels, so decisions speak in frame coordinates.

The inverse of :class:`~edge_inspect.preprocess.preprocessor.Preprocessor`'s geometry: upsample each tile's
map to its tile (the model's output stride), average where tiles overlap, cut off the padding, undo the
resize, and place the result where the crops took it from; everything outside the crop or ROI is 0.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from edge_inspect.errors import EngineOutputError
from edge_inspect.types import FloatArray, TileGeometry

_SEGMENTATION_NDIM = 4


def _resize_into(src: FloatArray, dst: FloatArray) -> None:
    """Bilinear-resize one (h, w) map into ``dst`` (a view into the result), without a temporary array."""
    if src.shape == dst.shape:
        dst[...] = src
        return
    written = cv2.resize(src, (dst.shape[1], dst.shape[0]), dst=dst, interpolation=cv2.INTER_LINEAR)
    if written is not dst:  # OpenCV allocated instead of writing in place: copy it over
        dst[...] = written


def _extent(geometry: TileGeometry) -> tuple[int, int]:
    """``(width, height)`` of the canvas holding every tile: the working image, or the padded one."""
    width = max([geometry.work_size[0], *(x + w for x, _, w, _ in geometry.boxes)])
    height = max([geometry.work_size[1], *(y + h for _, y, _, h in geometry.boxes)])
    return width, height


@lru_cache(maxsize=16)
def _inverse_coverage(geometry: TileGeometry) -> FloatArray:
    """1 / (number of tiles covering each pixel) over the working image; computed once per geometry."""
    width, height = _extent(geometry)
    count = np.zeros((height, width), dtype=np.float32)
    for x, y, w, h in geometry.boxes:
        count[y : y + h, x : x + w] += 1.0
    work_w, work_h = geometry.work_size
    covered = count[:work_h, :work_w]
    if not covered.all():
        msg = f"tiles {geometry.boxes} leave part of the {work_w}x{work_h} working image uncovered"
        raise EngineOutputError(msg)
    inverse = 1.0 / covered
    inverse.flags.writeable = False
    return inverse


def is_identity(geometry: TileGeometry, map_size: tuple[int, int]) -> bool:
    """True when stitching a ``(width, height)`` map changes nothing: one tile that is the whole frame,
    not cropped, resized or padded, and a map of the tile's own size (stride 1)."""
    whole = (0, 0, *geometry.frame_size)
    return (
        geometry.boxes == (whole,)
        and geometry.frame_box == whole
        and geometry.work_size == geometry.frame_size == map_size
    )


def stitch(outputs: FloatArray, geometry: TileGeometry) -> FloatArray:
    """Per-tile maps ``(N, C, h, w)`` -> one ``(C, frame_height, frame_width)`` float32 map.

    When the frame went through whole (:func:`is_identity`), the result is the one tile's map itself,
    not a copy. Raises :class:`EngineOutputError` when ``outputs`` does not have one map per tile.
    """
    if outputs.ndim != _SEGMENTATION_NDIM or outputs.shape[0] != len(geometry.boxes):
        msg = f"expected {len(geometry.boxes)} tile maps shaped (N, C, h, w), got shape {outputs.shape}"
        raise EngineOutputError(msg)
    outputs = np.asarray(outputs, dtype=np.float32)
    if is_identity(geometry, (outputs.shape[3], outputs.shape[2])):
        first: FloatArray = outputs[0]
        return first
    channels = outputs.shape[1]
    work_w, work_h = geometry.work_size
    if len(geometry.boxes) == 1 and geometry.boxes[0] == (0, 0, work_w, work_h):
        work = outputs[0]  # one tile is the whole working image: resize straight to the crop below
    else:
        width, height = _extent(geometry)
        canvas = np.zeros((channels, height, width), dtype=np.float32)
        for tile, (x, y, w, h) in zip(outputs, geometry.boxes, strict=True):
            if tile.shape[1:] == (h, w):
                canvas[:, y : y + h, x : x + w] += tile
                continue
            upsampled = np.empty((h, w), dtype=np.float32)
            for c in range(channels):
                _resize_into(tile[c], upsampled)
                canvas[c, y : y + h, x : x + w] += upsampled
        work = canvas[:, :work_h, :work_w]
        work *= _inverse_coverage(geometry)
    x, y, crop_w, crop_h = geometry.frame_box
    frame_w, frame_h = geometry.frame_size
    result = np.zeros((channels, frame_h, frame_w), dtype=np.float32)
    for c in range(channels):
        _resize_into(work[c], result[c, y : y + crop_h, x : x + crop_w])
    return result
