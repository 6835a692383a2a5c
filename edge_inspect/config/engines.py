"""Inference-engine plug-in configs. ``engine.type`` picks one; each names the module that implements it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal, Union

from pydantic import Field, field_validator

from edge_inspect.config.base import StrictModel


def _absolute(value: Path | None) -> Path | None:
    if value is not None and not value.is_absolute():
        msg = "must be an absolute path (the daemon's working directory is '/' under systemd)"
        raise ValueError(msg)
    return value


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
    num_threads: int | None = Field(
        None, ge=1, description="INFERENCE_NUM_THREADS; null = all cores."
    )
    cache_dir: Path | None = Field(
        None, description="Absolute folder for OpenVINO's compiled-model cache; null = no cache."
    )

    _abs = field_validator("cache_dir")(_absolute)


# The one registry of engine plug-ins: add a member here; its ``plugin`` names the implementation.
EngineConfig = Annotated[
    Union[OpenVINOEngineConfig],  # noqa: UP007 (a one-member union today; plug-ins add members)
    Field(discriminator="type"),
]
