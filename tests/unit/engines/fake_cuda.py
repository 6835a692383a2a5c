"""FAKE pycuda.driver for the TensorRT engine's tests on machines without an NVIDIA GPU (see trt_fakes).

Device memory is real bytes at integer addresses; a stream runs its operations later, in order, on its own
thread (a host->device copy reads host memory when it runs, as CUDA does); every call checks that a
context is current on the calling thread and records a violation when not.
"""

from __future__ import annotations

import importlib.machinery
import itertools
import queue
import threading
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt


class FakeCudaError(RuntimeError):
    pass


class FakeCuda(ModuleType):
    """Stands in for ``pycuda.driver``."""

    def __init__(self, devices: tuple[tuple[str, tuple[int, int]], ...] = (("Fake T4", (7, 5)),)) -> None:
        super().__init__("pycuda.driver")
        self.__spec__ = importlib.machinery.ModuleSpec("pycuda.driver", None)  # as find_spec() expects
        self.devices = devices
        self.violations: list[str] = []
        self.memory: dict[int, npt.NDArray[np.uint8]] = {}
        self.freed: set[int] = set()
        self.kernel_seconds = 0.0
        self.streams: dict[int, FakeStream] = {}
        self.initialised = False
        self.contexts_detached = 0
        self._local = threading.local()
        self._next_address = itertools.count(start=0x10000, step=0x100000)
        self._lock = threading.Lock()
        cuda = self

        class Device:
            def __init__(self, index: int) -> None:
                self.index = index

            @staticmethod
            def count() -> int:
                return len(cuda.devices)

            def name(self) -> str:
                return cuda.devices[self.index][0]

            def compute_capability(self) -> tuple[int, int]:
                return cuda.devices[self.index][1]

            def total_memory(self) -> int:
                return 16 << 30

            def retain_primary_context(self) -> FakeContext:
                return FakeContext(cuda)

        class Context:
            @staticmethod
            def pop() -> None:
                stack = cuda._stack()
                if not stack:
                    cuda.violations.append("Context.pop() with no context pushed")
                    return
                stack.pop()

        self.Device = Device
        self.Context = Context

    # --- context bookkeeping
    def _stack(self) -> list[FakeContext]:
        if not hasattr(self._local, "stack"):
            self._local.stack = []
        stack: list[FakeContext] = self._local.stack
        return stack

    def require_context(self, what: str) -> None:
        if not self._stack():
            self.violations.append(f"{what} on thread {threading.current_thread().name} without a context")

    # --- the pycuda.driver API the engine uses
    def init(self) -> None:
        self.initialised = True

    def pagelocked_empty(self, shape: tuple[int, ...], dtype: Any) -> npt.NDArray[Any]:
        self.require_context("pagelocked_empty")
        return np.zeros(shape, dtype=dtype)

    def mem_alloc(self, nbytes: int) -> FakeAllocation:
        self.require_context("mem_alloc")
        with self._lock:
            address = next(self._next_address)
            self.memory[address] = np.zeros(int(nbytes), dtype=np.uint8)
        return FakeAllocation(self, address)

    def view(self, address: int, nbytes: int) -> npt.NDArray[np.uint8]:
        """Bytes [address, address + nbytes) of one live allocation."""
        for base, block in self.memory.items():
            if base <= address and address + nbytes <= base + block.size:
                if base in self.freed:
                    raise FakeCudaError(f"use of freed device memory at {address:#x}")
                return block[address - base : address - base + nbytes]
        raise FakeCudaError(f"device address {address:#x} (+{nbytes} bytes) is outside every allocation")

    def live_allocations(self) -> int:
        return len(set(self.memory) - self.freed)

    def Stream(self) -> FakeStream:
        self.require_context("Stream()")
        stream = FakeStream(self)
        self.streams[stream.handle] = stream
        return stream

    def Event(self) -> FakeEvent:
        self.require_context("Event()")
        return FakeEvent(self)

    def memcpy_htod_async(self, dest: Any, src: npt.NDArray[Any], stream: FakeStream) -> None:
        self.require_context("memcpy_htod_async")
        address, nbytes = int(dest), src.nbytes

        def copy() -> None:  # reads the host buffer when the stream gets to it, as CUDA does
            self.view(address, nbytes)[:] = np.ascontiguousarray(src).view(np.uint8).reshape(-1)

        stream.put(copy)

    def memcpy_dtoh_async(self, dest: npt.NDArray[Any], src: Any, stream: FakeStream) -> None:
        self.require_context("memcpy_dtoh_async")
        address, nbytes = int(src), dest.nbytes

        def copy() -> None:
            dest.reshape(-1).view(np.uint8)[:] = self.view(address, nbytes)

        stream.put(copy)

    def memcpy_htod(self, dest: Any, src: npt.NDArray[Any]) -> None:
        self.require_context("memcpy_htod")
        self.view(int(dest), src.nbytes)[:] = np.ascontiguousarray(src).view(np.uint8).reshape(-1)


class FakeContext:
    def __init__(self, cuda: FakeCuda) -> None:
        self.cuda = cuda

    def push(self) -> None:
        self.cuda._stack().append(self)

    def detach(self) -> None:
        self.cuda.contexts_detached += 1


class FakeAllocation:
    def __init__(self, cuda: FakeCuda, address: int) -> None:
        self.cuda, self.address = cuda, address

    def __int__(self) -> int:
        return self.address

    def free(self) -> None:
        self.cuda.require_context("DeviceAllocation.free")
        self.cuda.freed.add(self.address)


class FakeStream:
    """Runs queued operations in order on its own thread, ``cuda.kernel_seconds`` per inference."""

    _handles = itertools.count(1)

    def __init__(self, cuda: FakeCuda) -> None:
        self.cuda = cuda
        self.handle = next(self._handles)
        self.failed: BaseException | None = None
        self._ops: queue.Queue[Callable[[], None]] = queue.Queue()
        threading.Thread(target=self._run, name=f"fake-stream-{self.handle}", daemon=True).start()

    def put(self, op: Callable[[], None]) -> None:
        self._ops.put(op)

    def _run(self) -> None:
        while True:
            op = self._ops.get()
            try:
                if self.failed is None:
                    op()
            except BaseException as exc:
                self.failed = exc
            finally:
                self._ops.task_done()

    def synchronize(self) -> None:
        self.cuda.require_context("Stream.synchronize")
        self._ops.join()
        if self.failed is not None:
            raise FakeCudaError(f"stream {self.handle}: {self.failed}")


class FakeEvent:
    def __init__(self, cuda: FakeCuda) -> None:
        self.cuda = cuda
        self._done = threading.Event()
        self._stream: FakeStream | None = None

    def record(self, stream: FakeStream) -> None:
        self.cuda.require_context("Event.record")
        self._done.clear()
        self._stream = stream
        stream.put(self._done.set)

    def synchronize(self) -> None:
        self.cuda.require_context("Event.synchronize")
        self._done.wait()
        if self._stream is not None and self._stream.failed is not None:
            raise FakeCudaError(f"stream {self._stream.handle}: {self._stream.failed}")

    def query(self) -> bool:
        return self._done.is_set()
