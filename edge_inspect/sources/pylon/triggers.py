"""When to fire a software trigger: requests from any thread, and the source's own timer.

Kept apart from the camera so the timing and the hand-over between threads are tested on their own.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Literal

TriggerReason = Literal["request", "timer"]


class TriggerSchedule:
    """Software triggers waiting to be fired: requests (:meth:`request`, thread-safe) and timer ticks
    every ``interval_s`` (None = no timer), up to ``count`` ticks (None = no limit)."""

    def __init__(self, interval_s: float | None = None, count: int | None = None) -> None:
        self.interval_s = interval_s
        self.count = count
        self.ticks = 0
        """Timer triggers handed out so far."""
        self._cond = threading.Condition()
        self._requested = 0
        self._stopped = False
        self._next_tick = math.inf
        self.restart_timer()

    @property
    def timer_done(self) -> bool:
        """True once the timer has handed out ``count`` ticks."""
        return self.count is not None and self.ticks >= self.count

    def restart_timer(self) -> None:
        """The next tick is due now (at start, and when a camera comes back: no burst of missed ticks)."""
        self._next_tick = time.monotonic() if self.interval_s is not None else math.inf

    def request(self) -> None:
        """One more trigger asked for; wakes the waiting thread."""
        with self._cond:
            self._requested += 1
            self._cond.notify_all()

    def stop(self) -> None:
        """Wake the waiting thread for good: :meth:`next` returns None from now on."""
        with self._cond:
            self._stopped = True
            self._cond.notify_all()

    def take_requests(self) -> int:
        """Remove and count every pending request (those that will not be fired)."""
        with self._cond:
            pending, self._requested = self._requested, 0
        return pending

    def wait(self, timeout_s: float) -> None:
        """Sleep up to ``timeout_s``, waking early for a request or :meth:`stop`."""
        with self._cond:
            if self._requested == 0 and not self._stopped:
                self._cond.wait(max(0.0, timeout_s))

    def next(self, poll_s: float) -> TriggerReason | None:
        """Wait at most ``poll_s`` for the next trigger due: 'request' first, then 'timer'; None if none."""
        with self._cond:
            deadline = min(self._next_tick, time.monotonic() + poll_s)
            while not self._stopped and self._requested == 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            if self._stopped:
                return None
            if self._requested:
                self._requested -= 1
                return "request"
        now = time.monotonic()
        if self.timer_done or now < self._next_tick:
            return None
        self.ticks += 1
        interval = self.interval_s or math.inf
        # on time: keep the cadence; late (slow grab, reconnect): one tick now, the next an interval on
        self._next_tick = self._next_tick + interval if self._next_tick + interval > now else now + interval
        return "timer"
