"""The OpenVINO engine: a model package's IR or ONNX on CPU, GPU, NPU or AUTO.

Two ways in. ``start`` (the pipeline's) lends a frame of one request an infer request of its own and
returns a Pending: the consumer waits on the request and reads its outputs in place, and no Python runs
on OpenVINO's threads (see ``openvino/requests.py``). ``submit`` runs through an AsyncInferQueue: a frame of N
tiles becomes one infer request per tile (per model batch), so the device's streams work on several
tiles at once, and its callback fires once with all rows in tile order (:class:`FrameJob`); ``start``
takes this path too for a frame of several requests. Both block while every request is busy or lent:
that is the pipeline's back-pressure, and OpenVINO releases the GIL while it waits.

Three properties of OpenVINO's Python API shape this module (openvino 2026.4, checked in the tests):
- an exception raised in a Python callback terminates the process, so the callback catches everything
  and hands it to the frame;
- a request whose inference fails never calls back and poisons the queue: every later ``start_async``
  and ``wait_all`` re-raises its error. The engine then finds that request, fails its frame, and
  replaces the queue, so one bad frame costs one frame;
- a compiled model destroyed on one of its own threads, or while one of them waits for the GIL, aborts
  or hangs the process. So nothing an OpenVINO thread holds owns the engine (see jobs.py), and
  ``close`` releases the compiled model only once its threads are quiet.
"""

from __future__ import annotations

import functools
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import openvino as ov
import structlog

from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.engines.jobs import FrameJob, InFlight
from edge_inspect.engines.openvino.load import OpenVINORuntime, first_line, load_model
from edge_inspect.engines.openvino.requests import RequestPool
from edge_inspect.engines.pending import start_with_submit
from edge_inspect.engines.specs import check_input
from edge_inspect.errors import EngineError
from edge_inspect.model.package import ModelPackage
from edge_inspect.types import EngineCallback, FloatArray, Pending, TensorSpec

log = structlog.get_logger(__name__)

_SETTLE_S = 0.05
"""Pause, without the GIL, between the last request and releasing the compiled model (see ``close``).

Without it, 2 of 12 runs of the AUTO-device tests in tests/unit/engines/openvino/test_engine.py hung (the
destructor joining a thread that waited for the GIL); with it, none of 16, nor of 25 runs of the file.
"""


class OpenVINOEngine:
    """Engine Protocol on OpenVINO. Thread-safe: ``submit`` and ``infer`` may be called from any thread.

    A callback runs on an OpenVINO thread and must not call ``submit`` itself (it would wait for the
    request it is holding).
    """

    def __init__(
        self,
        config: OpenVINOEngineConfig,
        package: ModelPackage,
        variant: str | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        loaded = load_model(config, package, variant, cache_dir)
        self._compiled = loaded.compiled
        self._in_port = loaded.input_port
        # The queue's callback holds only the output index, never the engine (see jobs.py).
        self._on_done = functools.partial(_copy_rows, loaded.output_index)
        self._input_spec = loaded.input_spec
        self._output_spec = loaded.output_spec
        self.runtime: OpenVINORuntime = loaded.runtime
        """What the compiled model runs with (precision, streams, requests...), read back from OpenVINO."""
        self._pool = RequestPool(self._compiled, loaded.runtime.requests, self._in_port, loaded.output_index)
        self._queue_made: ov.AsyncInferQueue | None = None
        """The callback path's requests, made on first use (a daemon of one-request frames never does)."""
        self._retired: list[ov.AsyncInferQueue] = []
        self._submit_lock = threading.Lock()
        self._in_flight = InFlight()
        self._closed = False
        rt = self.runtime
        log.info(
            "openvino engine loaded",
            model=rt.model,
            variant=rt.variant,
            path=str(rt.path),
            device=rt.device,
            execution_devices=list(rt.execution_devices),
            precision=rt.precision,
            streams=rt.streams,
            requests=rt.requests,
            compile_ms=rt.compile_ms,
            cache_dir=str(rt.cache_dir) if rt.cache_dir else None,
            input=list(self._input_spec.shape),
            output=list(self._output_spec.shape),
        )

    # ------------------------------------------------------------------------------------- Engine Protocol

    @property
    def input_spec(self) -> TensorSpec:
        """The input one infer request takes; ``shape[0]`` tiles (a frame may have any multiple)."""
        return self._input_spec

    @property
    def output_spec(self) -> TensorSpec:
        return self._output_spec

    def infer(self, tensor: npt.NDArray[Any]) -> FloatArray:
        """Run N tiles and wait: ``start``'s path (the daemon's), with the rows copied out."""
        pending = self.start(tensor)
        try:
            outputs = pending.wait()
            if outputs is None:  # wait() without a timeout returns rows or raises
                msg = "inference gave no outputs"
                raise EngineError(msg)
            return np.array(outputs, dtype=np.float32, copy=True)
        finally:
            pending.release()

    def start(self, tensor: npt.NDArray[Any]) -> Pending:
        """Start N tiles; wait for their rows on the returned Pending, and release it once read.

        A frame of one request runs on a lent request and its rows are read in place; a frame of several
        goes through ``submit`` (its rows are then a copy). Raises EngineError, as ``submit`` does, for a
        tensor that does not fit the input or a closed engine; a failed inference raises from ``wait``.
        """
        n = check_input(tensor, self._input_spec)
        if n != self._input_spec.shape[0]:
            return start_with_submit(self.submit, tensor)
        if self._closed:
            msg = "the OpenVINO engine is closed"
            raise EngineError(msg)
        return self._pool.start(tensor)

    def submit(self, tensor: npt.NDArray[Any], callback: EngineCallback) -> None:
        """Start N tiles; ``callback`` fires once with (N, ...) rows in tile order, or with an error.

        Raises EngineError, without calling ``callback``, for a tensor that does not fit the input or a
        closed engine; any later failure reaches ``callback``. Blocks while every request is busy.
        ``callback`` usually runs on an OpenVINO thread; when a tile cannot start, on this one.
        """
        n = check_input(tensor, self._input_spec)
        per_request = self._input_spec.shape[0]
        with self._submit_lock:
            if self._closed:
                msg = "the OpenVINO engine is closed"
                raise EngineError(msg)
            job = FrameJob(
                n // per_request, per_request, self._output_spec.shape[1:], callback, self._in_flight
            )
            for chunk in range(n // per_request):
                if job.done:  # a tile failed to start: the frame has had its error
                    break
                self._start(job, chunk, tensor[chunk * per_request : (chunk + 1) * per_request])

    def wait_all(self) -> None:
        """Wait until every submitted frame has had its callback (``start``'s frames: see ``close``)."""
        with self._submit_lock:
            if not self._closed:
                self._drain()
            self._in_flight.wait_idle()

    def close(self) -> None:
        """Finish in-flight frames, then release the compiled model. Safe to call twice."""
        with self._submit_lock:
            if self._closed:
                return
            self._pool.close()  # every lent request finished; those being read, released
            self._drain()
            self._in_flight.wait_idle()
            # Every frame has had its callback; now wait until each request has left its callback too,
            # then let OpenVINO's threads finish their last steps, some of which take the GIL, before
            # the compiled model's destructor joins those threads while this thread holds the GIL.
            self._drain()
            for old in self._retired:
                _settle(old)
            time.sleep(_SETTLE_S)
            self._closed = True
            self._retired.clear()
            self._pool.drop_requests()
            del self._queue_made, self._compiled, self._in_port
        log.info("openvino engine closed", model=self.runtime.model, variant=self.runtime.variant)

    def __enter__(self) -> OpenVINOEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- internals

    @property
    def _queue(self) -> ov.AsyncInferQueue:
        if self._queue_made is None:
            self._queue_made = self._new_queue()
        return self._queue_made

    def _new_queue(self) -> ov.AsyncInferQueue:
        queue = ov.AsyncInferQueue(self._compiled, self.runtime.requests)
        queue.set_callback(self._on_done)
        return queue

    def _start(self, job: FrameJob, chunk: int, rows: npt.NDArray[Any]) -> None:
        """Start one request (submit lock held). A poisoned queue is replaced and the start retried once."""
        for attempt in (1, 2):
            try:
                # zero-copy: OpenVINO reads the frame's own tensor (never reused: each frame gets a new
                # one), which the userdata keeps alive until the request has called back
                self._queue.start_async({self._in_port: rows}, (job, chunk, rows), share_inputs=True)
            except Exception as exc:
                if attempt == 1 and self._recover():
                    continue
                job.fail(EngineError(f"cannot start inference of tile {chunk * job.rows_per_chunk}: {exc}"))
            return

    def _drain(self) -> None:
        """Wait for every started request (submit lock held), recovering from a failed one."""
        if self._queue_made is None:
            return
        try:
            self._queue_made.wait_all()
        except RuntimeError as exc:
            if not self._recover():
                msg = f"OpenVINO infer queue failed: {first_line(exc)}"
                raise EngineError(msg) from exc

    def _recover(self) -> bool:
        """Fail the frames of failed requests and replace the queue; False when no request had failed."""
        old = self._queue
        failed: list[tuple[Any, RuntimeError]] = []
        for index, request in enumerate(old):
            try:
                request.wait()
            except RuntimeError as exc:
                failed.append((old.userdata[index], exc))
        if not failed:
            return False
        for (job, chunk, _rows), error in failed:
            tile = chunk * job.rows_per_chunk
            job.fail(EngineError(f"inference of tile {tile} failed: {first_line(error)}"))
        # The old queue may still be running callbacks of its healthy requests: keep it alive until close.
        self._retired.append(old)
        self._queue_made = self._new_queue()
        log.warning("infer request failed; queue replaced", failed=len(failed), model=self.runtime.model)
        return True


def _copy_rows(
    output_index: int, request: ov.InferRequest, userdata: tuple[FrameJob, int, npt.NDArray[Any]]
) -> None:
    """AsyncInferQueue callback, on an OpenVINO thread: copy the rows out before the request is reused."""
    job, chunk, _rows = userdata
    try:
        job.put(chunk, request.get_output_tensor(output_index).data)
    except BaseException as exc:  # an exception escaping here terminates the process
        job.fail(EngineError(f"reading the output of tile {chunk * job.rows_per_chunk}: {exc}"))


def _settle(queue: ov.AsyncInferQueue) -> None:
    """Wait for every request of a replaced queue; their failures were reported when it was replaced."""
    for request in queue:
        try:
            request.wait()
        except RuntimeError:
            continue
