"""One submitted frame in flight: its tiles run as separate infer requests, its callback fires exactly once.

Requests finish in any order and on the backend's threads. :class:`FrameJob` copies each request's rows
into the frame's own output array (the request's memory is reused at once), and calls the frame's callback
when the last rows arrive, or on the first failure; whatever comes after that is ignored. A callback that
raises is logged, never propagated: it runs on a backend thread, where an exception would stop the process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from edge_inspect.errors import EngineOutputError
from edge_inspect.types import EngineCallback, FloatArray

log = structlog.get_logger(__name__)


class FrameJob:
    """Collects ``chunks`` pieces of ``rows_per_chunk`` rows each into one (N, ...) float32 array."""

    __slots__ = ("_callback", "_done", "_lock", "_on_finished", "_outputs", "_remaining", "rows_per_chunk")

    def __init__(
        self,
        chunks: int,
        rows_per_chunk: int,
        row_shape: tuple[int, ...],
        callback: EngineCallback,
        on_finished: Callable[[], None],
    ) -> None:
        self.rows_per_chunk = rows_per_chunk
        self._outputs: FloatArray = np.empty((chunks * rows_per_chunk, *row_shape), dtype=np.float32)
        self._remaining = chunks
        self._callback = callback
        self._on_finished = on_finished
        self._done = False
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        return self._done

    def put(self, chunk: int, rows: npt.NDArray[Any]) -> None:
        """Copy one request's output (``rows`` may be a view of the request's memory) into place."""
        start = chunk * self.rows_per_chunk
        target = self._outputs[start : start + self.rows_per_chunk]
        if rows.shape != target.shape:
            msg = f"tile {start}: engine output has shape {list(rows.shape)}, expected {list(target.shape)}"
            self.fail(EngineOutputError(msg))
            return
        with self._lock:
            if self._done:
                return
            np.copyto(target, rows, casting="same_kind")
            self._remaining -= 1
            if self._remaining:
                return
            self._done = True
        self._finish(self._outputs, None)

    def fail(self, error: BaseException) -> None:
        """End the frame with ``error`` (the first failure wins; later rows are dropped)."""
        with self._lock:
            if self._done:
                return
            self._done = True
        self._finish(None, error)

    def _finish(self, outputs: FloatArray | None, error: BaseException | None) -> None:
        try:
            self._callback(outputs, error)
        except Exception:
            log.exception("engine callback raised; the frame's result may be lost")
        finally:
            self._on_finished()
