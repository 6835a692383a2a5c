"""Inference-engine plug-in configs. ``engine.type`` picks one; each names the module that implements it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from edge_inspect.config.base import StrictModel
from edge_inspect.config.paths import must_be_absolute


class OpenVINOEngineConfig(StrictModel):
    """OpenVINO on an Intel CPU, integrated GPU or NPU."""

    plugin: ClassVar[str] = "edge_inspect.engines.openvino:OpenVINOEngine"

    type: Literal["openvino"] = Field(description="Selects the OpenVINO engine.")
    device: str = Field("CPU", description="OpenVINO device: CPU, GPU, GPU.1, NPU or AUTO.")
    precision: Literal["f32", "f16", "bf16", "default"] = Field(
        "f32",
        description="INFERENCE_PRECISION_HINT. 'f32' by default: on CPUs with AVX512-BF16 OpenVINO would "
        "otherwise pick bf16, measured 1.7x slower for our models. 'default' leaves OpenVINO's choice.",
    )
    performance_hint: Literal["THROUGHPUT", "LATENCY", "CUMULATIVE_THROUGHPUT"] = Field(
        "THROUGHPUT", description="OpenVINO PERFORMANCE_HINT."
    )
    num_requests: int = Field(
        0, ge=0, description="Infer requests kept in flight; 0 = the device's optimal number."
    )
    num_streams: int | None = Field(None, ge=1, description="NUM_STREAMS; null = chosen by the hint.")
    num_threads: int | None = Field(None, ge=1, description="INFERENCE_NUM_THREADS; null = all cores.")
    cache_dir: Path | None = Field(
        None,
        description="Absolute folder for OpenVINO's compiled-model cache; null = "
        "'<paths.cache_dir>/openvino', or no cache when that is null too.",
    )
    normalise_in_model: bool = Field(
        False,
        description="Feed the model 8-bit pixels and let OpenVINO convert and normalise them inside the "
        "compiled model (PrePostProcessor, with the manifest's mean and std): preprocessing then only "
        "crops and copies bytes, a quarter of a float32 tensor. Verdicts agree up to float rounding. "
        "16-bit frames are scaled to 8 bits first, so keep it off for cameras of more than 8 bits.",
    )

    _abs = field_validator("cache_dir")(must_be_absolute)


TensorRTPrecision = Literal["fp32", "fp16", "int8"]


class TensorRTEngineConfig(StrictModel):
    """TensorRT on an NVIDIA GPU (an x86 box with a T4 or L4, or a Jetson), from the package's ONNX.

    Plans are not portable between GPUs or TensorRT versions, so they are built on the machine that runs
    them and cached, keyed by model, TensorRT version, GPU, precision, shapes and builder options.
    """

    plugin: ClassVar[str] = "edge_inspect.engines.tensorrt:TensorRTEngine"

    type: Literal["tensorrt"] = Field(description="Selects the TensorRT engine (the 'tensorrt' extra).")
    device: int = Field(0, ge=0, description="CUDA device index.")
    precision: TensorRTPrecision = Field(
        "fp16",
        description="Build precision. 'int8' calibrates with the package's calibration_images (entropy "
        "calibrator, cached) and lets layers without int8 kernels run in fp16.",
    )
    artifact: str | None = Field(
        None,
        description="Package artifact to run: format 'onnx' (built here) or 'tensorrt-plan' (prebuilt, "
        "rebuilt from the ONNX when it does not load on this GPU); null = model.variant when it has one "
        "of those formats, else the package's only ONNX artifact.",
    )
    max_batch: int = Field(
        8,
        ge=1,
        le=256,
        description="Most tiles one frame may have: the optimization profile's largest batch and the "
        "size of each context's buffers.",
    )
    opt_batch: int | None = Field(
        None, ge=1, description="Batch size TensorRT tunes its kernels for; null = max_batch."
    )
    num_contexts: int = Field(
        2,
        ge=1,
        le=8,
        description="Execution contexts in flight, each with its own CUDA stream and pinned buffers; 2 "
        "lets the GPU run one frame while the CPU prepares and copies in the next.",
    )
    workspace_mib: int = Field(
        1024, ge=16, description="Builder workspace memory pool limit, MiB (a Jetson shares it with the CPU)."
    )
    optimization_level: int = Field(
        3, ge=0, le=5, description="builder_optimization_level: higher builds longer and may run faster."
    )
    calibration_batch: int = Field(8, ge=1, description="INT8 calibration: tiles per calibration batch.")
    calibration_max_images: int = Field(
        512,
        ge=1,
        description="INT8 calibration: at most this many of the package's calibration images, by name.",
    )
    cache_dir: Path | None = Field(
        None,
        description="Absolute folder for built plans and calibration caches; null = "
        "'<paths.cache_dir>/tensorrt', or no cache (a build at every start) when that is null too.",
    )

    _abs = field_validator("cache_dir")(must_be_absolute)

    @model_validator(mode="after")
    def _check(self) -> TensorRTEngineConfig:
        if self.opt_batch is not None and self.opt_batch > self.max_batch:
            msg = f"opt_batch ({self.opt_batch}) must not exceed max_batch ({self.max_batch})"
            raise ValueError(msg)
        return self


EngineBackend = Literal["tensorrt", "openvino"]


class AutoEngineConfig(StrictModel):
    """Pick the engine from what the machine has, so one station config runs on every box.

    The first of ``backends`` that is usable wins: TensorRT when it imports and a CUDA device is present;
    OpenVINO on the first of ``openvino_devices`` it reports. ``edge-inspect devices`` shows the choice.
    """

    plugin: ClassVar[str] = "edge_inspect.engines.auto:open_auto_engine"

    type: Literal["auto"] = Field(description="Selects the engine from the machine's capabilities.")
    backends: tuple[EngineBackend, ...] = Field(
        ("tensorrt", "openvino"), min_length=1, description="Backends to try, in order of preference."
    )
    openvino_devices: tuple[str, ...] = Field(
        ("GPU", "NPU", "CPU"),
        min_length=1,
        description="OpenVINO devices in order of preference; the first one OpenVINO reports is used "
        "('GPU' also matches 'GPU.0', 'GPU.1').",
    )
    openvino: OpenVINOEngineConfig = Field(
        default_factory=lambda: OpenVINOEngineConfig(type="openvino"),
        description="Settings used when OpenVINO is chosen ('type' and 'device' are set by auto).",
    )
    tensorrt: TensorRTEngineConfig = Field(
        default_factory=lambda: TensorRTEngineConfig(type="tensorrt"),
        description="Settings used when TensorRT is chosen ('type' is set by auto).",
    )

    @model_validator(mode="before")
    @classmethod
    def _tag_sections(cls, data: Any) -> Any:
        """The sub-sections are the plug-ins' own configs; their ``type`` is implied by the key."""
        if not isinstance(data, dict):
            return data
        tagged = dict(data)
        for key in ("openvino", "tensorrt"):
            section = tagged.get(key)
            if isinstance(section, dict) and "type" not in section:
                tagged[key] = {**section, "type": key}
        return tagged

    @model_validator(mode="after")
    def _check(self) -> AutoEngineConfig:
        if len(set(self.backends)) != len(self.backends):
            msg = f"backends lists a backend twice: {list(self.backends)}"
            raise ValueError(msg)
        if "device" in self.openvino.model_fields_set:
            msg = "openvino.device: auto chooses the device from openvino_devices; remove openvino.device"
            raise ValueError(msg)
        return self

    @model_serializer(mode="wrap")
    def _without_device(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Dumped without ``openvino.device`` (auto sets it), so that a ``check-config`` dump loads back."""
        data = handler(self)
        if isinstance(data, dict) and isinstance(data.get("openvino"), dict):
            data["openvino"] = {k: v for k, v in data["openvino"].items() if k != "device"}
        return data

    def resolve(self) -> OpenVINOEngineConfig | TensorRTEngineConfig:
        """Probe this machine and return the chosen engine's config (the choice and its reason are logged)."""
        from edge_inspect.engines.auto import resolve_auto  # noqa: PLC0415 (config must not import engines)

        return resolve_auto(self).engine_config


# The one registry of engine plug-ins: add a member here; its ``plugin`` names the implementation.
EngineConfig = Annotated[
    Union[OpenVINOEngineConfig, TensorRTEngineConfig, AutoEngineConfig],  # noqa: UP007 (pydantic needs the Union form here)
    Field(discriminator="type"),
]
