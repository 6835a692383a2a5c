"""OpenVINO's pull path: infer requests lent to frames, so that no Python runs on OpenVINO's threads.

A frame of one request takes a request from the pool, starts it on the frame's own tensor (zero-copy),
and the consumer waits on it without the GIL, reads the outputs where OpenVINO wrote them (no copy) and
gives the request back with ``release``. The callback path (AsyncInferQueue) needs an OpenVINO thread
to take the GIL for every request, copy the rows and wake the consumer; on a 2-core machine whose cores
the engine keeps busy, that thread queues for the GIL behind the daemon's own threads, and its work is
inflated by theirs.

Lifetimes. A request is lent from ``start`` until its :class:`RequestPending` is released and the
request has finished. ``release`` never blocks: a request released while still running (its frame was
given up at an engine restart) stays lent until ``close`` settles it; that engine is being closed.
``close`` refuses new frames, lets consumers take and release what is already lent (up to a grace), then
hands out nothing more, waits for every lent request to finish and for every handed-out one to be
released: a compiled model is never destroyed under a consumer reading its memory.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import numpy as np
import numpy.typing as npt
import openvino as ov

from edge_inspect.engines.openvino.load import first_line
from edge_inspect.errors import EngineError
from edge_inspect.types import FloatArray

_TAKE_POLL_S = 0.1
"""How often a ``start`` blocked on a fully lent pool checks whether the engine is closing."""
CLOSE_GRACE_S = 2.0
"""How long ``close`` lets consumers take the outputs of requests already lent."""


class RequestPool:
    """``size`` infer requests of one compiled model, lent one per started frame."""

    def __init__(self, compiled: ov.CompiledModel, size: int, input_port: Any, output_index: int) -> None:
        self._input_port = input_port
        self.output_index = output_index
        self._free: queue.SimpleQueue[ov.InferRequest] = queue.SimpleQueue()
        for _ in range(size):
            self._free.put(compiled.create_infer_request())
        self.lock = threading.Condition()
        """Guards the lent set and every pending's state."""
        self._lent: set[RequestPending] = set()
        self._closing = False
        self.closed = False
        """No more outputs are handed out."""

    def start(self, tensor: npt.NDArray[Any]) -> RequestPending:
        """Start one request on ``tensor`` (blocks while every request is lent); EngineError if closing."""
        pending, request = self._lend(np.ascontiguousarray(tensor))
        try:
            request.set_tensor(self._input_port, ov.Tensor(pending.tensor, shared_memory=True))
            request.start_async()
        except RuntimeError as exc:
            pending.release()
            msg = f"cannot start inference: {first_line(exc)}"
            raise EngineError(msg) from exc
        return pending

    def close(self, grace_s: float = CLOSE_GRACE_S) -> None:
        """Refuse new frames; give consumers ``grace_s`` to release what is lent; then hand out nothing
        more, wait for every lent request to finish and for every handed-out one to be released."""
        with self.lock:
            self._closing = True
            self.lock.wait_for(lambda: all(p.released for p in self._lent), grace_s)
            self.closed = True
            lent = list(self._lent)
        for pending in lent:
            pending.settle()
        with self.lock:
            self.lock.wait_for(lambda: not self._lent)

    def drop_requests(self) -> None:
        """After ``close``: let go of every request, so the compiled model can be released."""
        while True:
            try:
                self._free.get_nowait()
            except queue.Empty:
                return

    def busy(self) -> int:
        """Requests lent out now."""
        with self.lock:
            return len(self._lent)

    def _lend(self, tensor: npt.NDArray[Any]) -> tuple[RequestPending, ov.InferRequest]:
        """A free request, lent to a new pending for ``tensor`` (blocks while every request is lent)."""
        while True:
            try:
                request: ov.InferRequest | None = self._free.get(timeout=_TAKE_POLL_S)
            except queue.Empty:
                request = None
            with self.lock:
                if self._closing:
                    if request is not None:
                        self._free.put(request)
                    msg = "the OpenVINO engine is closed"
                    raise EngineError(msg)
                if request is not None:
                    pending = RequestPending(self, request, tensor)
                    self._lent.add(pending)
                    return pending, request

    def give_back(self, pending: RequestPending, request: ov.InferRequest) -> None:
        """``pending`` is released and ``request`` has finished: the request is free again."""
        with self.lock:
            self._lent.discard(pending)
            self.lock.notify_all()
        self._free.put(request)


class RequestPending:
    """A :class:`~edge_inspect.types.Pending` on one lent infer request."""

    __slots__ = ("_outputs", "_pool", "_request", "handed", "released", "tensor")

    def __init__(self, pool: RequestPool, request: ov.InferRequest, tensor: npt.NDArray[Any]) -> None:
        self._pool = pool
        self._request: ov.InferRequest | None = request
        """The lent request, until it is back in the pool."""
        self.tensor: npt.NDArray[Any] | None = tensor
        """The input, kept alive while OpenVINO reads it (zero-copy)."""
        self._outputs: FloatArray | None = None
        self.handed = False
        """Outputs were handed to the consumer, who reads the request's memory until ``release``."""
        self.released = False

    def done(self) -> bool:
        """Whether ``wait`` would return at once (outputs or a failure)."""
        request = self._request
        if request is None or self._outputs is not None:
            return True
        try:
            return bool(request.wait_for(0))
        except RuntimeError:
            return True

    def wait(self, timeout: float | None = None) -> FloatArray | None:
        if self._outputs is not None:
            return self._outputs
        request = self._request
        if request is None or self.released:
            msg = (
                "the inference was released before its outputs were read"
                if self.released
                else "the OpenVINO engine closed before the outputs were read"
            )
            raise EngineError(msg)
        try:
            if timeout is None:
                request.wait()
            elif not request.wait_for(max(0, round(timeout * 1000.0))):
                return None
        except RuntimeError as exc:
            msg = f"inference failed: {first_line(exc)}"
            raise EngineError(msg) from exc
        with self._pool.lock:
            if self._pool.closed:
                msg = "the OpenVINO engine closed before the outputs were read"
                raise EngineError(msg)
            self.handed = True
        outputs: FloatArray = request.get_output_tensor(self._pool.output_index).data
        self._outputs = outputs
        return outputs

    def release(self) -> None:
        """Done with the outputs (or giving the frame up). Never blocks; safe to call twice."""
        with self._pool.lock:
            if self.released:
                return
            finished = self.handed  # its outputs were read: the request has finished
            self.released = True
            self.handed = False
            self._pool.lock.notify_all()
        self._outputs = None
        if finished or self.done():
            self._back_to_pool()
        # else: still running; ``settle`` (at close) returns it once it has finished

    def settle(self) -> None:
        """At close: wait for the request to finish; unless a consumer still reads it, give it back."""
        request = self._request
        if request is None:
            return
        _finish(request)
        with self._pool.lock:
            if self.handed and not self.released:
                return  # the consumer is reading it and releases it
        self._back_to_pool()

    def _back_to_pool(self) -> None:
        with self._pool.lock:
            request, self._request = self._request, None
        if request is not None:
            self.tensor = None
            self._pool.give_back(self, request)


def _finish(request: ov.InferRequest) -> None:
    """Wait for ``request``; its failure was (or will be) reported to whoever waits on its frame."""
    try:
        request.wait()
    except RuntimeError:
        return
