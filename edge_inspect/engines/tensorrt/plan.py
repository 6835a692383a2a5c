"""Where the engine's plan comes from: a prebuilt plan artifact, the plan cache, or a build from the ONNX.

Also reads the deserialized engine's tensors and checks them against the manifest. Everything here runs
once, at start-up, on the constructing thread with the CUDA context current.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import structlog

from edge_inspect.config.engines import TensorRTEngineConfig
from edge_inspect.engines.specs import check_against_manifest
from edge_inspect.engines.tensorrt import calibrator as calibration
from edge_inspect.engines.tensorrt.build import (
    BuildOptions,
    build_serialized_plan,
    onnx_artifact,
    pick_artifact,
    profile_shapes,
    tile_shape,
)
from edge_inspect.engines.tensorrt.cache import PlanStore, load_or_build, make_plan_key
from edge_inspect.engines.tensorrt.cuda import CudaGpu
from edge_inspect.engines.tensorrt.slots import EngineIo, IoTensor, engine_io, request_batch
from edge_inspect.errors import EngineError
from edge_inspect.model import ModelPackage
from edge_inspect.model.manifest import Artifact
from edge_inspect.types import TensorSpec

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PlanSource:
    """What a plan is loaded or built with: the libraries, the GPU, the settings and the package."""

    trt: ModuleType
    cuda: ModuleType
    runtime: Any
    logger: Any
    gpu: CudaGpu
    config: TensorRTEngineConfig
    package: ModelPackage

    def deserialize(self, plan: bytes) -> Any:
        """The engine in ``plan``, or EngineError with TensorRT's own words when it does not load here."""
        self.logger.take_errors()
        engine = self.runtime.deserialize_cuda_engine(plan)
        if engine is None:
            raise EngineError(self.logger.take_errors() or "deserialize_cuda_engine returned None")
        return engine

    def load(self, variant: str | None, cache_root: Path | None) -> Any:
        """The deserialized engine for ``variant`` (see :func:`pick_artifact`)."""
        name, artifact = pick_artifact(self.package, variant, self.config.artifact)
        if artifact.format == "tensorrt-plan":
            path = self.package.root / artifact.path
            try:
                return self.deserialize(path.read_bytes())
            except EngineError as exc:
                found = onnx_artifact(self.package)
                if found is None:
                    msg = (
                        f"prebuilt plan {path} does not load on {self.gpu.name}, and the package has no "
                        f"ONNX to rebuild it from: {exc}"
                    )
                    raise EngineError(msg) from exc
                log.warning(
                    "prebuilt tensorrt plan does not load here; building from the onnx",
                    plan=str(path),
                    reason=str(exc),
                )
                name, artifact = found
        return self.build_or_load(name, artifact, cache_root)

    def build_or_load(self, name: str, artifact: Artifact, cache_root: Path | None) -> Any:
        """The cached plan for this ONNX, GPU, TensorRT and settings, or a fresh build of it."""
        manifest = self.package.manifest
        config = self.config
        onnx_path = self.package.root / artifact.path
        calibration_files: list[Path] = []
        fingerprint = ""
        if config.precision == "int8":
            calibration_files = calibration.calibration_files(self.package, config.calibration_max_images)
            fingerprint = calibration.calibration_fingerprint(self.package, calibration_files)
        options = BuildOptions(
            precision=config.precision,
            workspace_mib=config.workspace_mib,
            optimization_level=config.optimization_level,
            input_name=manifest.input.name,
            profile=profile_shapes(manifest.input, config.max_batch, config.opt_batch),
            calibration_batch=config.calibration_batch,
            calibration=fingerprint,
        )
        key = make_plan_key(
            model_name=f"{manifest.name}-{manifest.version}",
            model_sha256=manifest.files[artifact.path],
            tensorrt_version=str(self.trt.__version__),
            gpu_name=self.gpu.name,
            compute_capability=self.gpu.compute_capability,
            precision=config.precision,
            input_name=manifest.input.name,
            input_shapes=options.profile,
            builder_options=options.key_items(),
        )
        store = None if cache_root is None else PlanStore(cache_root)
        cache_file = None
        if store is not None and config.precision == "int8":
            parts = (
                key.model_sha256,
                key.tensorrt_version,
                options.profile,
                config.calibration_batch,
                fingerprint,
            )
            cache_file = store.root / calibration.calibration_cache_name(key.model_name, parts)

        def make_calibrator(batch_shape: tuple[int, ...]) -> Any:
            feed = calibration.CalibrationFeed(
                calibration_files,
                calibration.preprocessed_tiles(manifest.input),
                batch_shape[0],
                np.dtype(manifest.input.dtype),
            )
            return calibration.make_entropy_calibrator(self.trt, self.cuda, feed, batch_shape, cache_file)

        def build() -> bytes:
            return build_serialized_plan(self.trt, self.logger, onnx_path, options, make_calibrator)

        return load_or_build(key, store, build=build, deserialize=self.deserialize)


def describe_io(
    trt: ModuleType, engine: Any, package: ModelPackage, max_batch: int
) -> tuple[EngineIo, TensorSpec, TensorSpec]:
    """The engine's tensors laid out for the slots, and its input and output specs, checked by the manifest.

    ``input_spec.shape[0]`` is what one request takes: 1 for a dynamic batch (any N up to max_batch).
    """
    tensors = []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        tensors.append(
            IoTensor(
                name=name,
                is_input=engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                shape=tuple(int(d) for d in engine.get_tensor_shape(name)),
                dtype=np.dtype(trt.nptype(engine.get_tensor_dtype(name))),
            )
        )
    manifest = package.manifest
    profile_max = None
    if engine.num_optimization_profiles > 0 and any(t.shape[0] < 0 for t in tensors if t.is_input):
        profile_max = int(engine.get_tensor_profile_shape(manifest.input.name, 0)[2][0])
    io = engine_io(
        tensors,
        input_name=manifest.input.name,
        output_name=manifest.output.name,
        expected_tile=tile_shape(manifest.input),
        max_batch=max_batch,
        profile_max_batch=profile_max,
    )
    batch = request_batch(io)
    input_spec = TensorSpec(
        io.input.name, (batch, *io.input.tile_shape), io.input.dtype.name, manifest.input.layout
    )
    output_spec = TensorSpec(io.output.name, (batch, *io.output.tile_shape), io.output.dtype.name)
    source = f"TensorRT plan for {package.root}"
    check_against_manifest(input_spec, output_spec, manifest.input, manifest.output, source)
    return io, input_spec, output_spec
