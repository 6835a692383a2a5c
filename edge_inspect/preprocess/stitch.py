"""Put per-tile output maps back together in original-frame pixels, so decisions speak in frame coordinates.

The inverse of :class:`~edge_inspect.preprocess.preprocessor.Preprocessor`'s geometry: upsample each tile's
map to its tile (the model's output stride), average where tiles overlap, cut off the padding, undo the
resize, and place the result where the crops took it from; everything outside the crop or ROI is 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from edge_inspect.errors import EngineOutputError
from edge_inspect.types import FloatArray, TileGeometry

_SEGMENTATION_NDIM = 4
DECISION_MAX_PIXELS = 1 << 24
"""Largest map decided at frame resolution (16.8 MP: 64 MiB of float32 per class). A larger frame (a
line-scan camera's) is decided on a map scaled down to this many pixels, and its defects are scaled back
to frame pixels: the model saw the frame at its input size, so a finer map adds interpolation, not
information, and a float map of a 400 MP frame would take 1.6 GB per class."""


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


def map_size(frame_size: tuple[int, int], max_pixels: int = DECISION_MAX_PIXELS) -> tuple[int, int]:
    """``(width, height)`` of the map a frame is decided on: the frame's, or scaled down to ``max_pixels``
    (the aspect kept)."""
    width, height = frame_size
    if width * height <= max_pixels:
        return width, height
    factor = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * factor)), max(1, math.floor(height * factor))


def stitch_bounded(
    outputs: FloatArray,
    geometry: TileGeometry,
    max_pixels: int = DECISION_MAX_PIXELS,
    activate: Callable[[FloatArray], FloatArray] | None = None,
) -> tuple[FloatArray, tuple[float, float]]:
    """:func:`stitch` onto a map of at most ``max_pixels``; also returns ``(sx, sy)``, frame pixels per
    map pixel (1.0 unless the frame is larger than that).

    ``activate`` maps raw ``(N, C, h, w)`` outputs to probabilities; on a frame beyond the bound it is
    applied tile by tile, so no probability array of all the tiles is made next to the raw one."""
    size = map_size(geometry.frame_size, max_pixels)
    if size == geometry.frame_size:
        return stitch(outputs if activate is None else activate(outputs), geometry), (1.0, 1.0)
    _check_tiles(outputs, geometry)
    stitcher = ScaledStitcher(geometry, size, activate)
    for index in range(outputs.shape[0]):
        stitcher.add(outputs[index : index + 1])
    return stitcher.result(), stitcher.scale


def _check_tiles(outputs: FloatArray, geometry: TileGeometry) -> None:
    """EngineOutputError unless ``outputs`` holds one ``(C, h, w)`` map per tile of ``geometry``."""
    if outputs.ndim != _SEGMENTATION_NDIM or outputs.shape[0] != len(geometry.boxes):
        msg = f"expected {len(geometry.boxes)} tile maps shaped (N, C, h, w), got shape {outputs.shape}"
        raise EngineOutputError(msg)


def stitch(outputs: FloatArray, geometry: TileGeometry) -> FloatArray:
    """Per-tile maps ``(N, C, h, w)`` -> one ``(C, frame_height, frame_width)`` float32 map.

    When the frame went through whole (:func:`is_identity`), the result is the one tile's map itself,
    not a copy. Raises :class:`EngineOutputError` when ``outputs`` does not have one map per tile.
    """
    _check_tiles(outputs, geometry)
    outputs = np.asarray(outputs, dtype=np.float32)
    if is_identity(geometry, (outputs.shape[3], outputs.shape[2])):
        first: FloatArray = outputs[0]
        return first
    if len(geometry.boxes) == 1 and geometry.boxes[0] == (0, 0, *geometry.work_size):
        return _place(outputs[0], geometry)  # one tile is the whole working image: no canvas needed
    stitcher = Stitcher(geometry)
    stitcher.add(outputs)
    return stitcher.result()


Activate = Callable[[FloatArray], FloatArray]
"""Raw ``(n, C, h, w)`` tile outputs -> probabilities of the same shape."""


class Stitcher:
    """:func:`stitch` fed tile by tile, in tile order: ``add`` some rows at a time, then ``result``.

    What it holds is the frame's map being built (the working image's canvas and the frame-sized map),
    never the raw outputs of more than the rows just added: a frame of many tiles is stitched as its
    tiles come off the engine. ``activate``, when given, is applied to each batch of rows as it comes.
    """

    def __init__(self, geometry: TileGeometry, activate: Activate | None = None) -> None:
        self.geometry = geometry
        self.scale = (1.0, 1.0)
        """Frame pixels per map pixel, ``(sx, sy)``: 1 here, more on a :class:`ScaledStitcher`."""
        self._activate = activate
        self._next = 0
        self._canvas: FloatArray | None = None

    @property
    def complete(self) -> bool:
        return self._next == len(self.geometry.boxes)

    def add(self, rows: FloatArray) -> None:
        """The next ``n`` tiles' maps ``(n, C, h, w)`` (raw when ``activate`` was given)."""
        tiles, boxes = self._take(rows)
        if self._canvas is None:
            width, height = _extent(self.geometry)
            self._canvas = np.zeros((tiles.shape[1], height, width), dtype=np.float32)
        canvas = self._canvas
        for tile, (x, y, w, h) in zip(tiles, boxes, strict=True):
            if tile.shape[1:] == (h, w):
                canvas[:, y : y + h, x : x + w] += tile
                continue
            upsampled = np.empty((h, w), dtype=np.float32)
            for c in range(canvas.shape[0]):
                _resize_into(tile[c], upsampled)
                canvas[c, y : y + h, x : x + w] += upsampled

    def result(self) -> FloatArray:
        """The ``(C, frame_height, frame_width)`` map; EngineOutputError unless every tile was added."""
        canvas = self._complete(self._canvas)
        self._canvas = None
        work_w, work_h = self.geometry.work_size
        work = canvas[:, :work_h, :work_w]
        work *= _inverse_coverage(self.geometry)
        return _place(work, self.geometry)

    def _take(self, rows: FloatArray) -> tuple[FloatArray, tuple[tuple[int, int, int, int], ...]]:
        """``rows`` checked against the tiles still to come and activated, with their boxes; the cursor
        moved past them."""
        if rows.ndim != _SEGMENTATION_NDIM or rows.shape[0] > len(self.geometry.boxes) - self._next:
            msg = (
                f"expected at most {len(self.geometry.boxes) - self._next} more tile maps shaped "
                f"(n, C, h, w), got shape {rows.shape}"
            )
            raise EngineOutputError(msg)
        boxes = self.geometry.boxes[self._next : self._next + rows.shape[0]]
        self._next += rows.shape[0]
        tiles = rows if self._activate is None else self._activate(rows)
        return np.asarray(tiles, dtype=np.float32), boxes

    def _complete(self, built: FloatArray | None) -> FloatArray:
        """``built`` once every tile was added, else EngineOutputError."""
        if not self.complete or built is None:
            msg = f"{self._next} of {len(self.geometry.boxes)} tile maps were stitched"
            raise EngineOutputError(msg)
        return built


def _place(work: FloatArray, geometry: TileGeometry) -> FloatArray:
    """The working image's ``(C, h, w)`` map put where the crops took it from, on a ``(C, frame_height,
    frame_width)`` map (0 elsewhere); undoes the resize."""
    x, y, crop_w, crop_h = geometry.frame_box
    frame_w, frame_h = geometry.frame_size
    if (x, y, crop_w, crop_h) == (0, 0, frame_w, frame_h) and work.shape[1:] == (frame_h, frame_w):
        return np.ascontiguousarray(work)
    result = np.zeros((work.shape[0], frame_h, frame_w), dtype=np.float32)
    for c in range(work.shape[0]):
        _resize_into(work[c], result[c, y : y + crop_h, x : x + crop_w])
    return result


class ScaledStitcher(Stitcher):
    """:class:`Stitcher` onto a map of ``size`` (smaller than the frame): each tile is resized to where it
    lands on that map, so no array of the frame's own size is ever made."""

    def __init__(
        self, geometry: TileGeometry, size: tuple[int, int], activate: Activate | None = None
    ) -> None:
        super().__init__(geometry, activate)
        self.size = size
        frame_w, frame_h = geometry.frame_size
        self.scale = (frame_w / size[0], frame_h / size[1])
        self._result: FloatArray | None = None
        # tiles over each map pixel: 8 bits when no pixel can lie under more than 255 (half the memory)
        self._coverage = np.zeros((size[1], size[0]), dtype=_count_dtype(geometry))

    def add(self, rows: FloatArray) -> None:
        tiles, boxes = self._take(rows)
        geometry = self.geometry
        out_w, out_h = self.size
        frame_w, frame_h = geometry.frame_size
        x, y, crop_w, crop_h = geometry.frame_box
        work_w, work_h = geometry.work_size
        if self._result is None:
            self._result = np.zeros((tiles.shape[1], out_h, out_w), dtype=np.float32)
        result, coverage = self._result, self._coverage
        # work pixel -> frame pixel -> map pixel, per axis: offset + position * factor
        fx, fy = crop_w / work_w * out_w / frame_w, crop_h / work_h * out_h / frame_h
        ox, oy = x * out_w / frame_w, y * out_h / frame_h
        for tile, (tx, ty, tw, th) in zip(tiles, boxes, strict=True):
            # the part of the tile inside the working image (padding beyond it is cut off)
            vw, vh = min(tw, work_w - tx), min(th, work_h - ty)
            if vw <= 0 or vh <= 0:
                continue
            x0, y0 = math.floor(ox + tx * fx), math.floor(oy + ty * fy)
            x1 = min(out_w, max(x0 + 1, math.ceil(ox + (tx + vw) * fx)))
            y1 = min(out_h, max(y0 + 1, math.ceil(oy + (ty + vh) * fy)))
            if x1 <= x0 or y1 <= y0:
                continue
            # the tile's map covers (tw, th) work pixels at its own stride; keep the part inside the image
            map_h, map_w = tile.shape[1:]
            keep_w, keep_h = max(1, round(map_w * vw / tw)), max(1, round(map_h * vh / th))
            placed = np.empty((y1 - y0, x1 - x0), dtype=np.float32)
            for c in range(result.shape[0]):
                _resize_into(np.ascontiguousarray(tile[c, :keep_h, :keep_w]), placed)
                result[c, y0:y1, x0:x1] += placed
            coverage[y0:y1, x0:x1] += 1

    def result(self) -> FloatArray:
        result = self._complete(self._result)
        self._result = None
        np.maximum(self._coverage, 1, out=self._coverage)
        result /= self._coverage
        return result


def _count_dtype(geometry: TileGeometry) -> type[np.unsignedinteger[Any]]:
    """The narrowest unsigned type that counts the tiles over any pixel: no more than lie over one
    column, which the tiles' x ranges bound."""
    edges = sorted([(x, 1) for x, _, _, _ in geometry.boxes] + [(x + w, -1) for x, _, w, _ in geometry.boxes])
    most = max(itertools.accumulate(step for _, step in edges))
    for dtype in (np.uint8, np.uint16):
        if most <= np.iinfo(dtype).max:
            return dtype
    return np.uint32


def stitcher_for(geometry: TileGeometry, activate: Activate | None = None) -> Stitcher:
    """The stitcher of a frame: onto the frame's own pixels, or a scaled map beyond DECISION_MAX_PIXELS."""
    size = map_size(geometry.frame_size)
    if size == geometry.frame_size:
        return Stitcher(geometry, activate)
    return ScaledStitcher(geometry, size, activate)
