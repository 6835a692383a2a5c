"""A frame of several tiles streamed through the engine: started a request at a time, folded as it comes.

The infer thread starts the frame's requests one after the other (``Engine.start`` blocks while every
request is busy or held, which paces it) and hands each :class:`~edge_inspect.types.Pending` over with
:meth:`StreamedFrame.add`; the deciding thread folds each request's rows into the frame's
:class:`~edge_inspect.types.TileFold` in tile order (:meth:`StreamedFrame.fold_ready`) and releases the
request at once. So at most the engine's requests hold raw outputs of the frame: a 33 MP frame of 153
tiles never has its 160 MB of float outputs in memory at once, and the engine stays busy while the
deciding thread folds.

Either side can end the frame: a failed start (:meth:`fail`), a failed request (raised from
``fold_ready``), or an engine restart that abandons it (:meth:`close`). A request of a failed frame is
waited for before it is released: a request released while it runs stays out of the engine's pool until
the engine closes, and this engine goes on. One of an abandoned frame is released at once: its engine is
being closed, and may be stuck.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time

from edge_inspect.errors import EngineError
from edge_inspect.types import Pending, TileFold

_FINISH_WAIT_S = 10.0
"""How long a failed frame's request may take to finish before it is released anyway (the inference
watchdog deals with an engine that does not finish it)."""


class StreamedFrame:
    """One streamed frame's requests, from the infer thread to the deciding thread (thread-safe)."""

    def __init__(self, fold: TileFold, requests: int) -> None:
        self.fold = fold
        self.requests = requests
        """How many requests the frame takes."""
        self._queued: collections.deque[Pending] = collections.deque()
        self._added = 0
        self._folded = 0
        self._error: BaseException | None = None
        self._closed = False
        """Abandoned (an engine restart): its requests are released without waiting for them."""
        self._changed = threading.Condition()

    # ------------------------------------------------------------------------------- the infer thread

    def add(self, pending: Pending) -> bool:
        """The next request of the frame; False (and ``pending`` released) once the frame has ended."""
        with self._changed:
            if self._closed or self._error is not None:
                ended = True
            else:
                ended = False
                self._queued.append(pending)
                self._added += 1
                self._changed.notify_all()
        if ended:
            self._give_back(pending)
        return not ended

    def fail(self, error: BaseException) -> None:
        """A request could not start: the frame is one ERROR (the first failure wins)."""
        with self._changed:
            if self._error is None:
                self._error = error
            self._changed.notify_all()

    @property
    def ended(self) -> bool:
        with self._changed:
            return self._closed or self._error is not None

    # ---------------------------------------------------------------------------- the deciding thread

    def done(self) -> bool:
        """The engine has finished every request of the frame (only folding and deciding are left)."""
        with self._changed:
            return self._added == self.requests and all(p.done() for p in self._queued)

    def fold_ready(self, timeout: float) -> bool:
        """Fold requests as they finish, in order, for up to ``timeout`` seconds; True once all are
        folded. Raises EngineError for a failed request or start (what is still held is released)."""
        deadline = time.monotonic() + timeout
        while self._folded < self.requests:
            pending = self._next(deadline)
            if pending is None:
                return False
            try:
                rows = pending.wait(max(0.0, deadline - time.monotonic()))
                if rows is None:
                    self._putback(pending)
                    return False
                self.fold.add(rows)
            except BaseException as exc:
                pending.release()  # it has finished: it failed, or its rows did not fit
                self.fail(exc)
                self._drain()
                raise
            pending.release()
            self._folded += 1
        return True

    def close(self) -> None:
        """The frame is abandoned (an engine restart): release every request handed over and not yet
        folded, at once."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._drain()

    def _drain(self) -> None:
        with self._changed:
            queued, self._queued = list(self._queued), collections.deque()
        for pending in queued:
            self._give_back(pending)

    def _give_back(self, pending: Pending) -> None:
        """Release ``pending``: once it has finished, unless the frame was abandoned."""
        with self._changed:
            abandoned = self._closed
        if not abandoned:
            with contextlib.suppress(EngineError):  # it failed: finished all the same
                pending.wait(_FINISH_WAIT_S)
        pending.release()

    def _next(self, deadline: float) -> Pending | None:
        with self._changed:
            while not self._queued:
                if self._error is not None:
                    error = self._error
                    break
                left = deadline - time.monotonic()
                if self._closed or left <= 0 or not self._changed.wait(left):
                    return None
            else:
                return self._queued.popleft()
        self._drain()
        raise error if isinstance(error, EngineError) else EngineError(str(error))

    def _putback(self, pending: Pending) -> None:
        with self._changed:
            ended = self._closed or self._error is not None
            if not ended:
                self._queued.appendleft(pending)
        if ended:
            self._give_back(pending)
