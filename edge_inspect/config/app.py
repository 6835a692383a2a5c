"""The whole daemon config: one section per concern; plug-in sections are unions chosen by ``type``."""

from __future__ import annotations

from pydantic import Field

from edge_inspect.config.base import StrictModel
from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import EngineConfig, OpenVINOEngineConfig
from edge_inspect.config.model import ModelConfig
from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.config.preprocess import PreprocessConfig
from edge_inspect.config.runtime import LoggingConfig, PathsConfig, RuntimeConfig
from edge_inspect.config.sources import SourceConfig


class AppConfig(StrictModel):
    """An inspection station: one camera, one model, one broker."""

    station: str = Field("station-1", pattern=r"^[A-Za-z0-9_.-]+$", description="Station id (topic level).")
    camera: str = Field("cam-1", pattern=r"^[A-Za-z0-9_.-]+$", description="Camera id (topic level).")
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
