"""The TensorRT engine: a plan built from the package's ONNX (or prebuilt), run on K execution slots.

Threads: ``submit`` (the caller's) only waits for a free slot (back-pressure) and copies the tiles into
that slot's page-locked buffer; a *launch* thread queues copy-in, ``execute_async_v3`` and copy-out on the
slot's stream; a *complete* thread waits for each slot's event in submission order, copies the outputs out
and calls the callback. Both threads have the device's primary context pushed for their lifetime, and
every other CUDA call (build, allocation, release) pushes it around itself, so no CUDA call ever runs on a
thread without the context.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import structlog

from edge_inspect.config.engines import TensorRTEngineConfig
from edge_inspect.engines.pending import start_with_submit
from edge_inspect.engines.specs import check_input
from edge_inspect.engines.tensorrt.cuda import CudaGpu, import_cuda, import_tensorrt, make_trt_logger
from edge_inspect.engines.tensorrt.plan import PlanSource, describe_io
from edge_inspect.engines.tensorrt.slots import Slot, create_slot, enqueue, free_slot, too_many_tiles
from edge_inspect.errors import EngineError
from edge_inspect.model import ModelPackage
from edge_inspect.types import EngineCallback, FloatArray, Pending, TensorSpec

log = structlog.get_logger(__name__)

_STOP = None
_FREE_SLOT_POLL_S = 0.5


def plan_cache_dir(configured: Path | None, app_cache_dir: Path | None) -> Path | None:
    """``engine.cache_dir``, else ``<paths.cache_dir>/tensorrt``, else None (no cache)."""
    if configured is not None:
        return configured
    return None if app_cache_dir is None else app_cache_dir / "tensorrt"


class TensorRTEngine:
    """An :class:`~edge_inspect.types.Engine` on an NVIDIA GPU through TensorRT 10 and pycuda."""

    def __init__(
        self,
        config: TensorRTEngineConfig,
        package: ModelPackage,
        variant: str | None,
        cache_dir: Path | None,
    ) -> None:
        self.config = config
        self._package = package
        self._trt = import_tensorrt()
        self._cuda = import_cuda()
        self._gpu = CudaGpu(self._cuda, config.device)
        self._logger = make_trt_logger(self._trt)
        self._slots: list[Slot] = []
        self._engine: Any = None
        try:
            with self._gpu.active():
                self._runtime = self._trt.Runtime(self._logger)
                source = PlanSource(
                    self._trt, self._cuda, self._runtime, self._logger, self._gpu, config, package
                )
                self._engine = source.load(variant, plan_cache_dir(config.cache_dir, cache_dir))
                self._io, self._input_spec, self._output_spec = describe_io(
                    self._trt, self._engine, package, config.max_batch
                )
                self._slots = [
                    create_slot(self._cuda, self._engine, self._io, i) for i in range(config.num_contexts)
                ]
        except BaseException:
            self._release_gpu()
            raise
        self._free: queue.Queue[Slot] = queue.Queue()
        for slot in self._slots:
            self._free.put(slot)
        self._launch: queue.Queue[Slot | None] = queue.Queue()
        self._complete: queue.Queue[Slot | None] = queue.Queue()
        self._idle = threading.Condition()
        self._in_flight = 0
        self._closed = False
        self._threads = [
            threading.Thread(target=self._launch_loop, name="tensorrt-launch", daemon=True),
            threading.Thread(target=self._complete_loop, name="tensorrt-complete", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        log.info(
            "tensorrt engine ready",
            gpu=self._gpu.name,
            precision=config.precision,
            contexts=config.num_contexts,
            tiles_per_enqueue=self._io.chunk,
            dynamic_batch=self._io.dynamic_batch,
        )

    # ---------------------------------------------------------------------------------------- the Engine

    @property
    def input_spec(self) -> TensorSpec:
        """The input one request takes: ``shape[0]`` is 1 for a dynamic batch (any N up to max_batch)."""
        return self._input_spec

    @property
    def output_spec(self) -> TensorSpec:
        return self._output_spec

    def submit(self, tensor: npt.NDArray[Any], callback: EngineCallback) -> None:
        """Queue N tiles; blocks only while every slot is busy. ``callback`` runs on the complete thread.

        Raises EngineError, without calling ``callback``, for a tensor that does not fit the input (shape,
        dtype, more tiles than ``max_batch``) or a closed engine; a later failure reaches ``callback``.
        """
        tiles = check_input(tensor, self._input_spec)
        problem = too_many_tiles(tiles, self.config.max_batch)
        if problem is not None:
            msg = f"input {self._input_spec.name!r}: {problem}"
            raise EngineError(msg)
        slot = self._take_free_slot()
        slot.tiles = tiles
        slot.callback = callback
        slot.host_in[:tiles] = tensor  # the caller may reuse its array as soon as submit returns
        with self._idle:
            self._in_flight += 1
        self._launch.put(slot)

    def start(self, tensor: npt.NDArray[Any]) -> Pending:
        """``submit`` with the rows waited for on a Pending (they are the complete thread's own copy)."""
        return start_with_submit(self.submit, tensor)

    def _take_free_slot(self) -> Slot:
        while True:
            if self._closed:
                msg = "the TensorRT engine is closed"
                raise EngineError(msg)
            try:
                return self._free.get(timeout=_FREE_SLOT_POLL_S)
            except queue.Empty:
                continue

    def infer(self, tensor: npt.NDArray[Any]) -> FloatArray:
        """Run N tiles and wait for their outputs."""
        finished = threading.Event()
        box: list[Any] = [None, None]

        def on_done(outputs: FloatArray | None, error: BaseException | None) -> None:
            box[0], box[1] = outputs, error
            finished.set()

        self.submit(tensor, on_done)
        finished.wait()
        if box[1] is not None:
            raise box[1]
        result: FloatArray = box[0]
        return result

    def wait_all(self) -> None:
        with self._idle:
            self._idle.wait_for(lambda: self._in_flight == 0)

    def close(self) -> None:
        """Finish what is in flight, stop the threads, free every GPU buffer and the context hold."""
        if self._closed:
            return
        self.wait_all()
        self._closed = True
        self._launch.put(_STOP)
        for thread in self._threads:
            thread.join()
        self._release_gpu()
        log.info("tensorrt engine closed")

    # --------------------------------------------------------------------------------------- the threads

    def _launch_loop(self) -> None:
        with self._gpu.active():
            while (slot := self._launch.get()) is not _STOP:
                try:
                    enqueue(self._cuda, slot, self._io)
                except Exception as exc:
                    self._abandon(slot, exc)
                    continue
                self._complete.put(slot)
            self._complete.put(_STOP)

    def _abandon(self, slot: Slot, exc: Exception) -> None:
        """A launch failed part-way: let what was queued drain before the slot's buffers are reused."""
        try:
            slot.stream.synchronize()
        except Exception as sync_exc:
            log.warning(
                "cuda stream did not drain after a failed launch", slot=slot.index, error=str(sync_exc)
            )
        error = exc if isinstance(exc, EngineError) else EngineError(f"TensorRT launch failed: {exc}")
        self._finish(slot, None, error)

    def _complete_loop(self) -> None:
        with self._gpu.active():
            while (slot := self._complete.get()) is not _STOP:
                try:
                    slot.done.synchronize()
                    outputs = np.array(slot.host_out[: slot.tiles], dtype=np.float32, copy=True)
                except Exception as exc:
                    self._finish(slot, None, EngineError(f"TensorRT inference failed: {exc}"))
                    continue
                self._finish(slot, outputs, None)

    def _finish(self, slot: Slot, outputs: FloatArray | None, error: BaseException | None) -> None:
        callback, slot.callback = slot.callback, None
        self._free.put(slot)
        try:
            if callback is not None:
                callback(outputs, error)
        except Exception:  # a caller's bug must not stop the engine
            log.exception("engine callback failed")
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _release_gpu(self) -> None:
        with self._gpu.active():
            for slot in self._slots:
                free_slot(slot)
            self._slots = []
            self._engine = None
            self._runtime = None
        self._gpu.release()
