"""A named alarm: logged loudly when it is raised, then at most once a minute while it stays raised,
with a count of what happened meanwhile, and once more when it clears (only after ``hold_s`` without an
occurrence, so that a condition that comes and goes does not flood the log).

A full outbox or a full disk can fire on every frame; logging each would flood the journal and hide
everything else, while logging nothing would make the loss silent. Counters carry the exact numbers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

_REPEAT_S = 60.0
_HOLD_S = 10.0


class Alarm:
    """``raise_`` on each occurrence; ``clear`` when the condition is over. ``active`` for gauges."""

    def __init__(
        self,
        name: str,
        *,
        repeat_s: float = _REPEAT_S,
        hold_s: float = _HOLD_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._repeat_s = repeat_s
        self._hold_s = hold_s
        self._clock = clock
        self._lock = threading.Lock()
        self._active = False
        self._last_log = 0.0
        self._last_raise = 0.0
        self._since_log = 0
        self.raised = 0
        """Occurrences since start."""

    @property
    def active(self) -> bool:
        return self._active

    def raise_(self, message: str, **fields: Any) -> None:
        now = self._clock()
        with self._lock:
            self.raised += 1
            self._since_log += 1
            self._last_raise = now
            first = not self._active
            due = first or now - self._last_log >= self._repeat_s
            self._active = True
            if not due:
                return
            occurrences = self._since_log
            self._since_log = 0
            self._last_log = now
        log.error(f"ALARM {message}", alarm=self.name, occurrences=occurrences, **fields)

    def clear(self, message: str, **fields: Any) -> None:
        """The condition is over: cleared (and logged) once ``hold_s`` has passed since the last raise."""
        with self._lock:
            if not self._active or self._clock() - self._last_raise < self._hold_s:
                return
            self._active = False
            unlogged = self._since_log
            self._since_log = 0
        log.warning(f"alarm cleared: {message}", alarm=self.name, unlogged_occurrences=unlogged, **fields)
