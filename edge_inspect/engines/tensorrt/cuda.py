"""TensorRT and pycuda, imported lazily; the CUDA context made current explicitly; TensorRT's log in ours.

``pycuda.autoinit`` is not used: it makes a context current on the importing thread only and pops it at
interpreter exit, while the daemon does its CUDA work on engine threads and must free buffers in a known
order. Instead the device's *primary* context (the one TensorRT's runtime uses too) is retained once and
pushed on every thread, for the duration of the work, by :meth:`CudaGpu.active`.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import structlog

from edge_inspect.errors import EngineError, MissingDependencyError

log = structlog.get_logger(__name__)

PURPOSE = "The TensorRT engine (on a Jetson, TensorRT and CUDA come with JetPack: see the README)"
MIN_TENSORRT_MAJOR = 10
"""The name-based tensor API (set_tensor_address, execute_async_v3) is TensorRT 10's."""
_RECENT_ERRORS = 20


def import_tensorrt() -> ModuleType:
    """``import tensorrt``, or MissingDependencyError naming the extra; refuse a TensorRT older than 10."""
    try:
        import tensorrt  # noqa: PLC0415 (optional, heavy, GPU boxes only)
    except ImportError as exc:
        if exc.name == "tensorrt":
            raise MissingDependencyError("tensorrt", "tensorrt", PURPOSE) from exc
        msg = f"tensorrt is installed but does not load: {exc}"
        raise EngineError(msg) from exc
    except OSError as exc:  # its shared libraries (libnvinfer) are missing or mismatched
        msg = f"tensorrt is installed but its libraries do not load: {exc}"
        raise EngineError(msg) from exc
    module: ModuleType = tensorrt
    check_tensorrt_version(str(getattr(module, "__version__", "0")))
    return module


def check_tensorrt_version(version: str) -> None:
    """Raise EngineError unless ``version`` is TensorRT 10 or newer."""
    head = version.split(".", 1)[0]
    major = int(head) if head.isdigit() else 0
    if major < MIN_TENSORRT_MAJOR:
        msg = (
            f"TensorRT {version} is too old: the engine needs TensorRT {MIN_TENSORRT_MAJOR} "
            "(name-based tensors, execute_async_v3); on a Jetson that is JetPack 6"
        )
        raise EngineError(msg)


def import_cuda() -> ModuleType:
    """``import pycuda.driver`` (no autoinit), or MissingDependencyError naming the extra."""
    try:
        import pycuda.driver as cuda  # noqa: PLC0415 (optional, needs CUDA)
    except ImportError as exc:
        if exc.name in ("pycuda", "pycuda.driver"):
            raise MissingDependencyError("pycuda", "tensorrt", PURPOSE) from exc
        msg = f"pycuda is installed but does not load (CUDA driver missing?): {exc}"
        raise EngineError(msg) from exc
    except OSError as exc:
        msg = f"pycuda is installed but the CUDA driver does not load: {exc}"
        raise EngineError(msg) from exc
    module: ModuleType = cuda
    return module


class CudaGpu:
    """One CUDA device and its retained primary context, made current with :meth:`active`."""

    def __init__(self, cuda: ModuleType, index: int) -> None:
        self._cuda = cuda
        try:
            cuda.init()
            count = cuda.Device.count()
        except Exception as exc:
            msg = f"CUDA does not initialise (driver missing or mismatched?): {exc}"
            raise EngineError(msg) from exc
        if not 0 <= index < count:
            msg = f"engine.device is {index} but the CUDA driver reports {count} device(s)"
            raise EngineError(msg)
        self.index = index
        self.device = cuda.Device(index)
        self.name = str(self.device.name())
        major, minor = self.device.compute_capability()
        self.compute_capability = (int(major), int(minor))
        self._context: Any = self.device.retain_primary_context()

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make the context current on this thread for the block (push / pop, always balanced)."""
        self._context.push()
        try:
            yield
        finally:
            self._cuda.Context.pop()

    def release(self) -> None:
        """Drop this process's hold on the primary context (after every buffer has been freed)."""
        if self._context is not None:
            self._context.detach()
            self._context = None


def make_trt_logger(trt: ModuleType) -> Any:
    """A ``trt.ILogger`` that writes TensorRT's messages to our log and remembers the recent errors.

    The errors are what a failed deserialize or build explains itself with, so they go into the
    EngineError or the rebuild log line rather than only to stdout.
    """
    severity = trt.ILogger.Severity
    levels = {
        severity.INTERNAL_ERROR: "error",
        severity.ERROR: "error",
        severity.WARNING: "warning",
        severity.INFO: "debug",
    }

    class TrtLog(trt.ILogger):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.recent_errors: collections.deque[str] = collections.deque(maxlen=_RECENT_ERRORS)

        def log(self, level: Any, msg: str) -> None:
            name = levels.get(level)
            if name is None:
                return
            if name == "error":
                self.recent_errors.append(msg)
            getattr(log, name)("tensorrt", message=msg)

        def take_errors(self) -> str:
            """The errors logged since the last call, joined; empty when there were none."""
            text = " | ".join(self.recent_errors)
            self.recent_errors.clear()
            return text

    return TrtLog()
