"""Turn frames into model input as the model manifest's InputSpec says, with everything constant precomputed.

Order: station ROI crop, the model's border crop, channel conversion, then ``resize`` to the input size
or ``tile`` (padding a working image smaller than the input), normalisation, layout and dtype.
Crops come first because they are free (views) and shrink every later step. A frame of more than
``PACK_ON_DEMAND_TILES`` tiles is not packed at once: its tiles are cut from the working image when the
engine asks for them (``Prepared.pack``), so its whole input (a float32 copy of the frame, four times
its 8-bit pixels) never exists.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_inspect.config.preprocess import Roi
from edge_inspect.errors import PreprocessError
from edge_inspect.model.manifest import InputSpec, pixel_input
from edge_inspect.preprocess import ops
from edge_inspect.preprocess.tiling import crop_box, tile_boxes
from edge_inspect.types import FloatArray, Frame, ImageArray, PackTiles, Prepared, TileGeometry

PACK_ON_DEMAND_TILES = 16
"""Frames of more tiles than this (4 MP and up at a 512 x 512 input) have their tiles cut on demand."""


def preprocess_input(spec: InputSpec, engine_dtype: str) -> InputSpec:
    """What the preprocessor must make for an engine whose input is ``engine_dtype``: the manifest's
    input, or 8-bit pixels where the engine normalises inside (a PreprocessError for anything else)."""
    if engine_dtype == spec.dtype:
        return spec
    if engine_dtype == "uint8":
        return pixel_input(spec)
    msg = f"the engine takes {engine_dtype} input, but the manifest's input {spec.name!r} is {spec.dtype}"
    raise PreprocessError(msg)


@dataclass(frozen=True, slots=True)
class FramePlan:
    """Everything about one frame size that does not depend on the pixels."""

    geometry: TileGeometry
    rows: slice
    cols: slice
    resize_to: tuple[int, int] | None
    pad_to: tuple[int, int] | None


class Preprocessor:
    """``Frame -> Prepared`` for one model input spec and station ROI; plans are cached per frame size."""

    def __init__(self, spec: InputSpec, roi: Roi | None = None, min_input_fraction: float = 0.0) -> None:
        if (spec.color_order == "gray") != (spec.channels == 1):
            msg = f"input spec: color_order {spec.color_order!r} does not fit channels={spec.channels}"
            raise PreprocessError(msg)
        if spec.dtype == "uint8" and (any(m != 0.0 for m in spec.mean) or any(s != 1.0 for s in spec.std)):
            msg = (
                f"input spec: a uint8 input takes pixels as they are, so mean {spec.mean} and std {spec.std} "
                "must be 0 and 1 (such a model normalises inside)"
            )
            raise PreprocessError(msg)
        self.spec = spec
        self._roi = None if roi is None else (roi.x, roi.y, roi.width, roi.height)
        self._min_fraction = min_input_fraction
        self._input_size = (spec.width, spec.height)
        self._dtype = np.dtype(spec.dtype)
        self._scales = {
            dtype: spec.scale if spec.scale is not None else ops.full_scale(dtype)
            for dtype in (np.dtype(np.uint8), np.dtype(np.uint16))
        }
        self._constants = {
            dtype: ops.normalisation(scale, spec.mean, spec.std, spec.channels)
            for dtype, scale in self._scales.items()
        }
        self._plans: dict[tuple[int, int], FramePlan] = {}

    def plan(self, frame_size: tuple[int, int]) -> FramePlan:
        """The crop, resize or padding and tiles for a ``(width, height)`` frame (computed once per size)."""
        plan = self._plans.get(frame_size)
        if plan is None:
            plan = self._make_plan(frame_size)
            self._plans[frame_size] = plan
        return plan

    def _make_plan(self, frame_size: tuple[int, int]) -> FramePlan:
        box = crop_box(frame_size, self._roi, self.spec.crop)
        x, y, crop_w, crop_h = box
        if crop_w < self.spec.width * self._min_fraction or crop_h < self.spec.height * self._min_fraction:
            msg = (
                f"the inspected area is {crop_w}x{crop_h} pixels, less than {self._min_fraction:g} of the "
                f"model's {self.spec.width}x{self.spec.height} input in width or height "
                "(preprocess.min_input_fraction): too small to inspect"
            )
            raise PreprocessError(msg)
        resize_to = pad_to = None
        if self.spec.fit == "resize":
            work_size = self._input_size
            boxes: tuple[tuple[int, int, int, int], ...] = ((0, 0, *self._input_size),)
            resize_to = None if (crop_w, crop_h) == work_size else work_size
        else:
            work_size = (crop_w, crop_h)
            boxes = tile_boxes(work_size, self._input_size, self.spec.tile_overlap)
            if crop_w < self.spec.width or crop_h < self.spec.height:
                pad_to = self._input_size
        geometry = TileGeometry(
            work_size=work_size,
            boxes=boxes,
            frame_box=box,
            scale=(crop_w / work_size[0], crop_h / work_size[1]),
            frame_size=frame_size,
        )
        return FramePlan(geometry, slice(y, y + crop_h), slice(x, x + crop_w), resize_to, pad_to)

    def prepare(self, image: ImageArray) -> tuple[npt.NDArray[Any], TileGeometry]:
        """Pixels -> (tensor of N tiles, their geometry); a misfit image is a :class:`PreprocessError`."""
        pack, geometry = self._packer(image)
        return pack(0, len(geometry.boxes)), geometry

    def _packer(self, image: ImageArray) -> tuple[PackTiles, TileGeometry]:
        """The working image of ``image`` (crops are views), and a function that packs any run of its
        tiles into model input."""
        image = ops.as_frame_image(image)
        plan = self.plan((image.shape[1], image.shape[0]))
        work = ops.convert_color(image[plan.rows, plan.cols], self.spec.color_order)
        if plan.resize_to is not None:
            work = ops.resize(work, plan.resize_to)
        if plan.pad_to is not None:
            work = ops.pad_to(work, plan.pad_to)
        boxes, layout, dtype = plan.geometry.boxes, self.spec.layout, self._dtype
        if dtype == np.uint8:
            work = ops.to_uint8(work, self._scales[image.dtype])
            constants = None
        else:
            constants = self._constants[image.dtype]

        spec = self.spec
        empty = (
            (0, spec.height, spec.width, spec.channels)
            if layout == "NHWC"
            else (0, spec.channels, spec.height, spec.width)
        )

        def pack(first: int, count: int) -> npt.NDArray[Any]:
            chosen = boxes[first : first + count]
            return (
                ops.pack_tiles(work, chosen, layout, dtype, constants) if chosen else np.empty(empty, dtype)
            )

        return pack, plan.geometry

    def denormalise(self, tensor: npt.NDArray[Any], dtype: np.dtype[Any]) -> FloatArray:
        """Undo normalisation and layout: model input back to ``pixel / scale`` as (N, C, h, w) float32.

        For checks and overlays: a tensor fed through :func:`~edge_inspect.preprocess.stitch.stitch` this
        way gives back the inspected part of the frame.
        """
        values = tensor.astype(np.float32)
        if self.spec.layout == "NHWC":
            values = values.transpose(0, 3, 1, 2)
        if self._dtype == np.uint8:
            return np.ascontiguousarray(values / np.float32(255.0))
        gain, offset = (c.reshape(-1, 1, 1) for c in self._constants[np.dtype(dtype)])
        scale = np.float32(self._scales[np.dtype(dtype)])
        return np.ascontiguousarray((values - offset) / gain / scale)

    def __call__(self, frame: Frame) -> Prepared:
        """Preprocess one frame; a frame without pixels (a source error) is a :class:`PreprocessError`."""
        if frame.image is None:
            msg = f"frame {frame.seq} from {frame.camera}: no image to preprocess ({frame.error})"
            raise PreprocessError(msg)
        started = time.perf_counter()
        try:
            pack, geometry = self._packer(frame.image)
            tiles = len(geometry.boxes)
            on_demand = tiles > PACK_ON_DEMAND_TILES
            tensor = pack(0, 0 if on_demand else tiles)
        except PreprocessError as exc:
            where = frame.source.path or frame.source.device or frame.camera
            msg = f"frame {frame.seq} ({where}): {exc}"
            raise PreprocessError(msg) from None
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        return Prepared(frame, tensor, geometry, elapsed_ms, pack if on_demand else None)
