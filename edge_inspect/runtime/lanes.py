"""The station's frame queue: one bounded lane per camera, taken from in turn, so no camera starves another.

Each camera's source thread puts into its own lane, with its own drop policy and capacity, as it would
into a :class:`~edge_inspect.runtime.queues.StageQueue`. The preprocessing thread takes from the lanes
round-robin: a camera that floods fills (or drops from) its own lane only, and a frame of a slow camera
waits behind at most one frame of each other camera at this stage. The queue is closed when every lane is.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Generic, TypeVar

from edge_inspect.runtime.queues import Bounded, Closed, DropPolicy

T = TypeVar("T")


class FairQueue(Generic[T]):
    """Lanes named by camera id, each a bounded FIFO; :meth:`get` serves the lanes in turn."""

    def __init__(self, name: str, lanes: Iterable[tuple[str, int, DropPolicy]]) -> None:
        self.name = name
        self._lanes: dict[str, Bounded[T]] = {
            lane: Bounded(f"{name}/{lane}", capacity, policy) for lane, capacity, policy in lanes
        }
        if not self._lanes:
            msg = "a fair queue needs at least one lane"
            raise ValueError(msg)
        self._order = list(self._lanes)
        self._next = 0
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    @property
    def dropped(self) -> int:
        with self._lock:
            return sum(lane.dropped for lane in self._lanes.values())

    def put(self, lane_name: str, item: T, timeout: float | None = None) -> T | None:
        """Add ``item`` to its lane; return the item dropped to make room (or ``item`` if it was)."""
        with self._lock:
            dropped = self._lanes[lane_name].admit(item, self._not_full, timeout)
            if dropped is not item:
                self._not_empty.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T:
        """The oldest item of the next lane (in turn) that has one; :class:`Closed` once every lane is
        closed and empty, TimeoutError on timeout."""
        with self._lock:
            if not self._not_empty.wait_for(self._ready, timeout):
                msg = f"queue {self.name}: get timed out"
                raise TimeoutError(msg)
            count = len(self._order)
            for step in range(count):
                lane = self._lanes[self._order[(self._next + step) % count]]
                if lane.items:
                    self._next = (self._next + step + 1) % count
                    item = lane.items.popleft()
                    self._not_full.notify_all()  # a put waits on its own lane: wake them all to look
                    return item
            msg = f"queue {self.name} is closed"
            raise Closed(msg)

    def _ready(self) -> bool:
        lanes = self._lanes.values()
        return any(lane.items for lane in lanes) or all(lane.closed for lane in lanes)

    def close_lane(self, lane_name: str) -> None:
        """No more puts to this lane (its source has ended); its items are still served."""
        with self._lock:
            self._lanes[lane_name].closed = True
            self._not_empty.notify_all()
            self._not_full.notify_all()

    def close(self) -> None:
        """Close every lane."""
        with self._lock:
            for lane in self._lanes.values():
                lane.closed = True
            self._not_empty.notify_all()
            self._not_full.notify_all()

    def __len__(self) -> int:
        with self._lock:
            return sum(len(lane.items) for lane in self._lanes.values())
