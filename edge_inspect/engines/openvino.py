"""The OpenVINO engine: a model package's IR or ONNX on CPU, GPU, NPU or AUTO, run on raw infer requests.

A frame of N tiles becomes one infer request per tile (per model batch), so the device's streams work on
several tiles at once while the other stages prepare the next frame. ``submit`` starts requests and blocks
while every one is busy (the pipeline's back-pressure; the wait releases the GIL). One completion thread
waits for the started requests in the order they were started, copies their rows into the frame's output
(:class:`FrameJob`) and calls the frame back once, with all rows in tile order or with an error.

Why not ``AsyncInferQueue`` and its callbacks: a callback is Python, run on the OpenVINO thread that
finished the request, so that thread needs the GIL before it can take its next inference. On a 2-core
station where the daemon's own threads hold the GIL in turns, an engine thread then waits up to the
interpreter's switch interval (5 ms) for it, and that stream idles meanwhile. Here OpenVINO's threads
never run Python: they only finish requests, and start the next queued one at once when there is one.
(On the 2-core reference machine the daemon's throughput measured the same either way, within the host's
noise.) The callback-free design also removes the hazards the queue had: a failed request poisoned the
queue (every later start re-raised its error), and a compiled model destroyed while one of its threads
waited for the GIL hung the process. A failed inference now raises in ``wait`` of its own request, which
fails its frame only; the request is used again.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy.typing as npt
import openvino as ov
import structlog

from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.engines.jobs import FrameJob, InFlight
from edge_inspect.engines.ov_load import OpenVINORuntime, first_line, load_model
from edge_inspect.engines.specs import check_input
from edge_inspect.errors import EngineError
from edge_inspect.model.package import ModelPackage
from edge_inspect.types import EngineCallback, FloatArray, TensorSpec

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class _Started:
    """One started request and the tile of the frame it runs (``rows`` kept alive: OpenVINO reads it)."""

    request: ov.InferRequest
    job: FrameJob
    chunk: int
    rows: npt.NDArray[Any]


class OpenVINOEngine:
    """Engine Protocol on OpenVINO. Thread-safe: ``submit`` and ``infer`` may be called from any thread.

    Callbacks run on the engine's completion thread, one at a time, in the order frames were submitted;
    a callback must not call ``submit`` itself (it would wait for the request it is holding).
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
        self._output_index = loaded.output_index
        self._input_spec = loaded.input_spec
        self._output_spec = loaded.output_spec
        self.runtime: OpenVINORuntime = loaded.runtime
        """What the compiled model runs with (precision, streams, requests...), read back from OpenVINO."""
        self._requests = [self._compiled.create_infer_request() for _ in range(self.runtime.requests)]
        self._free: deque[ov.InferRequest] = deque(self._requests)
        self._started: deque[_Started] = deque()
        self._changed = threading.Condition()
        """Guards ``_free``, ``_started`` and ``_closed``; notified whenever one of them changes."""
        self._submit_lock = threading.Lock()
        """Serialises submitters, so the tiles of one frame start together and in order."""
        self._in_flight = InFlight()
        self._closed = False
        self._completer = threading.Thread(target=self._complete_loop, name="openvino-complete", daemon=True)
        self._completer.start()
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
        """Run N tiles and wait: the same path as ``submit``, so both give the same numbers."""
        finished = threading.Event()
        outputs: list[FloatArray] = []
        errors: list[BaseException] = []

        def done(rows: FloatArray | None, error: BaseException | None) -> None:
            outputs.extend(() if rows is None else (rows,))
            errors.extend(() if error is None else (error,))
            finished.set()

        self.submit(tensor, done)
        finished.wait()
        if errors:
            raise errors[0] if isinstance(errors[0], EngineError) else EngineError(str(errors[0]))
        return outputs[0]

    def submit(self, tensor: npt.NDArray[Any], callback: EngineCallback) -> None:
        """Start N tiles; ``callback`` fires once with (N, ...) rows in tile order, or with an error.

        Raises EngineError, without calling ``callback``, for a tensor that does not fit the input or a
        closed engine; any later failure reaches ``callback``. Blocks while every request is busy.
        ``callback`` runs on the completion thread; when a tile cannot start, on this one.
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
        """Wait until every submitted frame has had its callback."""
        with self._submit_lock:
            self._in_flight.wait_idle()

    def close(self) -> None:
        """Finish in-flight frames, stop the completion thread, release the compiled model. Safe twice."""
        with self._submit_lock:
            if self._closed:
                return
            self._in_flight.wait_idle()
            with self._changed:
                self._closed = True
                self._changed.notify_all()
        self._completer.join()
        # Every request has been waited for and no OpenVINO thread holds anything of Python's: release.
        self._free.clear()
        self._requests.clear()
        del self._compiled, self._in_port
        log.info("openvino engine closed", model=self.runtime.model, variant=self.runtime.variant)

    def __enter__(self) -> OpenVINOEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- internals

    def _start(self, job: FrameJob, chunk: int, rows: npt.NDArray[Any]) -> None:
        """Start one tile on the next free request (submit lock held), waiting for one while all are busy."""
        with self._changed:
            while not self._free:
                self._changed.wait()
            request = self._free.popleft()
        try:
            # zero-copy: OpenVINO reads the frame's own tensor (never reused: each frame gets a new one),
            # which ``_Started`` keeps alive until the request has been waited for
            request.start_async({self._in_port: rows}, share_inputs=True)
        except Exception as exc:
            with self._changed:
                self._free.append(request)
                self._changed.notify_all()
            job.fail(EngineError(f"cannot start inference of tile {chunk * job.rows_per_chunk}: {exc}"))
            return
        with self._changed:
            self._started.append(_Started(request, job, chunk, rows))
            self._changed.notify_all()

    def _complete_loop(self) -> None:
        """Wait for started requests in start order; hand each one's rows to its frame; free the request."""
        while True:
            with self._changed:
                while not self._started and not self._closed:
                    self._changed.wait()
                if not self._started:
                    return  # closed, and nothing left to wait for
                started = self._started[0]
            self._finish(started)
            with self._changed:
                self._started.popleft()
                self._free.append(started.request)
                self._changed.notify_all()

    def _finish(self, started: _Started) -> None:
        tile = started.chunk * started.job.rows_per_chunk
        try:
            started.request.wait()  # releases the GIL
        except RuntimeError as exc:
            log.warning("infer request failed", tile=tile, error=first_line(exc), model=self.runtime.model)
            started.job.fail(EngineError(f"inference of tile {tile} failed: {first_line(exc)}"))
            return
        try:
            started.job.put(started.chunk, started.request.get_output_tensor(self._output_index).data)
        except Exception as exc:  # the completion thread must outlive any one frame
            started.job.fail(EngineError(f"reading the output of tile {tile}: {exc}"))
