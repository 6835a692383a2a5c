"""Save the frames worth keeping (NG, ERROR with pixels, every Nth PASS): the original and an overlay.

The saver wraps the pipeline's result factory, the one place that holds both the frame's pixels and its
result, so the image path is in the result before any sink (MQTT) sees it. Nothing is written on that
thread: the frame is handed to a writer thread through a small bounded queue and the result gets the
path the file will have. Only frames that will be saved keep their pixels past the decision; a PASS
frame costs a counter. When the queue is full (the disk is slower than the line), the frame is not
saved, the result carries no path, and ``images.dropped`` counts it: inspection never waits for the disk.

Files appear atomically (written as ``*.part``, then renamed), in one folder per UTC day::

    <dir>/20250131/20250131T081502123Z_cam-1_000042_NG_<result_id>.png          the original, lossless
    <dir>/20250131/20250131T081502123Z_cam-1_000042_NG_<result_id>.overlay.jpg  contours, boxes, labels
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import cv2
import structlog

from edge_inspect.config.images import ImagesConfig
from edge_inspect.errors import ConfigError
from edge_inspect.runtime.queues import Closed, StageQueue
from edge_inspect.runtime.stats import Stats
from edge_inspect.sinks.overlay import Bgr8, render_overlay, to_bgr8
from edge_inspect.sinks.retention import (
    PARTIAL_SUFFIX,
    RetentionIndex,
    RetentionLimits,
    SavedFrame,
    frame_key,
    scan,
)
from edge_inspect.types import Decision, Frame, ImageArray, InspectionResult, Verdict

log = structlog.get_logger(__name__)

ResultFactory = Callable[[Frame, Decision | None, str | None, dict[str, float]], InspectionResult]
"""The pipeline's (frame, decision, error, timings) -> result (``runtime.pipeline.ResultFactory``)."""
Thumbnails = Callable[[InspectionResult, Bgr8], bool]
OVERLAY_SUFFIX = ".overlay.jpg"
_MIB = 1024 * 1024
_ERRORS_LOGGED = 20


@dataclass(frozen=True, slots=True)
class _Job:
    result: InspectionResult
    image: ImageArray
    path: Path


def relative_path(result: InspectionResult, extension: str) -> Path:
    """``YYYYMMDD/<UTC time>_<camera>_<seq>_<verdict>_<result_id>.<extension>``: sortable, unique."""
    moment = datetime.fromtimestamp(result.captured_at, tz=timezone.utc)
    stamp = moment.strftime("%Y%m%dT%H%M%S") + f"{moment.microsecond // 1000:03d}Z"
    name = f"{stamp}_{result.camera}_{result.seq:06d}_{result.verdict.value}_{result.result_id}.{extension}"
    return Path(moment.strftime("%Y%m%d")) / name


def overlay_path(image_path: Path) -> Path:
    """Where the overlay of the original at ``image_path`` is saved."""
    return image_path.with_name(image_path.name.split(".", 1)[0] + OVERLAY_SUFFIX)


class ImageSaver:
    """Chooses, queues and writes saved frames; applies retention after each write and periodically."""

    name = "images"

    def __init__(
        self,
        config: ImagesConfig,
        folder: Path,
        *,
        classes: Sequence[str],
        stats: Stats | None = None,
        thumbnails: Thumbnails | None = None,
        clock: Callable[[], float] = time.time,
        thread_init: Callable[[], object] = lambda: None,
    ) -> None:
        self.config = config
        self.folder = folder
        self.classes = tuple(classes)
        self.stats = stats or Stats()
        self.stats.declare("images.saved", "images.dropped", "images.failed", "images.deleted")
        if thumbnails is not None:
            self.stats.declare("images.thumbnails_sent", "images.thumbnails_dropped")
        self.thumbnails = thumbnails
        self._clock = clock
        self._thread_init = thread_init
        """Called first on the writer's thread (runtime.scheduling)."""
        self._queue: StageQueue[_Job] = StageQueue("images", config.queue_size, "drop_newest")
        self._pass_seen = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._busy = 0
        retention = config.retention
        self.index = RetentionIndex(
            folder,
            RetentionLimits(
                max_frames=retention.max_frames,
                max_bytes=None if retention.max_mib is None else int(retention.max_mib * _MIB),
                max_age_s=None if retention.max_age_h is None else retention.max_age_h * 3600.0,
            ),
        )

    # ------------------------------------------------------------------------------------ hot path

    def wants(self, verdict: Verdict) -> bool:
        """Whether a frame with this verdict is saved (every Nth PASS counts towards ``pass_every``)."""
        if verdict is Verdict.NG:
            return self.config.save_ng
        if verdict is Verdict.ERROR:
            return self.config.save_error
        if self.config.pass_every == 0:
            return False
        with self._lock:
            self._pass_seen += 1
            return self._pass_seen % self.config.pass_every == 0

    def wrap(self, make_result: ResultFactory) -> ResultFactory:
        """``make_result`` whose results of saved frames carry ``image_path``."""

        def build(
            frame: Frame, decision: Decision | None, error: str | None, timings: dict[str, float]
        ) -> InspectionResult:
            result = make_result(frame, decision, error, timings)
            if frame.image is None or not self.wants(result.verdict):
                return result
            return self.submit(result, frame.image)

        return build

    def submit(self, result: InspectionResult, image: ImageArray) -> InspectionResult:
        """Queue ``image`` for writing: the result with its future path, unchanged when the queue is full."""
        path = self.folder / relative_path(result, self.config.original_format)
        saved = replace(result, image_path=str(path))
        job = _Job(saved, image, path)
        with self._idle:
            self._busy += 1
        try:
            dropped = self._queue.put(job) is job
        except Closed:
            dropped = True
        if dropped:
            self._done()
            self.stats.count("images.dropped")
            return result
        return saved

    # ------------------------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Create the folder, index what is already there (applying the limits), start the writer."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"images.dir: cannot create {self.folder}: {exc.strerror or exc}"
            raise ConfigError([msg]) from exc
        for frame in scan(self.folder):
            self.index.add(frame)
        self._apply_retention()
        self.stats.gauges["images.queue"] = self._queue.__len__
        self.stats.gauges["images.stored_frames"] = lambda: float(len(self.index))
        self.stats.gauges["images.stored_bytes"] = lambda: float(self.index.total_bytes)
        self._thread = threading.Thread(target=self._run, name="image-writer", daemon=True)
        self._thread.start()
        log.info(
            "saving images", folder=str(self.folder), frames=len(self.index), bytes=self.index.total_bytes
        )

    def flush(self, timeout: float) -> bool:
        """Wait until every queued frame is written; False if ``timeout`` ran out."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self, timeout: float = 10.0) -> bool:
        """Write what is queued (within ``timeout``), then stop the writer."""
        self._queue.close()
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    # ------------------------------------------------------------------------------------ writer

    def _run(self) -> None:
        self._thread_init()
        sweep = self.config.retention.sweep_interval_s
        while True:
            try:
                job = self._queue.get(timeout=sweep)
            except TimeoutError:
                self._apply_retention()
                continue
            except Closed:
                return
            try:
                self._write(job)
            except Exception as exc:  # one unsaveable frame never stops the writer
                self._failed(job, exc)
            finally:
                self._done()

    def _write(self, job: _Job) -> None:
        start = time.monotonic()
        files = [job.path]
        ok, data = cv2.imencode(f".{self.config.original_format}", job.image, self._original_params())
        if not ok:
            msg = (
                f"cannot encode a {job.image.dtype} {job.image.shape} frame as {self.config.original_format}"
            )
            raise ValueError(msg)
        _write_atomic(job.path, data.tobytes())
        overlay: Bgr8 | None = None
        if self.config.overlay or self.thumbnails is not None:
            result = job.result
            overlay = render_overlay(
                job.image, result.verdict, result.decision, self.classes, error=result.error
            )
        if self.config.overlay and overlay is not None:
            target = overlay_path(job.path)
            ok, data = cv2.imencode(
                ".jpg", overlay, [cv2.IMWRITE_JPEG_QUALITY, self.config.overlay_jpeg_quality]
            )
            if not ok:
                msg = "cannot encode the overlay as JPEG"
                raise ValueError(msg)
            _write_atomic(target, data.tobytes())
            files.append(target)
        size = sum(path.stat().st_size for path in files)
        self.index.add(SavedFrame(frame_key(job.path.name), tuple(files), size, self._clock()))
        self.stats.count("images.saved")
        self.stats.latency("image_write", (time.monotonic() - start) * 1000.0)
        self._apply_retention()
        if self.thumbnails is not None:
            self._thumbnail(job.result, overlay if overlay is not None else to_bgr8(job.image))

    def _thumbnail(self, result: InspectionResult, image: Bgr8) -> None:
        try:
            sent = self.thumbnails is not None and self.thumbnails(result, image)
        except Exception as exc:
            sent = False
            log.warning("thumbnail failed", seq=result.seq, error=str(exc))
        self.stats.count("images.thumbnails_sent" if sent else "images.thumbnails_dropped")

    def _original_params(self) -> list[int]:
        if self.config.original_format == "png":
            return [cv2.IMWRITE_PNG_COMPRESSION, self.config.png_compression]
        return []

    def _apply_retention(self) -> None:
        gone = self.index.enforce(self._clock())
        if gone:
            self.stats.count("images.deleted", len(gone))

    def _failed(self, job: _Job, exc: BaseException) -> None:
        self.stats.count("images.failed")
        if self.stats.counter("images.failed") <= _ERRORS_LOGGED:
            log.error("image not saved", path=str(job.path), seq=job.result.seq, error=str(exc))

    def _done(self) -> None:
        with self._idle:
            self._busy -= 1
            self._idle.notify_all()


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a ``.part`` file, so a reader never sees half an image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        partial.write_bytes(data)
        partial.replace(path)
    except OSError:
        partial.unlink(missing_ok=True)
        raise
