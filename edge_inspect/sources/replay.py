"""Replay image files or a video as camera frames: the simulator for tests, demos and benchmarks.

The order is deterministic (sorted paths), pacing follows a monotonic schedule, and one bad file becomes
one error frame: ``frames()`` never raises for bad input, so a replay behaves like a camera that
occasionally delivers a broken image.
"""

from __future__ import annotations

import glob
import itertools
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import structlog

from edge_inspect.config.sources import ReplaySourceConfig
from edge_inspect.datasets.labels import dagm_label_path, has_dagm_labels, mask_in_folder, read_mask
from edge_inspect.errors import FrameDecodeError, SourceError
from edge_inspect.sources.decode import decode_image
from edge_inspect.types import Frame, ImageArray, SourceInfo, SourceState, StatusListener

log = structlog.get_logger(__name__)

Mask = npt.NDArray[np.uint8]
MaskFinder = Callable[[Path], Path | None]
"""Where an image's ground-truth mask is; None means the image is defect-free (an all-zero mask)."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """One replayed item before it is stamped as a frame: pixels and mask, or the reason there are none."""

    path: str
    index: int
    image: ImageArray | None
    ground_truth: Mask | None = None
    error: str | None = None


Skipped = list[tuple[Path, str]]
"""Entries a folder or glob names that are not replayed, with the reason (logged and counted)."""


def _entry_kind(path: Path) -> str | None:
    """Why ``path`` is not a regular image file to replay, or None when it is one."""
    try:
        mode = path.stat().st_mode  # follows a link: a link to /dev/zero is a device
    except FileNotFoundError:
        return "a broken link" if path.is_symlink() else "gone"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    return "a device, pipe or socket (refused)"


def find_files(
    pattern: str, extensions: Iterable[str], skipped: Skipped | None = None
) -> tuple[list[Path], Path | None]:
    """Resolve ``source.path``: (sorted image files, None) for a folder, glob or image file.

    A file without an image extension is taken for a video: ([], path). Entries with an image extension
    that are not regular files (a folder named ``y.png``, a link to ``/dev/zero``) are left out and
    appended to ``skipped`` with the reason; a device named directly is refused.
    """
    path = Path(pattern)
    suffixes = {e.lower() for e in extensions}
    left_out: Skipped = skipped if skipped is not None else []
    try:
        if path.is_dir():
            candidates = sorted(p for p in path.iterdir() if p.suffix.lower() in suffixes)
        elif path.exists():
            kind = _entry_kind(path)
            if kind is not None:
                msg = f"source.path {path}: {kind}, not an image or video file"
                raise SourceError(msg)
            return ([path], None) if path.suffix.lower() in suffixes else ([], path)
        else:
            candidates = sorted(Path(p) for p in glob.glob(pattern, recursive=True))  # noqa: PTH207
    except OSError as exc:
        msg = f"source.path {pattern}: cannot list it: {exc.strerror or exc}"
        raise SourceError(msg) from exc
    files = []
    for candidate in candidates:
        kind = _entry_kind(candidate)
        if kind is None:
            files.append(candidate)
        elif path.is_dir() or kind != "a folder":  # a glob's folders are not files it meant
            left_out.append((candidate, kind))
    if not files:
        if path.is_dir():
            msg = f"source.path {path}: the folder has no {'/'.join(sorted(suffixes))} files"
        else:
            msg = f"source.path {pattern}: no such folder or file, and it matches no file as a glob"
        raise SourceError(msg)
    return files, None


def read_frame_file(path: Path, max_bytes: int) -> bytes:
    """The bytes of one image file: a regular file (checked on the open descriptor, never blocking on a
    pipe) of at most ``max_bytes``. Raises OSError or FrameDecodeError naming the file."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            msg = f"{path}: not a regular file (a device, pipe or folder); refused"
            raise FrameDecodeError(msg)
        if info.st_size > max_bytes:
            msg = f"{path}: {info.st_size} bytes, more than {max_bytes} (source.max_pixels allows no more)"
            raise FrameDecodeError(msg)
        return handle.read(max_bytes + 1)


def mask_finder(ground_truth: str | None, files: list[Path]) -> MaskFinder | None:
    """How to find each image's mask: DAGM ``Label/`` folders (``auto``), a mask folder, or not at all."""
    if ground_truth is None:
        return None
    if ground_truth == "auto":
        labelled = {folder for folder in {f.parent for f in files} if has_dagm_labels(folder)}
        if not labelled:
            return None
        return lambda image: dagm_label_path(image) if image.parent in labelled else None
    folder = Path(ground_truth)
    if not folder.is_dir():
        msg = f"source.ground_truth {folder}: mask folder not found"
        raise SourceError(msg)
    return lambda image: mask_in_folder(image, folder)


def load_mask(path: Path, shape: tuple[int, ...], masks: MaskFinder | None) -> Mask | None:
    """The mask of the image at ``path`` (HxW ``shape``): read, all-zero when it has none, or None.

    Raises :class:`FrameDecodeError` naming the mask when it cannot be read or does not fit the image.
    """
    if masks is None:
        return None
    mask_path = masks(path)
    if mask_path is None:
        return np.zeros(shape[:2], dtype=np.uint8)
    try:
        mask = read_mask(mask_path)
    except (ValueError, cv2.error) as exc:
        msg = f"{mask_path}: bad ground-truth mask: {exc}"
        raise FrameDecodeError(msg) from None
    if mask.shape != shape[:2]:
        msg = f"{mask_path}: ground-truth mask is {mask.shape[1]}x{mask.shape[0]}, "
        msg += f"the image {path} is {shape[1]}x{shape[0]}"
        raise FrameDecodeError(msg)
    return mask


def decode_file(path: Path, index: int, masks: MaskFinder | None, max_pixels: int | None = None) -> Decoded:
    """Read and decode one file and its mask; any failure becomes ``error`` naming the file."""
    max_bytes = _MAX_FILE_BYTES if max_pixels is None else max_pixels * _BYTES_PER_PIXEL + _HEADROOM_BYTES
    try:
        image = decode_image(read_frame_file(path, max_bytes), str(path), max_pixels)
        mask = load_mask(path, image.shape, masks)
    except OSError as exc:
        return Decoded(str(path), index, None, error=f"{path}: cannot read: {exc.strerror or exc}")
    except FrameDecodeError as exc:
        return Decoded(str(path), index, None, error=str(exc))
    return Decoded(str(path), index, image, mask)


def read_video(path: Path, stop: threading.Event) -> Iterator[Decoded]:
    """Every frame of a video through OpenCV (BGR, 8-bit), until its end or ``stop``."""
    capture = cv2.VideoCapture(str(path))
    try:
        for index in itertools.count():
            if stop.is_set():
                return
            ok, image = capture.read()
            if not ok:
                return
            yield Decoded(str(path), index, image)
    finally:
        capture.release()


class Pacer:
    """Releases frames at ``fps`` against a monotonic schedule, so sleep overshoot does not add up.

    A consumer that falls a whole period behind gets the next frame at once and the schedule restarts
    from there: no burst of catch-up frames. ``wait`` returns False as soon as ``stop`` is set.
    """

    def __init__(self, fps: float, stop: threading.Event) -> None:
        self._period = 1.0 / fps if fps > 0 else 0.0
        self._stop = stop
        self._due: float | None = None

    def wait(self) -> bool:
        if self._period == 0.0:
            return not self._stop.is_set()
        now = time.monotonic()
        due = now if self._due is None else self._due
        if due > now and self._stop.wait(due - now):
            return False
        if self._stop.is_set():
            return False
        released = time.monotonic()
        self._due = due + self._period
        if self._due < released:  # a whole period late: restart the schedule from this frame
            self._due = released + self._period
        return True


class _Fired:
    """Releases one frame per software trigger (``fire``), as :class:`Pacer` does per period."""

    _POLL_S = 0.1

    def __init__(self, fired: threading.Semaphore, stop: threading.Event) -> None:
        self._fired = fired
        self._stop = stop

    def wait(self) -> bool:
        while not self._stop.is_set():
            if self._fired.acquire(timeout=self._POLL_S):
                return True
        return False


_MAX_FILE_BYTES = 1 << 32
_BYTES_PER_PIXEL = 8  # 16-bit BGRA stored uncompressed: the largest a pixel can take in a file
_HEADROOM_BYTES = 1 << 20
_SKIPPED_LOGGED = 20


class ReplaySource:
    """The ``replay`` source: a folder, glob or video file, replayed ``loop`` times at ``fps``."""

    def __init__(self, config: ReplaySourceConfig, camera: str, status: StatusListener) -> None:
        self._config = config
        self._camera = camera
        self._status = status
        self._stop = threading.Event()
        self._files: list[Path] = []
        self._video: Path | None = None
        self._masks: MaskFinder | None = None
        self._cache: list[Decoded] | None = None
        self._opened = False
        self._seq = 0
        self._skipped = 0
        self._fired = threading.Semaphore(0)
        """Software trigger: one release per :meth:`fire`, taken by ``frames()`` before each file."""

    @property
    def software_triggered(self) -> bool:
        """Whether the station fires this source (``trigger: software``): one file per :meth:`fire`."""
        return self._config.trigger == "software"

    def fire(self) -> None:
        """One software trigger: the next file is released (thread-safe; counted, never lost)."""
        self._fired.release()

    def stats(self) -> dict[str, float]:
        """Counters for the stats message and metrics (``source.skipped_files``)."""
        return {"skipped_files": float(self._skipped)}

    def open(self) -> None:
        """Find the files (or open the video); a path that matches nothing is a :class:`SourceError`."""
        self._status.source_state(self._camera, SourceState.STARTING)
        self._stop.clear()
        skipped: Skipped = []
        try:
            self._files, self._video = find_files(self._config.path, self._config.extensions, skipped)
            if self._video is not None:
                self._check_video(self._video)
            else:
                self._masks = mask_finder(self._config.ground_truth, self._files)
        except SourceError as exc:
            self._status.source_state(self._camera, SourceState.OFFLINE, str(exc))
            raise
        self._skipped = len(skipped)
        for entry, why in skipped[:_SKIPPED_LOGGED]:
            log.warning("replay_entry_skipped", path=str(entry), reason=why)
        if len(skipped) > _SKIPPED_LOGGED:
            log.warning("replay_entries_skipped", more=len(skipped) - _SKIPPED_LOGGED, total=len(skipped))
        if self._config.cache_in_memory:
            self._cache = list(self._read_pass())
            for item in self._cache:  # one array is replayed every pass: nobody may change it in place
                for array in (item.image, item.ground_truth):
                    if array is not None:
                        array.flags.writeable = False
        self._opened = True
        log.info(
            "replay_opened", path=self._config.path, files=len(self._files), video=self._video is not None
        )
        self._status.source_state(self._camera, SourceState.ONLINE)

    def _check_video(self, path: Path) -> None:
        if self._config.ground_truth not in (None, "auto"):
            msg = f"source.ground_truth {self._config.ground_truth}: masks are read for image files only"
            raise SourceError(msg)
        capture = cv2.VideoCapture(str(path))
        opened = capture.isOpened()
        capture.release()
        if not opened:
            msg = f"source.path {path}: not an image file (by extension) and OpenCV cannot open it as a video"
            raise SourceError(msg)

    def _read_pass(self) -> Iterator[Decoded]:
        if self._cache is not None:
            yield from self._cache
        elif self._video is not None:
            yield from read_video(self._video, self._stop)
        else:
            for index, path in enumerate(self._files):
                if self._stop.is_set():
                    return
                yield decode_file(path, index, self._masks, self._config.max_pixels)

    def frames(self) -> Iterator[Frame]:
        """Yield every file ``loop`` times (0 = forever), paced at ``fps``, until the end or :meth:`stop`."""
        if not self._opened:
            msg = f"source.path {self._config.path}: frames() called before open()"
            raise SourceError(msg)
        pacer = (
            _Fired(self._fired, self._stop)
            if self.software_triggered
            else Pacer(self._config.fps, self._stop)
        )
        passes = itertools.count() if self._config.loop == 0 else range(self._config.loop)
        try:
            for pass_no in passes:
                count = 0
                for item in self._read_pass():
                    if not pacer.wait():
                        return
                    count += 1
                    yield self._stamp(item, pass_no)
                if self._stop.is_set():
                    return
                if count == 0:  # an empty video: looping it forever would spin
                    log.warning("replay_empty_pass", path=self._config.path, pass_no=pass_no)
                    return
        finally:
            self._status.source_state(self._camera, SourceState.ENDED)

    def _stamp(self, item: Decoded, pass_no: int) -> Frame:
        if item.error is not None:
            log.warning("replay_frame_unreadable", path=item.path, error=item.error)
        seq = self._seq
        self._seq += 1
        return Frame(
            seq=seq,
            camera=self._camera,
            captured_at=time.time(),
            monotonic=time.monotonic(),
            source=SourceInfo(kind="replay", path=item.path, index=item.index, extra={"pass": pass_no}),
            image=item.image,
            ground_truth=item.ground_truth,
            error=item.error,
        )

    def stop(self) -> None:
        """End ``frames()`` soon, even while it waits for the next frame's time; safe from any thread."""
        self._stop.set()

    def close(self) -> None:
        self._stop.set()
        self._cache = None
        self._opened = False
