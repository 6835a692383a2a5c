"""A bounded queue between two stages, with a named policy for when it is full, and counted drops."""

from __future__ import annotations

import collections
import threading
from typing import Generic, Literal, TypeVar

T = TypeVar("T")

DropPolicy = Literal["block", "drop_oldest", "drop_newest"]


class Closed(Exception):  # noqa: N818 (reads as `except Closed`, like queue.Empty)
    """``get`` on a queue that was closed and is empty."""


class Bounded(Generic[T]):
    """The items of one bounded FIFO and its full policy; the owner holds the lock of ``not_full``.

    Shared by :class:`StageQueue` (one) and the station's per-camera lanes (runtime/lanes.py, one each),
    so the policy is written once.
    """

    __slots__ = ("capacity", "closed", "dropped", "items", "name", "policy")

    def __init__(self, name: str, capacity: int, policy: DropPolicy) -> None:
        if capacity < 1:
            msg = "capacity must be >= 1"
            raise ValueError(msg)
        self.name = name
        self.capacity = capacity
        self.policy = policy
        self.items: collections.deque[T] = collections.deque()
        self.closed = False
        self.dropped = 0

    def admit(self, item: T, not_full: threading.Condition, timeout: float | None) -> T | None:
        """Append ``item`` (lock held); return the item dropped to make room, or ``item`` if it was."""
        if self.closed:
            msg = f"queue {self.name} is closed"
            raise Closed(msg)
        dropped: T | None = None
        if len(self.items) >= self.capacity:
            if self.policy == "drop_oldest":
                dropped = self.items.popleft()
                self.dropped += 1
            elif self.policy == "drop_newest":
                self.dropped += 1
                return item
            elif not not_full.wait_for(lambda: len(self.items) < self.capacity or self.closed, timeout):
                msg = f"queue {self.name}: put timed out"
                raise TimeoutError(msg)
            if self.closed:
                msg = f"queue {self.name} is closed"
                raise Closed(msg)
        self.items.append(item)
        return dropped


class StageQueue(Generic[T]):
    """FIFO of at most ``capacity`` items.

    ``block``: ``put`` waits for room (replay, triggered cameras: nothing is lost).
    ``drop_oldest``: ``put`` discards the oldest waiting item (free-run cameras: stay live).
    ``drop_newest``: ``put`` discards the new item.
    Every discarded item is counted in ``dropped`` and returned by ``put`` so the caller can account for it.
    """

    def __init__(self, name: str, capacity: int, policy: DropPolicy = "block") -> None:
        self.name = name
        self._queue: Bounded[T] = Bounded(name, capacity, policy)
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)

    @property
    def capacity(self) -> int:
        return self._queue.capacity

    @property
    def policy(self) -> DropPolicy:
        return self._queue.policy

    @property
    def dropped(self) -> int:
        return self._queue.dropped

    def put(self, item: T, timeout: float | None = None) -> T | None:
        """Add ``item``; return the item dropped to make room (or ``item`` itself if it was dropped)."""
        with self._lock:
            dropped = self._queue.admit(item, self._not_full, timeout)
            if dropped is not item:
                self._not_empty.notify()
            return dropped

    def get(self, timeout: float | None = None) -> T:
        """Take the oldest item; raise :class:`Closed` once closed and empty, TimeoutError on timeout."""
        items = self._queue.items
        with self._lock:
            if not self._not_empty.wait_for(lambda: bool(items) or self._queue.closed, timeout):
                msg = f"queue {self.name}: get timed out"
                raise TimeoutError(msg)
            if not items:
                msg = f"queue {self.name} is closed"
                raise Closed(msg)
            item = items.popleft()
            self._not_full.notify()
            return item

    def close(self) -> None:
        """No more puts; getters drain what is left, then get :class:`Closed`."""
        with self._lock:
            self._queue.closed = True
            self._not_empty.notify_all()
            self._not_full.notify_all()

    def __len__(self) -> int:
        with self._lock:
            return len(self._queue.items)
