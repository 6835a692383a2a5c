"""Geometry of preprocessing, pure integers: which part of a frame is inspected and where each tile sits.

Boxes are ``(x, y, width, height)`` in pixels, as everywhere in the project.
"""

from __future__ import annotations

from edge_inspect.errors import PreprocessError
from edge_inspect.model.manifest import Crop

Box = tuple[int, int, int, int]


def crop_box(frame_size: tuple[int, int], roi: Box | None, crop: Crop) -> Box:
    """The inspected part of a ``(width, height)`` frame: the station ROI, then the model's border crop.

    Raises :class:`PreprocessError` when the ROI leaves the frame or the crop leaves nothing.
    """
    frame_w, frame_h = frame_size
    x, y, w, h = roi if roi is not None else (0, 0, frame_w, frame_h)
    if x + w > frame_w or y + h > frame_h:
        msg = (
            f"preprocess.roi (x={x}, y={y}, width={w}, height={h}) lies outside the {frame_w}x{frame_h} frame"
        )
        raise PreprocessError(msg)
    inner_w = w - crop.left - crop.right
    inner_h = h - crop.top - crop.bottom
    if inner_w <= 0 or inner_h <= 0:
        where = "ROI" if roi is not None else "frame"
        msg = (
            f"the model's crop (top={crop.top}, bottom={crop.bottom}, left={crop.left}, right={crop.right}) "
            f"leaves nothing of the {w}x{h} {where}"
        )
        raise PreprocessError(msg)
    return x + crop.left, y + crop.top, inner_w, inner_h


def tile_starts(length: int, tile: int, overlap: int) -> tuple[int, ...]:
    """Where tiles of ``tile`` pixels start along a side of ``length``, neighbours sharing >= ``overlap``.

    Tiles step by ``tile - overlap``; the last one is moved back to end flush with the edge, so it may
    overlap its neighbour more. A side no longer than one tile has one tile at 0 (padded when shorter).
    """
    if tile <= overlap:
        msg = f"tile_overlap {overlap} must be smaller than the tile size {tile}"
        raise PreprocessError(msg)
    if length <= tile:
        return (0,)
    step = tile - overlap
    count = -(-(length - tile) // step) + 1  # ceil division: enough steps to reach the far edge
    return tuple(min(i * step, length - tile) for i in range(count))


def tile_boxes(work_size: tuple[int, int], tile_size: tuple[int, int], overlap: int) -> tuple[Box, ...]:
    """Input-sized tiles covering a ``(width, height)`` working image, row by row (row-major)."""
    work_w, work_h = work_size
    tile_w, tile_h = tile_size
    xs = tile_starts(work_w, tile_w, overlap)
    ys = tile_starts(work_h, tile_h, overlap)
    return tuple((x, y, tile_w, tile_h) for y in ys for x in xs)
