"""Grabs as pipeline frames: one sequence across reconnects, capture times, the camera's block id."""

from __future__ import annotations

import time

from edge_inspect.sources.pylon.camera import Grab
from edge_inspect.types import Frame, ImageArray, SourceInfo


class FrameStamper:
    """Numbers and stamps the frames of one camera. ``serial`` is set once the camera is open."""

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self.serial: str | None = None
        self._seq = 0

    def stamp(self, image: ImageArray | None, grab: Grab | None, error: str | None = None) -> Frame:
        """A frame of ``image`` (or of ``error`` when there is none); the block id and camera timestamp go
        into ``source.extra`` when the grab has them (a refused trigger has no grab)."""
        extra: dict[str, int] = {}
        if grab is not None and grab.block_id is not None:
            extra["block_id"] = grab.block_id
        if grab is not None and grab.timestamp_ticks is not None:
            extra["timestamp_ticks"] = grab.timestamp_ticks
        frame = Frame(
            seq=self._seq,
            camera=self.camera,
            captured_at=time.time(),
            monotonic=time.monotonic(),
            source=SourceInfo(kind="pylon", device=self.serial, extra=extra),
            image=image,
            error=error,
        )
        self._seq += 1
        return frame
