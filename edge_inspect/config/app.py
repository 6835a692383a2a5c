"""The whole daemon config: one section per concern; plug-in sections are unions chosen by ``type``."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from edge_inspect.config.base import ID_PATTERN, StrictModel
from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import EngineConfig, OpenVINOEngineConfig
from edge_inspect.config.images import ImagesConfig, images_problems
from edge_inspect.config.metrics import MetricsConfig
from edge_inspect.config.model import ModelConfig
from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.config.outbox import OutboxConfig, outbox_problems
from edge_inspect.config.plc import PlcConfig
from edge_inspect.config.preprocess import PreprocessConfig
from edge_inspect.config.runtime import LoggingConfig, PathsConfig, RuntimeConfig
from edge_inspect.config.sources import SourceConfig
from edge_inspect.config.station import CameraConfig, PartConfig, camera_problems
from edge_inspect.config.watchdog import WatchdogConfig


class AppConfig(StrictModel):
    """An inspection station: 1 to 8 cameras, one model (one engine shared by them), one broker.

    One camera is written ``camera:`` + ``source:``; several, ``cameras:`` (see config/station.py).
    Read the cameras from :attr:`station_cameras`, which resolves both forms.
    """

    station: str = Field(
        "station-1",
        max_length=64,
        pattern=ID_PATTERN,
        description="Station id (topic level, 1-64 characters).",
    )
    camera: str = Field(
        "cam-1",
        max_length=64,
        pattern=ID_PATTERN,
        description="The one camera's id (topic level, 1-64 characters); with cameras: leave it out.",
    )
    source: SourceConfig | None = Field(
        None,
        description="Where the one camera's frames come from; 'type' selects the plug-in. With several "
        "cameras, each has its own (cameras[].source) and this is left out.",
    )
    cameras: list[CameraConfig] | None = Field(
        None,
        description="The station's cameras (1 to 8), each with id, source and optional preprocess and "
        "decision overrides; null = the one camera of camera: + source:.",
    )
    part: PartConfig = Field(
        default_factory=PartConfig, description="Parts: how a part is triggered, its shots and deadline."
    )
    plc: PlcConfig | None = Field(
        None,
        description="The PLC handshake (with part.trigger: plc): the PLC triggers parts and reads one "
        "verdict per part over Modbus TCP; null = no PLC.",
    )
    model: ModelConfig = Field(description="The model package.")
    preprocess: PreprocessConfig = Field(
        default_factory=PreprocessConfig, description="Station region of interest before the model's input."
    )
    engine: EngineConfig = Field(
        default_factory=lambda: OpenVINOEngineConfig(type="openvino"),
        description="Inference backend; 'type' selects the plug-in.",
    )
    decision: DecisionConfig = Field(default_factory=DecisionConfig, description="Decision rule overrides.")
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="Broker and topics.")
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig, description="Queues and shutdown.")
    logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")
    paths: PathsConfig = Field(default_factory=PathsConfig, description="State and cache folders.")
    outbox: OutboxConfig = Field(
        default_factory=OutboxConfig, description="Durable outbox: results kept on disk until acknowledged."
    )
    watchdog: WatchdogConfig = Field(
        default_factory=WatchdogConfig, description="Source and inference watchdogs; systemd notification."
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="Prometheus /metrics and the /healthz, /readyz probes."
    )
    images: ImagesConfig = Field(
        default_factory=ImagesConfig, description="Saved NG images, overlays, retention and thumbnails."
    )

    @model_validator(mode="before")
    @classmethod
    def _one_form(cls, data: Any) -> Any:
        """``cameras:`` or ``camera:`` + ``source:``, never both (which would win is a guess)."""
        if isinstance(data, dict) and data.get("cameras") is not None:
            both = [key for key in ("camera", "source") if data.get(key) is not None]
            if both:
                msg = f"cameras: listed together with {' and '.join(both)}: (the one-camera form); keep one"
                raise ValueError(msg)
        elif isinstance(data, dict) and data.get("source") is None:
            msg = "source: required (where frames come from), or list the station's cameras: instead"
            raise ValueError(msg)
        return data

    @property
    def station_cameras(self) -> tuple[CameraConfig, ...]:
        """Every camera of the station, the one-camera form included (as a list of one)."""
        if self.cameras is not None:
            return tuple(self.cameras)
        assert self.source is not None
        return (CameraConfig(id=self.camera, source=self.source),)

    @model_validator(mode="after")
    def _cameras(self) -> AppConfig:
        problems = camera_problems(list(self.station_cameras), self.part)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _plc(self) -> AppConfig:
        if self.part.trigger == "plc" and self.plc is None:
            msg = "part.trigger: 'plc' needs the PLC handshake configured (plc: with type: modbus)"
            raise ValueError(msg)
        if self.plc is not None and self.part.trigger != "plc":
            msg = f"plc: configured, and part.trigger is {self.part.trigger!r}: set part.trigger to 'plc'"
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _cross_checks(self) -> AppConfig:
        problems = outbox_problems(self.outbox, self.paths.state_dir)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _images_folder(self) -> AppConfig:
        problems = images_problems(self.images, self.paths.state_dir)
        if problems:
            raise ValueError("; ".join(problems))
        return self
