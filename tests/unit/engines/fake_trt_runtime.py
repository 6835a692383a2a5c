"""FAKE TensorRT runtime objects (engine, execution context): inference runs the ONNX with real OpenVINO."""

from __future__ import annotations

import enum
import time
from typing import TYPE_CHECKING, Any

import numpy as np
import openvino as ov

from tests.unit.engines.fake_cuda import FakeCudaError

if TYPE_CHECKING:
    from tests.unit.engines.fake_tensorrt import FakeTensorRT

PLAN_MAGIC = b"FAKEPLAN1\n"


class TensorIOMode(enum.Enum):
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


class DataType(enum.Enum):
    FLOAT = "FLOAT"
    HALF = "HALF"


class FakeEngine:
    """A deserialized plan: its tensors from the ONNX, inference by OpenVINO on the ONNX file."""

    def __init__(self, trt: FakeTensorRT, header: dict[str, Any]) -> None:
        self.trt = trt
        self.header = header
        self.inputs = {name: tuple(shape) for name, shape in header["inputs"]}
        self.outputs = {name: tuple(shape) for name, shape in header["outputs"]}
        self.names: list[str] = [*self.inputs, *self.outputs]
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
        profile = (
            self.engine.get_tensor_profile_shape(name, 0) if self.engine.num_optimization_profiles else None
        )
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
