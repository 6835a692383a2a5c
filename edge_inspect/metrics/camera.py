"""Camera connection state for metrics: a StatusListener that remembers each camera's state and passes
every change on (to the MQTT publisher), so the source still has exactly one listener."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_inspect.types import SourceState, StatusListener


@dataclass(frozen=True, slots=True)
class CameraState:
    state: SourceState
    since: float
    """Wall-clock time of the change, seconds since the epoch."""
    reason: str | None
    changes: int


class CameraStateTracker:
    """Records ``source_state`` calls, then forwards them to ``forward`` (which may fail on its own)."""

    def __init__(self, forward: StatusListener | None = None, clock: Callable[[], float] = time.time) -> None:
        self.forward = forward
        self._clock = clock
        self._lock = threading.Lock()
        self._states: dict[str, CameraState] = {}

    def source_state(self, camera: str, state: SourceState, reason: str | None = None) -> None:
        with self._lock:
            previous = self._states.get(camera)
            changes = (previous.changes if previous else 0) + 1
            self._states[camera] = CameraState(SourceState(state), self._clock(), reason, changes)
        if self.forward is not None:
            self.forward.source_state(camera, state, reason)

    def states(self) -> dict[str, CameraState]:
        with self._lock:
            return dict(self._states)
