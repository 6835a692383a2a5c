"""Retention of saved images: the oldest saved frames go first, by count, by size and by age.

A saved frame is every file whose name starts with the same key (``<key>.png``, ``<key>.overlay.jpg``);
it is kept or deleted as a whole. ``excess`` is the pure rule; ``RetentionIndex`` keeps the folder's
index in memory (scanned once at start, then updated as frames are written) so applying the limits
never walks a folder of twenty thousand files.
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PARTIAL_SUFFIX = ".part"
"""Files being written; a crash can leave one, which the next start deletes."""


@dataclass(frozen=True, slots=True)
class SavedFrame:
    key: str
    files: tuple[Path, ...]
    size: int
    """Bytes on disk, all files together."""
    mtime: float
    """Newest modification time of its files, seconds since the epoch."""


@dataclass(frozen=True, slots=True)
class RetentionLimits:
    """A None limit is no limit."""

    max_frames: int | None = None
    max_bytes: int | None = None
    max_age_s: float | None = None


def excess(frames: Sequence[SavedFrame], total_bytes: int, now: float, limits: RetentionLimits) -> int:
    """How many of the oldest ``frames`` (oldest first) must go to meet every limit."""
    drop = 0
    count = len(frames)
    size = total_bytes
    while drop < count:
        oldest = frames[drop]
        over_count = limits.max_frames is not None and count - drop > limits.max_frames
        over_size = limits.max_bytes is not None and size > limits.max_bytes
        too_old = limits.max_age_s is not None and now - oldest.mtime > limits.max_age_s
        if not (over_count or over_size or too_old):
            break
        size -= oldest.size
        drop += 1
    return drop


def frame_key(name: str) -> str:
    """The saved frame a file belongs to: its name up to the first dot."""
    return name.split(".", 1)[0]


def scan(folder: Path) -> list[SavedFrame]:
    """Every saved frame under ``folder`` (recursively), oldest first; partial files are deleted."""
    groups: dict[tuple[Path, str], list[tuple[Path, int, float]]] = collections.defaultdict(list)
    if not folder.is_dir():
        return []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            if name.endswith(PARTIAL_SUFFIX):
                with contextlib.suppress(OSError):
                    path.unlink()
                continue
            try:
                info = path.stat()
            except OSError:
                continue
            groups[(Path(root), frame_key(name))].append((path, info.st_size, info.st_mtime))
    frames = [
        SavedFrame(
            key, tuple(p for p, _, _ in files), sum(s for _, s, _ in files), max(m for _, _, m in files)
        )
        for (_, key), files in groups.items()
    ]
    frames.sort(key=lambda f: (f.mtime, f.key))
    return frames


class RetentionIndex:
    """The saved frames in write order, with their total size; ``enforce`` deletes what the limits drop.

    Used from the writer thread only.
    """

    def __init__(self, root: Path, limits: RetentionLimits, frames: Iterable[SavedFrame] = ()) -> None:
        self.root = root
        self.limits = limits
        self._frames: collections.deque[SavedFrame] = collections.deque(frames)
        self.total_bytes = sum(f.size for f in self._frames)
        self.deleted = 0
        self.delete_failures = 0

    def __len__(self) -> int:
        return len(self._frames)

    def add(self, frame: SavedFrame) -> None:
        self._frames.append(frame)
        self.total_bytes += frame.size

    def enforce(self, now: float) -> list[SavedFrame]:
        """Delete the oldest frames until every limit holds; return what was deleted."""
        drop = excess(self._frames, self.total_bytes, now, self.limits)
        gone: list[SavedFrame] = []
        for _ in range(drop):
            frame = self._frames.popleft()
            self.total_bytes -= frame.size
            self._delete(frame)
            gone.append(frame)
        return gone

    def _delete(self, frame: SavedFrame) -> None:
        for path in frame.files:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                self.delete_failures += 1
        self.deleted += 1
        folder = frame.files[0].parent
        if folder != self.root:
            with contextlib.suppress(OSError):  # the day folder, once its last frame is gone
                folder.rmdir()
