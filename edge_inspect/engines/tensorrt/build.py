"""Build a serialized TensorRT plan from the package's ONNX, and pick the artifact to build or load.

TensorRT 10 API throughout: ``OnnxParser.parse_from_file`` (external weights resolve beside the file),
``IBuilderConfig.set_memory_pool_limit``, ``set_flag(FP16 / INT8)`` with an entropy calibrator, an
optimization profile over the batch dimension, and ``build_serialized_network``. The calls run on the
caller's thread, which must have the CUDA context current.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import structlog

from edge_inspect.errors import EngineError
from edge_inspect.model import ModelPackage
from edge_inspect.model.manifest import MANIFEST_NAME, Artifact, InputSpec

log = structlog.get_logger(__name__)

RUNNABLE_FORMATS = ("onnx", "tensorrt-plan")
_MIB = 1 << 20

Shape = tuple[int, ...]


def tile_shape(spec: InputSpec) -> Shape:
    """One tile's shape without the batch dimension, in the manifest's layout."""
    if spec.layout == "NHWC":
        return (spec.height, spec.width, spec.channels)
    return (spec.channels, spec.height, spec.width)


def profile_shapes(spec: InputSpec, max_batch: int, opt_batch: int | None) -> tuple[Shape, Shape, Shape]:
    """The optimization profile (min, opt, max) over the batch dimension: 1 .. max_batch tiles."""
    tile = tile_shape(spec)
    return (1, *tile), (opt_batch or max_batch, *tile), (max_batch, *tile)


@dataclass(frozen=True, slots=True)
class BuildOptions:
    """What the builder is told, besides the ONNX file. All of it goes into the plan cache key."""

    precision: str
    workspace_mib: int
    optimization_level: int
    input_name: str
    profile: tuple[Shape, Shape, Shape]
    calibration_batch: int
    calibration: str = ""
    """Fingerprint of the calibration images (int8 only)."""

    def key_items(self) -> dict[str, object]:
        items: dict[str, object] = {
            "workspace_mib": self.workspace_mib,
            "optimization_level": self.optimization_level,
        }
        if self.precision == "int8":
            items["calibration_batch"] = self.calibration_batch
            items["calibration"] = self.calibration
        return items


def onnx_artifact(package: ModelPackage) -> tuple[str, Artifact] | None:
    """The package's ONNX artifact (the fp32 one when there are several), or None."""
    found = [(name, art) for name, art in package.manifest.artifacts.items() if art.format == "onnx"]
    if not found:
        return None
    found.sort(key=lambda item: (item[1].precision != "fp32", item[0]))
    return found[0]


def pick_artifact(package: ModelPackage, variant: str | None, configured: str | None) -> tuple[str, Artifact]:
    """The artifact TensorRT runs: ``engine.artifact``, else ``model.variant`` if runnable, else the ONNX."""
    manifest_path = package.root / MANIFEST_NAME
    artifacts = package.manifest.artifacts
    if configured is not None:
        if configured not in artifacts:
            msg = f"engine.artifact {configured!r}: {manifest_path} has artifacts {sorted(artifacts)}"
            raise EngineError(msg)
        art = artifacts[configured]
        if art.format not in RUNNABLE_FORMATS:
            msg = (
                f"engine.artifact {configured!r} is format {art.format!r}; TensorRT runs "
                f"{' or '.join(RUNNABLE_FORMATS)}"
            )
            raise EngineError(msg)
        return configured, art
    name = variant or package.manifest.default_variant
    if name in artifacts and artifacts[name].format in RUNNABLE_FORMATS:
        return name, artifacts[name]
    found = onnx_artifact(package)
    if found is None:
        msg = (
            f"{manifest_path}: no 'onnx' or 'tensorrt-plan' artifact (it has {sorted(artifacts)}); "
            "TensorRT builds its plan from the ONNX export"
        )
        raise EngineError(msg)
    log.info("tensorrt runs the package's onnx artifact", variant=name, artifact=found[0])
    return found


def _flag(trt: ModuleType, name: str) -> Any:
    flag = getattr(trt.BuilderFlag, name, None)
    if flag is None:
        msg = (
            f"TensorRT {trt.__version__} has no BuilderFlag.{name} (TensorRT 11 dropped precision flags "
            "for strongly typed networks): use TensorRT 10, or precision fp32"
        )
        raise EngineError(msg)
    return flag


def _parse(trt: ModuleType, logger: Any, builder: Any, onnx_path: Path) -> tuple[Any, Any]:
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        problems = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        msg = f"{onnx_path}: TensorRT's ONNX parser refused the model: {'; '.join(problems) or 'no detail'}"
        raise EngineError(msg)
    return network, parser


def _network_input(network: Any, onnx_path: Path, input_name: str) -> Shape:
    names = [network.get_input(i).name for i in range(network.num_inputs)]
    if names != [input_name]:
        msg = f"{onnx_path}: inputs {names}; the manifest's input is {input_name!r} (one input expected)"
        raise EngineError(msg)
    return tuple(int(d) for d in network.get_input(0).shape)


def build_serialized_plan(
    trt: ModuleType,
    logger: Any,
    onnx_path: Path,
    options: BuildOptions,
    make_calibrator: Callable[[Shape], Any] | None = None,
) -> bytes:
    """Parse ``onnx_path``, configure the builder per ``options`` and return the serialized plan.

    ``make_calibrator(batch_shape)`` is called for an int8 build once the network's input is known (a
    static batch calibrates at that batch, a dynamic one at ``options.calibration_batch``).
    """
    builder = trt.Builder(logger)
    network, _parser = _parse(trt, logger, builder, onnx_path)  # the parser must outlive the build
    input_shape = _network_input(network, onnx_path, options.input_name)
    dynamic = any(d < 0 for d in input_shape)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, options.workspace_mib * _MIB)
    config.builder_optimization_level = options.optimization_level
    if options.precision in ("fp16", "int8"):
        # int8 builds too: a layer without an int8 kernel then runs in fp16, not fp32
        config.set_flag(_flag(trt, "FP16"))
    tf32 = getattr(trt.BuilderFlag, "TF32", None)
    if options.precision == "fp32" and tf32 is not None:
        config.clear_flag(tf32)  # TensorRT enables TF32 by default on Ampere+; fp32 means fp32 here
    if dynamic:
        profile = builder.create_optimization_profile()
        profile.set_shape(options.input_name, *options.profile)
        config.add_optimization_profile(profile)

    calibrator = None
    if options.precision == "int8":
        if make_calibrator is None:
            msg = "an int8 build needs a calibrator"
            raise EngineError(msg)
        config.set_flag(_flag(trt, "INT8"))
        calibration_shape = (options.calibration_batch, *options.profile[0][1:]) if dynamic else input_shape
        if dynamic:
            calibration_profile = builder.create_optimization_profile()
            calibration_profile.set_shape(options.input_name, *([calibration_shape] * 3))
            config.set_calibration_profile(calibration_profile)
        calibrator = make_calibrator(calibration_shape)
        config.int8_calibrator = calibrator
    try:
        plan = builder.build_serialized_network(network, config)
        if calibrator is not None and calibrator.error is not None:
            msg = f"int8 calibration failed: {calibrator.error}"
            raise EngineError(msg) from calibrator.error
    finally:
        if calibrator is not None:
            calibrator.free()
    if plan is None:
        detail = logger.take_errors() if hasattr(logger, "take_errors") else ""
        msg = (
            f"TensorRT could not build {onnx_path} at {options.precision}: {detail or 'see the TensorRT log'}"
        )
        raise EngineError(msg)
    return bytes(plan)
