"""FAKE TensorRT and pycuda, for the orchestration tests on machines without an NVIDIA GPU.

TensorRT and CUDA cannot run here, so these stand in for the two modules, with the same names and call
shapes as the TensorRT 10 and pycuda APIs the engine uses. They are fakes in the plainest sense; what they
do faithfully is what the engine's correctness depends on:

- device memory is real bytes at integer addresses (pointer arithmetic works, reading past an allocation
  or after ``free`` is an error);
- a stream runs its operations later, in order, on its own thread, and a host->device copy reads host
  memory when it runs, not when it is queued, as CUDA does: reusing a buffer too early gives wrong numbers;
- every CUDA call checks that a context is current on the calling thread and records a violation if not;
- a "plan" records the GPU and TensorRT version that built it and does not deserialize on another;
- inference runs the package's ONNX file with real OpenVINO, so outputs are the model's true outputs.

The real path is exercised by ``pytest -m gpu`` (tests/gpu/) on a machine with a GPU.
"""

from __future__ import annotations

import enum
import itertools
import json
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import openvino as ov

PLAN_MAGIC = b"FAKEPLAN1\n"


# ------------------------------------------------------------------------------------------------ CUDA


class FakeCudaError(RuntimeError):
    pass


class FakeCuda(ModuleType):
    """Stands in for ``pycuda.driver``."""

    def __init__(self, devices: tuple[tuple[str, tuple[int, int]], ...] = (("Fake T4", (7, 5)),)) -> None:
        super().__init__("pycuda.driver")
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

    def Stream(self) -> FakeStream:  # noqa: N802 (pycuda's name)
        self.require_context("Stream()")
        stream = FakeStream(self)
        self.streams[stream.handle] = stream
        return stream

    def Event(self) -> FakeEvent:  # noqa: N802 (pycuda's name)
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
            except BaseException as exc:  # noqa: BLE001 (a failed op poisons the stream, as a CUDA error does)
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


# ------------------------------------------------------------------------------------------- TensorRT


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class BuilderFlag(enum.Enum):
    FP16 = "FP16"
    INT8 = "INT8"


class BuilderFlagWithoutPrecision(enum.Enum):
    """TensorRT 11: the weak-typing precision flags are gone."""

    STRIP_PLAN = "STRIP_PLAN"


class MemoryPoolType(enum.Enum):
    WORKSPACE = "WORKSPACE"


class TensorIOMode(enum.Enum):
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class DataType(enum.Enum):
    FLOAT = "FLOAT"
    HALF = "HALF"


class ILogger:
    Severity = Severity

    def __init__(self) -> None:
        pass


class IInt8EntropyCalibrator2:
    def __init__(self) -> None:
        pass


class FakeNetworkTensor:
    def __init__(self, name: str, shape: tuple[int, ...]) -> None:
        self.name, self.shape = name, shape


class FakeNetwork:
    def __init__(self) -> None:
        self.inputs: list[FakeNetworkTensor] = []
        self.outputs: list[FakeNetworkTensor] = []
        self.onnx_path: str | None = None

    @property
    def num_inputs(self) -> int:
        return len(self.inputs)

    def get_input(self, index: int) -> FakeNetworkTensor:
        return self.inputs[index]


class FakeParserError:
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class FakeProfile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple[tuple[int, ...], ...]] = {}

    def set_shape(self, name: str, minimum: Any, opt: Any, maximum: Any) -> None:
        self.shapes[name] = (tuple(minimum), tuple(opt), tuple(maximum))


class FakeBuilderConfig:
    def __init__(self) -> None:
        self.flags: set[Any] = set()
        self.pools: dict[Any, int] = {}
        self.builder_optimization_level = 3
        self.profiles: list[FakeProfile] = []
        self.calibration_profile: FakeProfile | None = None
        self.int8_calibrator: Any = None

    def set_flag(self, flag: Any) -> None:
        self.flags.add(flag)

    def set_memory_pool_limit(self, pool: Any, size: int) -> None:
        self.pools[pool] = size

    def add_optimization_profile(self, profile: FakeProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def set_calibration_profile(self, profile: FakeProfile) -> None:
        self.calibration_profile = profile


def _dims(value_info: Any) -> tuple[int, ...]:
    return tuple(d.dim_value if d.HasField("dim_value") else -1 for d in value_info.type.tensor_type.shape.dim)


class FakeTensorRT(ModuleType):
    """Stands in for ``tensorrt``; builds, plans and engines share ``cuda`` (a :class:`FakeCuda`)."""

    def __init__(self, cuda: FakeCuda, version: str = "10.3.0") -> None:
        super().__init__("tensorrt")
        self.__version__ = version
        self.cuda = cuda
        self.ILogger = ILogger
        self.BuilderFlag: Any = BuilderFlag
        self.MemoryPoolType = MemoryPoolType
        self.TensorIOMode = TensorIOMode
        self.DataType = DataType
        self.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2
        self.builds: list[dict[str, Any]] = []
        """One record per build: flags, profiles, calibration batches fed."""
        self.fail_build = False
        self.fail_execute = False
        self.calibration_batches: list[npt.NDArray[np.float32]] = []
        trt = self

        class OnnxParser:
            def __init__(self, network: FakeNetwork, logger: Any) -> None:
                self.network, self.errors = network, []

            def parse_from_file(self, path: str) -> bool:
                import onnx

                try:
                    model = onnx.load(path)
                except Exception as exc:  # noqa: BLE001 (the parser reports, it does not raise)
                    self.errors.append(FakeParserError(f"ModelImporter: failed to parse {path}: {exc}"))
                    return False
                self.network.onnx_path = path
                self.network.inputs = [FakeNetworkTensor(i.name, _dims(i)) for i in model.graph.input]
                self.network.outputs = [FakeNetworkTensor(o.name, _dims(o)) for o in model.graph.output]
                return True

            @property
            def num_errors(self) -> int:
                return len(self.errors)

            def get_error(self, index: int) -> FakeParserError:
                return self.errors[index]

        class Builder:
            def __init__(self, logger: Any) -> None:
                self.logger = logger

            def create_network(self, flags: int) -> FakeNetwork:
                return FakeNetwork()

            def create_builder_config(self) -> FakeBuilderConfig:
                return FakeBuilderConfig()

            def create_optimization_profile(self) -> FakeProfile:
                return FakeProfile()

            def build_serialized_network(self, network: FakeNetwork, config: FakeBuilderConfig) -> bytes | None:
                trt.cuda.require_context("build_serialized_network")
                record: dict[str, Any] = {"config": config, "network": network, "batches": 0}
                trt.builds.append(record)
                if trt.fail_build:
                    self.logger.log(Severity.ERROR, "fake builder: no implementation for layer 'scale'")
                    return None
                calibrator = config.int8_calibrator
                if BuilderFlag.INT8 in config.flags and calibrator is not None:
                    record["batches"] = trt.calibrate(calibrator, network)
                header = {
                    "tensorrt": trt.__version__,
                    "gpu": trt.cuda.devices[0][0],
                    "onnx": network.onnx_path,
                    "inputs": [(t.name, t.shape) for t in network.inputs],
                    "outputs": [(t.name, t.shape) for t in network.outputs],
                    "profile": [list(map(list, s)) for p in config.profiles for s in p.shapes.values()],
                }
                return PLAN_MAGIC + json.dumps(header).encode()

        class Runtime:
            def __init__(self, logger: Any) -> None:
                self.logger = logger

            def deserialize_cuda_engine(self, plan: bytes) -> FakeEngine | None:
                trt.cuda.require_context("deserialize_cuda_engine")
                if not plan.startswith(PLAN_MAGIC):
                    self.logger.log(Severity.ERROR, "IRuntime::deserializeCudaEngine: magic tag does not match")
                    return None
                header = json.loads(plan[len(PLAN_MAGIC) :])
                if header["tensorrt"] != trt.__version__ or header["gpu"] != trt.cuda.devices[0][0]:
                    self.logger.log(
                        Severity.ERROR,
                        f"The engine plan file is not compatible with this version of TensorRT or this GPU "
                        f"(built by {header['tensorrt']} on {header['gpu']})",
                    )
                    return None
                return FakeEngine(trt, header)

        self.OnnxParser = OnnxParser
        self.Builder = Builder
        self.Runtime = Runtime

    @staticmethod
    def nptype(dtype: DataType) -> Any:
        return {DataType.FLOAT: np.float32, DataType.HALF: np.float16}[dtype]

    def calibrate(self, calibrator: Any, network: FakeNetwork) -> int:
        """Drive the calibrator as TensorRT does: the cache first, else batches until None."""
        if calibrator.read_calibration_cache() is not None:
            return 0
        shape = None
        fed = 0
        batch_size = calibrator.get_batch_size()
        while (pointers := calibrator.get_batch([network.inputs[0].name])) is not None:
            shape = (batch_size, *network.inputs[0].shape[1:])
            nbytes = int(np.prod(shape)) * 4
            data = self.cuda.view(pointers[0], nbytes).view(np.float32).reshape(shape).copy()
            self.calibration_batches.append(data)
            fed += 1
        if fed:
            calibrator.write_calibration_cache(b"fake-calibration-table batches=%d" % fed)
        return fed


class FakeEngine:
    """A deserialized plan: its tensors from the ONNX, inference by OpenVINO on the ONNX file."""

    def __init__(self, trt: FakeTensorRT, header: dict[str, Any]) -> None:
        self.trt = trt
        self.header = header
        self.inputs = {name: tuple(shape) for name, shape in header["inputs"]}
        self.outputs = {name: tuple(shape) for name, shape in header["outputs"]}
        self.names = [*self.inputs, *self.outputs]
        self.compiled = ov.Core().compile_model(header["onnx"], "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        self.contexts: list[FakeExecutionContext] = []

    @property
    def num_io_tensors(self) -> int:
        return len(self.names)

    def get_tensor_name(self, index: int) -> str:
        return self.names[index]

    def get_tensor_mode(self, name: str) -> TensorIOMode:
        return TensorIOMode.INPUT if name in self.inputs else TensorIOMode.OUTPUT

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        return self.inputs.get(name) or self.outputs[name]

    def get_tensor_dtype(self, name: str) -> DataType:
        return DataType.FLOAT

    @property
    def num_optimization_profiles(self) -> int:
        return len(self.header["profile"])

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, ...]]:
        return [tuple(s) for s in self.header["profile"][profile]]

    def create_execution_context(self) -> FakeExecutionContext:
        self.trt.cuda.require_context("create_execution_context")
        context = FakeExecutionContext(self)
        self.contexts.append(context)
        return context


class FakeExecutionContext:
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self.addresses: dict[str, int] = {}
        self.input_shapes = dict(engine.inputs)
        self.enqueues = 0

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        profile = self.engine.get_tensor_profile_shape(name, 0) if self.engine.num_optimization_profiles else None
        if profile is not None and not profile[0][0] <= shape[0] <= profile[2][0]:
            return False
        self.input_shapes[name] = tuple(shape)
        return True

    def set_tensor_address(self, name: str, address: int) -> bool:
        self.addresses[name] = int(address)
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        cuda = self.engine.trt.cuda
        cuda.require_context("execute_async_v3")
        if self.engine.trt.fail_execute:
            return False
        self.enqueues += 1
        (name, shape), *_ = self.input_shapes.items()
        addresses = dict(self.addresses)
        if any(d < 0 for d in shape):
            raise FakeCudaError(f"execute_async_v3 before set_input_shape({name!r})")
        engine = self.engine

        def run() -> None:
            if cuda.kernel_seconds:
                time.sleep(cuda.kernel_seconds)
            nbytes = int(np.prod(shape)) * 4
            tensor = cuda.view(addresses[name], nbytes).view(np.float32).reshape(shape).copy()
            request = engine.compiled.create_infer_request()
            result = request.infer({name: tensor})
            for out_name in engine.outputs:
                out = np.ascontiguousarray(result[engine.compiled.output(out_name)], dtype=np.float32)
                cuda.view(addresses[out_name], out.nbytes)[:] = out.view(np.uint8).reshape(-1)

        cuda.streams[stream_handle].put(run)
        return True


def install(monkeypatch: Any, cuda: FakeCuda | None = None, trt: FakeTensorRT | None = None) -> tuple[FakeTensorRT, FakeCuda]:
    """Put the fakes where ``import tensorrt`` and ``import pycuda.driver`` find them (undone after the test)."""
    import sys

    cuda = cuda or FakeCuda()
    trt = trt or FakeTensorRT(cuda)
    pycuda = ModuleType("pycuda")
    pycuda.driver = cuda  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "pycuda", pycuda)
    monkeypatch.setitem(sys.modules, "pycuda.driver", cuda)
    return trt, cuda


def onnx_path_of(plan_header: dict[str, Any]) -> Path:
    return Path(plan_header["onnx"])
