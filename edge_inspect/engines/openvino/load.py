"""Load a package's artifact into an OpenVINO compiled model, checked against the manifest.

Separate from the running engine (``openvino.py``) because loading is one straight sequence with many
ways to fail, each with its own message: artifact, device, cache folder, model file, tensor names,
shapes, compilation. What the compiled model really runs with is read back for the log.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openvino as ov
from openvino.preprocess import PrePostProcessor

from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.engines.openvino.settings import check_device, compile_properties, model_cache_dir
from edge_inspect.engines.specs import (
    check_against_manifest,
    expected_input_shape,
    expected_output_shape,
    fill_dynamic,
)
from edge_inspect.errors import EngineError
from edge_inspect.model.manifest import InputSpec, pixel_input
from edge_inspect.model.package import ModelPackage
from edge_inspect.types import TensorSpec

READABLE_FORMATS = ("openvino", "onnx")
_PIXEL_MAX = 255.0


@dataclass(frozen=True, slots=True)
class OpenVINORuntime:
    """What the compiled model actually runs with, read back from OpenVINO (None: the device won't say)."""

    model: str
    variant: str
    path: Path
    device: str
    execution_devices: tuple[str, ...]
    precision: str | None
    """INFERENCE_PRECISION_HINT in effect, e.g. 'f32' or 'bf16'."""
    streams: int | None
    requests: int
    compile_ms: float
    cache_dir: Path | None


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A compiled model with its ports and specs, ready for infer requests."""

    compiled: ov.CompiledModel
    input_port: Any
    output_index: int
    """Position of the manifest's output among the compiled model's outputs."""
    input_spec: TensorSpec
    output_spec: TensorSpec
    runtime: OpenVINORuntime


def load_model(
    config: OpenVINOEngineConfig, package: ModelPackage, variant: str | None, cache_dir: Path | None
) -> LoadedModel:
    """Read, check and compile ``package``'s ``variant``; every failure is an EngineError naming the file."""
    variant_name, artifact = package.artifact(variant)
    path = package.root / artifact.path
    source = f"{path} (variant {variant_name!r})"
    if artifact.format not in READABLE_FORMATS:
        msg = f"{source}: format {artifact.format!r} cannot run on OpenVINO; it reads {READABLE_FORMATS}"
        raise EngineError(msg)
    if not path.is_file():
        msg = f"{source}: model file not found"
        raise EngineError(msg)
    core = shared_core()
    available = list(core.available_devices)
    check_device(config.device, available)
    cache = model_cache_dir(config, cache_dir)
    if cache is not None:
        _make_dir(cache)

    model = _read_model(core, path, source)
    manifest = package.manifest
    in_port = _port(model.inputs, manifest.input.name, "input", source)
    _port(model.outputs, manifest.output.name, "output", source)
    if len(model.inputs) != 1:
        msg = f"{source}: the model has {len(model.inputs)} inputs; the engine feeds exactly one"
        raise EngineError(msg)
    static = fill_dynamic(_dims(in_port.get_partial_shape()), expected_input_shape(manifest.input, 1))
    if not in_port.get_partial_shape().is_static and -1 not in static:
        # Dynamic batch or size: compile for one tile of the manifest's size (static shapes run faster).
        model.reshape({in_port: ov.PartialShape(list(static))})

    model_input = compiled_input(config, manifest.input)
    if model_input is not manifest.input:
        model = _normalise_inside(model, manifest.input, source)

    props = compile_properties(config, cache)
    start = time.perf_counter()
    try:
        compiled = core.compile_model(model, config.device, props)
    except RuntimeError as exc:
        msg = (
            f"{source}: cannot compile for OpenVINO device {config.device!r} with {props}: "
            f"{first_line(exc)}; available devices: {available}"
        )
        raise EngineError(msg) from exc
    compile_ms = (time.perf_counter() - start) * 1000.0

    input_port = compiled.input(manifest.input.name)
    output_index = next(
        i for i, out in enumerate(compiled.outputs) if manifest.output.name in out.get_names()
    )
    output_port = compiled.outputs[output_index]
    input_spec = TensorSpec(
        name=manifest.input.name,
        shape=fill_dynamic(_dims(input_port.get_partial_shape()), static),
        dtype=input_port.get_element_type().to_dtype().name,
        layout=manifest.input.layout,
    )
    output_spec = TensorSpec(
        name=manifest.output.name,
        shape=fill_dynamic(
            _dims(output_port.get_partial_shape()),
            expected_output_shape(manifest.output, manifest.input, input_spec.shape[0]),
        ),
        dtype="float32",
        layout="NCHW" if manifest.output.kind == "segmentation" else "NC",
    )
    check_against_manifest(input_spec, output_spec, model_input, manifest.output, source)

    runtime = OpenVINORuntime(
        model=f"{manifest.name} {manifest.version}",
        variant=variant_name,
        path=path,
        device=config.device,
        execution_devices=tuple(_property(compiled, "EXECUTION_DEVICES") or ()),
        precision=_precision(compiled),
        streams=_property(compiled, "NUM_STREAMS"),
        requests=config.num_requests or int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")),
        compile_ms=round(compile_ms, 1),
        cache_dir=cache,
    )
    return LoadedModel(compiled, input_port, output_index, input_spec, output_spec, runtime)


@functools.cache
def shared_core() -> ov.Core:
    """One Core for the process, as OpenVINO advises; it also keeps the device plug-ins loaded.

    With a Core per engine, the last compiled model to go also unloads the CPU plug-in and its thread
    pools, and when that last reference is dropped on one of those pool threads (the tail of an infer
    request) the pool joins itself: ``std::system_error: Resource deadlock avoided``, and the process
    aborts. Seen in about one contract-suite run in three before this Core was shared.
    """
    return ov.Core()


def first_line(exc: BaseException) -> str:
    """OpenVINO messages start with C++ source locations; keep the last line, which says what happened."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _read_model(core: ov.Core, path: Path, source: str) -> ov.Model:
    try:
        return core.read_model(path)
    except RuntimeError as exc:
        msg = f"{source}: cannot read the model: {first_line(exc)}"
        raise EngineError(msg) from exc


def compiled_input(config: OpenVINOEngineConfig, spec: InputSpec) -> InputSpec:
    """The input the compiled model takes: the manifest's, or 8-bit pixels with ``normalise_in_model``
    (a model that already takes uint8 normalises inside by itself)."""
    if config.normalise_in_model and spec.dtype != "uint8":
        return pixel_input(spec)
    return spec


def _normalise_inside(model: ov.Model, spec: InputSpec, source: str) -> ov.Model:
    """``model`` taking 8-bit pixels: OpenVINO converts them and applies the manifest's normalisation,
    ``(pixel / 255 - mean) / std``, inside the compiled model (the preprocessor made for
    :func:`~edge_inspect.model.manifest.pixel_input` has scaled the pixels to 0..255)."""
    ppp = PrePostProcessor(model)
    step = ppp.input(spec.name)
    step.tensor().set_element_type(ov.Type.u8)
    step.model().set_layout(ov.Layout(spec.layout))
    step.preprocess().convert_element_type(ov.Type.f32).mean([m * _PIXEL_MAX for m in spec.mean]).scale(
        [s * _PIXEL_MAX for s in spec.std]
    )
    try:
        return ppp.build()
    except RuntimeError as exc:
        msg = (
            f"{source}: cannot build the normalisation into the model (normalise_in_model): {first_line(exc)}"
        )
        raise EngineError(msg) from exc


def _port(ports: list[Any], name: str, role: str, source: str) -> Any:
    """The model port with tensor name ``name``; an error names the manifest's name and the model's."""
    for port in ports:
        if name in port.get_names():
            return port
    names = [sorted(p.get_names()) for p in ports]
    msg = f"{source}: the manifest's {role} {name!r} is not a model {role}; the model's {role}s are {names}"
    raise EngineError(msg)


def _dims(shape: ov.PartialShape) -> tuple[int | None, ...] | None:
    """Static dimensions as ints, dynamic ones as None; None for a shape of unknown rank."""
    if shape.rank.is_dynamic:
        return None
    return tuple(d.get_length() if d.is_static else None for d in shape)


def _make_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        msg = f"OpenVINO cache folder {str(folder)!r} cannot be created: {exc.strerror or exc}"
        raise EngineError(msg) from exc


def _property(compiled: ov.CompiledModel, name: str) -> Any:
    """A compiled-model property, or None where the device does not report it (AUTO hides some)."""
    try:
        return compiled.get_property(name)
    except RuntimeError:
        return None


def _precision(compiled: ov.CompiledModel) -> str | None:
    value = _property(compiled, "INFERENCE_PRECISION_HINT")
    return None if value is None else str(value.get_type_name())
