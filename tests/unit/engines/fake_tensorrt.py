"""FAKE tensorrt module for the TensorRT engine's tests on machines without an NVIDIA GPU (see trt_fakes).

The builder records what it is told (flags, pools, profiles, calibrator) and drives an INT8 calibrator as
TensorRT does; a "plan" records the GPU and TensorRT version that built it and does not deserialize on
another; the parser reads the real ONNX file's inputs and outputs.
"""

from __future__ import annotations

import enum
import importlib.machinery
import json
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from tests.unit.engines.fake_cuda import FakeCuda
from tests.unit.engines.fake_trt_runtime import PLAN_MAGIC, DataType, FakeEngine, TensorIOMode


class Severity(enum.IntEnum):
    INTERNAL_ERROR = 0
    ERROR = 1
    WARNING = 2
    INFO = 3
    VERBOSE = 4


class BuilderFlag(enum.Enum):
    FP16 = "FP16"
    INT8 = "INT8"
    TF32 = "TF32"


class BuilderFlagWithoutPrecision(enum.Enum):
    """TensorRT 11: the weak-typing precision flags are gone."""

    STRIP_PLAN = "STRIP_PLAN"


class MemoryPoolType(enum.Enum):
    WORKSPACE = "WORKSPACE"


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
        self.flags: set[Any] = {BuilderFlag.TF32}  # on by default, as in TensorRT
        self.pools: dict[Any, int] = {}
        self.builder_optimization_level = 3
        self.profiles: list[FakeProfile] = []
        self.calibration_profile: FakeProfile | None = None
        self.int8_calibrator: Any = None

    def set_flag(self, flag: Any) -> None:
        self.flags.add(flag)

    def clear_flag(self, flag: Any) -> None:
        self.flags.discard(flag)

    def set_memory_pool_limit(self, pool: Any, size: int) -> None:
        self.pools[pool] = size

    def add_optimization_profile(self, profile: FakeProfile) -> int:
        self.profiles.append(profile)
        return len(self.profiles) - 1

    def set_calibration_profile(self, profile: FakeProfile) -> None:
        self.calibration_profile = profile


def _dims(value_info: Any) -> tuple[int, ...]:
    return tuple(
        d.dim_value if d.HasField("dim_value") else -1 for d in value_info.type.tensor_type.shape.dim
    )


class FakeTensorRT(ModuleType):
    """Stands in for ``tensorrt``; builds, plans and engines share ``cuda`` (a :class:`FakeCuda`)."""

    def __init__(self, cuda: FakeCuda, version: str = "10.3.0") -> None:
        super().__init__("tensorrt")
        self.__spec__ = importlib.machinery.ModuleSpec("tensorrt", None)  # as find_spec() expects
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
                self.network = network
                self.errors: list[FakeParserError] = []

            def parse_from_file(self, path: str) -> bool:
                import onnx

                try:
                    model = onnx.load(path)
                except Exception as exc:
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

            def build_serialized_network(
                self, network: FakeNetwork, config: FakeBuilderConfig
            ) -> bytes | None:
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
                    self.logger.log(
                        Severity.ERROR, "IRuntime::deserializeCudaEngine: magic tag does not match"
                    )
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
