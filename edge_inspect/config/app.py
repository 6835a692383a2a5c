"""The whole daemon config: one section per concern; plug-in sections are unions chosen by ``type``."""

from __future__ import annotations

from pydantic import Field, model_validator

from edge_inspect.config.base import ID_PATTERN, StrictModel
from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import EngineConfig, OpenVINOEngineConfig
from edge_inspect.config.images import ImagesConfig, images_problems
from edge_inspect.config.metrics import MetricsConfig
from edge_inspect.config.model import ModelConfig
from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.config.outbox import OutboxConfig, outbox_problems
from edge_inspect.config.preprocess import PreprocessConfig
from edge_inspect.config.runtime import LoggingConfig, PathsConfig, RuntimeConfig
from edge_inspect.config.sources import SourceConfig
from edge_inspect.config.watchdog import WatchdogConfig


class AppConfig(StrictModel):
    """An inspection station: one camera, one model, one broker."""

    station: str = Field(
        "station-1",
        max_length=64,
        pattern=ID_PATTERN,
        description="Station id (topic level, 1-64 characters).",
    )
    camera: str = Field(
        "cam-1", max_length=64, pattern=ID_PATTERN, description="Camera id (topic level, 1-64 characters)."
    )
    source: SourceConfig = Field(description="Where frames come from; 'type' selects the plug-in.")
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
