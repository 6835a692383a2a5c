"""Mode (a): the engine alone on pre-made input tensors, the ceiling the daemon is compared with.

For OpenVINO this is what ``benchmark_app`` measures: the model compiled with the daemon's own
properties (device, precision, hint, streams, threads), an ``AsyncInferQueue`` of the same number of
requests, each request holding a pre-made input tensor, restarted as soon as it finishes; latency is
OpenVINO's own per-request figure (``InferRequest.latency``). Nothing of the daemon's runs.

Mode (a') and other backends (TensorRT) go through the :class:`~edge_inspect.types.Engine` Protocol:
``submit`` of pre-made frame tensors in a loop; latency runs from the ``submit`` call to the callback, so
it includes the wait for a free request. For OpenVINO, (a') against (a) is the cost of the engine wrapper.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy.typing as npt
import openvino as ov

from edge_inspect.bench.completions import Completions, Measured
from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.engines import open_engine
from edge_inspect.engines.openvino.load import load_model
from edge_inspect.errors import EngineError
from edge_inspect.model.package import ModelPackage
from edge_inspect.types import FloatArray

Tensor = npt.NDArray[Any]


def requests_per_frame(frame_rows: int, rows_per_request: int) -> int:
    """Infer requests one frame of ``frame_rows`` tiles needs, at ``rows_per_request`` tiles each."""
    if rows_per_request < 1 or frame_rows < 1 or frame_rows % rows_per_request:
        msg = f"a frame of {frame_rows} tiles does not split into requests of {rows_per_request}"
        raise EngineError(msg)
    return frame_rows // rows_per_request


def run_openvino(
    config: OpenVINOEngineConfig,
    package: ModelPackage,
    tensors: Sequence[Tensor],
    *,
    frames: int,
    warmup: int,
    variant: str | None = None,
    cache_dir: Path | None = None,
) -> tuple[Measured, dict[str, Any]]:
    """Run ``frames`` frames' worth of requests on the raw compiled model; returns figures and settings."""
    loaded = load_model(config, package, variant, cache_dir)
    rows = loaded.input_spec.shape[0]
    per_frame = requests_per_frame(tensors[0].shape[0], rows)
    inputs = [t[i : i + rows] for t in tensors for i in range(0, t.shape[0], rows)]
    requests = loaded.runtime.requests
    total = frames * per_frame
    done = Completions(warmup * per_frame, expected=total)

    def finished(request: Any, _userdata: Any) -> None:
        done.add(float(request.latency))

    queue = ov.AsyncInferQueue(loaded.compiled, requests)
    for index, request in enumerate(queue):
        request.set_tensor(loaded.input_port, ov.Tensor(inputs[index % len(inputs)]))
    queue.set_callback(finished)
    for _ in range(total):
        queue.start_async()
    queue.wait_all()
    measured = done.result()
    rt = loaded.runtime
    settings = {
        "device": rt.device,
        "execution_devices": list(rt.execution_devices),
        "precision": rt.precision,
        "hint": config.performance_hint,
        "streams": rt.streams,
        "threads": _threads(loaded.compiled),
        "requests": requests,
        "requests_per_frame": per_frame,
    }
    del queue
    return _per_frame(measured, per_frame), settings


def _threads(compiled: Any) -> int | None:
    try:
        return int(compiled.get_property("INFERENCE_NUM_THREADS"))
    except (RuntimeError, TypeError, ValueError):
        return None


def _per_frame(measured: Measured, per_frame: int) -> Measured:
    """Request-level figures as frame-level ones: fps divided by requests per frame."""
    if per_frame == 1:
        return measured
    return Measured(
        frames=measured.frames // per_frame,
        measured=measured.measured // per_frame,
        fps=measured.fps / per_frame,
        latency_ms=measured.latency_ms,
        usage=measured.usage,
        probe_pct=measured.probe_pct,
    )


def run_engine(
    config: Any,
    package: ModelPackage,
    tensors: Sequence[Tensor],
    *,
    frames: int,
    warmup: int,
    variant: str | None = None,
    cache_dir: Path | None = None,
) -> Measured:
    """``frames`` pre-made frame tensors through the Engine Protocol's ``submit``, as the pipeline does."""
    engine = open_engine(config, package, variant, cache_dir)
    done = Completions(warmup, expected=frames)
    failures: list[BaseException] = []
    try:
        for index in range(frames):
            started = time.monotonic()

            def callback(
                outputs: FloatArray | None, error: BaseException | None, started: float = started
            ) -> None:
                if error is not None:
                    failures.append(error)
                done.add((time.monotonic() - started) * 1000.0)

            engine.submit(tensors[index % len(tensors)], callback)
        engine.wait_all()
    finally:
        engine.close()
    if failures:
        msg = f"{len(failures)} of {frames} inferences failed; the first: {failures[0]}"
        raise EngineError(msg)
    return done.result()
