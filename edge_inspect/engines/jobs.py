"""One submitted frame in flight: its tiles run as separate infer requests, its callback fires exactly once.

Requests finish in any order and on the backend's threads. :class:`FrameJob` copies each request's rows
into the frame's own output array (the request's memory is reused at once), and calls the frame's callback
when the last rows arrive, or on the first failure; whatever comes after that is ignored. A callback that
raises is logged, never propagated: it runs on a backend thread, where an exception would stop the process.

What a backend thread holds must never own the engine: if the last reference to an engine were dropped
there, its compiled model would be destroyed on one of its own worker threads, which then joins itself
and aborts the process. So a job refers to an :class:`InFlight` counter, not to the engine, and lets go
of the frame's callback and rows once it has delivered them.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from edge_inspect.errors import EngineOutputError
from edge_inspect.types import EngineCallback, FloatArray

log = structlog.get_logger(__name__)


class InFlight:
    """Counts frames submitted but not yet called back, so an engine can wait for all of them."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def add(self) -> None:
        with self._changed:
            self._count += 1

    def finished(self) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def wait_idle(self) -> None:
        """Block until every added frame has finished."""
        with self._changed:
            self._changed.wait_for(lambda: self._count == 0)


class FrameJob:
    """Collects ``chunks`` pieces of ``rows_per_chunk`` rows each into one (N, ...) float32 array."""

    __slots__ = ("_callback", "_done", "_in_flight", "_lock", "_outputs", "_remaining", "rows_per_chunk")

    def __init__(
        self,
        chunks: int,
        rows_per_chunk: int,
        row_shape: tuple[int, ...],
        callback: EngineCallback,
        in_flight: InFlight,
    ) -> None:
        self.rows_per_chunk = rows_per_chunk
        self._outputs: FloatArray | None = np.empty((chunks * rows_per_chunk, *row_shape), dtype=np.float32)
        self._remaining = chunks
        self._callback: EngineCallback | None = callback
        self._in_flight = in_flight
        self._done = False
        self._lock = threading.Lock()
        in_flight.add()

    @property
    def done(self) -> bool:
        return self._done

    def put(self, chunk: int, rows: npt.NDArray[Any]) -> None:
        """Copy one request's output (``rows`` may be a view of the request's memory) into place."""
        start = chunk * self.rows_per_chunk
        with self._lock:
            if self._done or self._outputs is None:
                return
            target = self._outputs[start : start + self.rows_per_chunk]
            outputs: FloatArray | None = None
            error: EngineOutputError | None = None
            if rows.shape == target.shape:
                np.copyto(target, rows, casting="same_kind")
                self._remaining -= 1
                if self._remaining:
                    return
                outputs = self._outputs
            else:
                shapes = f"{list(rows.shape)}, expected {list(target.shape)}"
                error = EngineOutputError(f"tile {start}: engine output has shape {shapes}")
            self._done = True
        self._finish(outputs, error)

    def fail(self, error: BaseException) -> None:
        """End the frame with ``error`` (the first failure wins; later rows are dropped)."""
        with self._lock:
            if self._done:
                return
            self._done = True
        self._finish(None, error)

    def _finish(self, outputs: FloatArray | None, error: BaseException | None) -> None:
        callback = self._callback
        self._callback = self._outputs = None
        try:
            if callback is not None:
                callback(outputs, error)
        except Exception:
            log.exception("engine callback raised; the frame's result may be lost")
        finally:
            self._in_flight.finished()
