"""The data that flows between stages, and the Protocols each stage implements.

Data flows one way: FrameSource -> Preprocessor -> Engine -> decide -> ResultSink.
Every record here is a frozen dataclass; every stage is known to the runtime only by its Protocol.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

ImageArray = npt.NDArray[Any]
"""A frame's pixels: HxW (mono) or HxWxC (colour, BGR order), uint8 or uint16."""

FloatArray = npt.NDArray[np.float32]

ThreadPolicy = Literal["default", "batch"]
"""Scheduling policy of the daemon's own per-frame threads (``runtime.scheduling``, runtime/sched.py)."""


class Verdict(str, enum.Enum):
    """The outcome of inspecting one frame."""

    PASS = "PASS"  # noqa: S105 (a verdict, not a password)
    NG = "NG"
    ERROR = "ERROR"


class SourceState(str, enum.Enum):
    """Connection state of a frame source (a camera, or a replay)."""

    STARTING = "starting"
    ONLINE = "online"
    RECONNECTING = "reconnecting"
    OFFLINE = "offline"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """Where a frame came from: a replayed file (``path``) or a camera (``device``)."""

    kind: str
    path: str | None = None
    index: int | None = None
    device: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PartTag:
    """The part a frame was taken for: the station's part number (in trigger order), its id, the shot."""

    seq: int
    part_id: str
    shot: int = 1
    """This camera's shot of the part, from 1."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One grabbed image. A frame that failed at the source carries ``error`` and no ``image``."""

    seq: int
    camera: str
    captured_at: float
    """Wall-clock capture time, seconds since the epoch (UTC)."""
    monotonic: float
    """``time.monotonic()`` at capture, for latency."""
    source: SourceInfo
    image: ImageArray | None
    ground_truth: npt.NDArray[np.uint8] | None = None
    """Optional ground-truth mask (HxW, non-zero = defect) for replayed data sets."""
    error: str | None = None
    part: PartTag | None = None
    """The part this frame was taken for (triggered parts); None when every frame is a part of its own."""


@dataclass(frozen=True, slots=True)
class TileGeometry:
    """Where each model-input tile sits in the (cropped, resized) frame, for stitching outputs back.

    ``boxes[i] = (x, y, w, h)`` in the coordinates of the working image, whose size is ``work_size``
    (width, height). ``frame_box = (x, y, w, h)`` is the part of the original frame the working image
    covers (after ROI / border crop); ``scale = (sx, sy)`` maps working-image pixels to frame pixels.
    """

    work_size: tuple[int, int]
    boxes: tuple[tuple[int, int, int, int], ...]
    frame_box: tuple[int, int, int, int]
    scale: tuple[float, float]
    frame_size: tuple[int, int]


PackTiles = Callable[[int, int], npt.NDArray[Any]]
"""``(first, count)`` -> those tiles of a frame as model input, cut from its pixels when asked."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A frame turned into model input: N tiles in the engine's layout and dtype, one per box of
    ``geometry``. Either packed (``tensor``), or, for a frame of many tiles, cut when asked (``pack``,
    with an empty ``tensor``), so that its whole input never exists at once: read them with
    :meth:`rows`."""

    frame: Frame
    tensor: npt.NDArray[Any]
    geometry: TileGeometry
    preprocess_ms: float
    pack: PackTiles | None = None

    @property
    def tiles(self) -> int:
        return len(self.geometry.boxes)

    def rows(self, first: int = 0, count: int | None = None) -> npt.NDArray[Any]:
        """Tiles ``first .. first + count`` (all by default) as model input."""
        count = self.tiles - first if count is None else count
        if self.pack is None:
            return self.tensor[first : first + count]
        return self.pack(first, count)


@dataclass(frozen=True, slots=True)
class Inferred:
    """Raw engine output for one frame: ``outputs`` has one row per tile (N, C, h, w) or (N, C)."""

    prepared: Prepared
    outputs: FloatArray
    infer_ms: float


@dataclass(frozen=True, slots=True)
class Defect:
    """One connected defect region, in original-frame pixel coordinates."""

    class_name: str
    area_px: int
    bbox: tuple[int, int, int, int]
    """(x, y, w, h)"""
    centroid: tuple[float, float]
    """(x, y)"""
    max_score: float
    mean_score: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The pure outcome of the decision rules on one frame."""

    verdict: Verdict
    defects: tuple[Defect, ...]
    score: float | None = None
    """Image-level score: the classifier's score, or the maximum defect probability."""
    reasons: tuple[str, ...] = ()
    """Which rules made the verdict NG (e.g. ``count 2 > max 0``)."""
    masks: npt.NDArray[np.uint8] | None = None
    """Per-pixel class map in frame coordinates (0 = background), kept for evaluation and overlays."""


@dataclass(frozen=True, slots=True)
class ModelIdentity:
    name: str
    version: str
    sha256: str
    variant: str


@dataclass(frozen=True, slots=True)
class InspectionResult:
    """Everything published for one frame."""

    result_id: str
    seq: int
    station: str
    camera: str
    captured_at: float
    verdict: Verdict
    decision: Decision | None
    source: SourceInfo
    model: ModelIdentity
    thresholds: Mapping[str, float]
    recipe_hash: str
    timings_ms: Mapping[str, float]
    error: str | None = None
    image_path: str | None = None
    frame_size: tuple[int, int] | None = None
    """``(width, height)`` of the frame in pixels; None when it had none (a source error)."""
    resent: bool = False
    """Sent again from the durable outbox: it may have been delivered before (deduplicate on result_id)."""
    expected: Verdict | None = None
    """Ground-truth verdict of a replayed frame with a mask (any defect pixel -> NG); None otherwise."""
    part: PartTag | None = None
    """The part the frame was taken for (its ``part_id`` is published); None: a part of its own."""


# ---------------------------------------------------------------------------------------------- protocols

EngineCallback = Callable[[FloatArray | None, BaseException | None], None]
"""Called once per submitted frame with (outputs, None) or (None, error), from an engine thread."""


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One model input or output: name, shape (NCHW or NHWC), dtype name."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    layout: str = "NCHW"


@runtime_checkable
class FrameSource(Protocol):
    """A plug-in that yields frames. ``frames()`` blocks, and ends when the source is exhausted or stopped."""

    def open(self) -> None: ...

    def frames(self) -> Iterator[Frame]: ...

    def stop(self) -> None:
        """Ask ``frames()`` to end soon; safe to call from another thread."""

    def close(self) -> None: ...


class Pending(Protocol):
    """One frame's inference in flight, from :meth:`Engine.start`: wait for its outputs, use, release.

    The outputs may live in the engine's own memory (an infer request's output buffer): they are valid
    from ``wait`` until ``release``, and the engine reuses that memory only once it is released.
    """

    def done(self) -> bool:
        """Whether ``wait`` would return at once (the outputs, or the inference's failure)."""

    def wait(self, timeout: float | None = None) -> FloatArray | None:
        """The frame's outputs (N rows), or None when they are not ready within ``timeout`` seconds.

        Blocks without the GIL. Raises EngineError when the inference failed (the frame has no outputs).
        """

    def release(self) -> None:
        """Done with the outputs, or giving the frame up (an engine restart): the engine may reuse their
        memory. Never blocks; a second call does nothing."""


class TileFold(Protocol):
    """One frame's decision built as its tiles' outputs come off the engine, a few rows at a time, so
    the raw outputs of the whole frame never exist at once (a frame of many tiles: a line-scan frame)."""

    def add(self, rows: FloatArray) -> None:
        """The next tiles' raw outputs, in tile order (n rows). Raises EngineOutputError on a misfit."""

    def decide(self) -> Decision:
        """The frame's decision once every tile was added (EngineOutputError before)."""


class Finish(Protocol):
    """Raw engine output of a frame's tiles -> Decision (EngineOutputError on NaN, Inf or a wrong shape)."""

    def __call__(self, prepared: Prepared, outputs: FloatArray) -> Decision: ...

    def fold(self, prepared: Prepared) -> TileFold | None:
        """A :class:`TileFold` for a frame to be decided tile by tile as its outputs come, or None: all
        its tiles' outputs at once, through ``__call__``."""


@runtime_checkable
class Engine(Protocol):
    """An inference backend. ``submit`` may block while every infer request is busy (back-pressure)."""

    @property
    def input_spec(self) -> TensorSpec: ...

    @property
    def output_spec(self) -> TensorSpec: ...

    def infer(self, tensor: npt.NDArray[Any]) -> FloatArray:
        """Run N tiles synchronously; return outputs with N rows."""

    def submit(self, tensor: npt.NDArray[Any], callback: EngineCallback) -> None:
        """Run N tiles asynchronously; ``callback`` gets all N rows together (a copy, on an engine thread)."""

    def start(self, tensor: npt.NDArray[Any]) -> Pending:
        """Run N tiles asynchronously; the caller waits for the rows on :class:`Pending` (the pull path:
        nothing of the caller's runs on the engine's threads). Blocks while every request is busy or held.
        """

    def wait_all(self) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class ResultSink(Protocol):
    """Receives every result. A sink's failure is logged by the runtime and never stops the pipeline."""

    name: str

    def handle(self, result: InspectionResult) -> None: ...

    def close(self) -> None: ...


@runtime_checkable
class TriggeredSource(Protocol):
    """A source the station fires once per part (a software trigger): one frame per :meth:`fire`."""

    @property
    def software_triggered(self) -> bool:
        """Whether this source waits for :meth:`fire` (else it delivers on its own, matched in order)."""

    def fire(self) -> None:
        """One trigger: the source takes one frame soon (thread-safe, never blocks)."""


class PartTagger(Protocol):
    """Ties each grabbed frame to its part (``part.trigger`` other than ``free``), on the source threads."""

    def tag(self, frame: Frame) -> Frame:
        """``frame`` with the part it was taken for (the camera's oldest trigger not yet served)."""

    def dropped(self, frame: Frame) -> None:
        """A tagged frame was dropped from a full queue: its part cannot complete."""


class StatusListener(Protocol):
    """Told of source state changes (camera online / reconnecting / offline)."""

    def source_state(self, camera: str, state: SourceState, reason: str | None = None) -> None: ...
