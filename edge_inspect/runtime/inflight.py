"""Inferences in flight: when each started (for the inference watchdog), and a way to give up on all of
them at once (an engine restart) without any frame vanishing or being answered twice.

Each started frame gets a token. Whoever answers it first *claims* it: the deciding thread when it takes
the frame's outputs, or an engine restart (which answers with an ERROR result). A late answer to an
abandoned inference finds its token gone and does nothing. A claim is counted until the answer is
queued (:meth:`released`), so :meth:`wait_idle` returns only once every answer is in the next queue.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Inflight(Generic[T]):
    """Token -> (item, start time) for every submission not yet answered."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._items: dict[int, tuple[T, float]] = {}
        self._next = 0
        self._answering = 0

    def begin(self, item: T) -> int:
        """Register a submission; returns its token."""
        with self._cond:
            token = self._next
            self._next += 1
            self._items[token] = (item, self._clock())
            return token

    def claim(self, token: int) -> bool:
        """Take the right to answer ``token``; False when it was already answered (abandoned)."""
        with self._cond:
            if self._items.pop(token, None) is None:
                return False
            self._answering += 1
            return True

    def take(self, token: int) -> bool:
        """Claim ``token`` and answer it at once (the caller handles the answer itself); False when it
        was already answered."""
        with self._cond:
            if self._items.pop(token, None) is None:
                return False
            self._cond.notify_all()
            return True

    def holds(self, token: int) -> bool:
        """Whether ``token`` is still in flight (neither claimed nor abandoned)."""
        with self._cond:
            return token in self._items

    def abandon(self, keep: Callable[[T], bool] | None = None) -> list[tuple[T, float]]:
        """Claim every submission in flight but those ``keep`` says to leave alone (to be answered as
        usual); the caller answers each (item, start) taken and calls released."""
        with self._cond:
            tokens = [t for t, (item, _) in self._items.items() if keep is None or not keep(item)]
            taken = [self._items.pop(t) for t in tokens]
            self._answering += len(taken)
            return taken

    def released(self, n: int = 1) -> None:
        """``n`` claimed answers are now queued."""
        with self._cond:
            self._answering -= n
            self._cond.notify_all()

    def oldest_start(self, unless: Callable[[T], bool] | None = None) -> float | None:
        """Start time of the oldest submission in flight (``clock`` units) that ``unless`` does not
        exclude, or None."""
        with self._cond:
            starts = (s for item, s in self._items.values() if unless is None or not unless(item))
            return min(starts, default=None)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is in flight and every answer is queued."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._answering, timeout)

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)
