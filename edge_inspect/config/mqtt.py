"""MQTT connection and topics."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from edge_inspect.config.base import StrictModel


class MqttConfig(StrictModel):
    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    topic_prefix: str = Field("edge-inspect", description="First level of every topic.")
    client_id: str | None = Field(
        None, description="MQTT client id; null = 'edge-inspect-{station}-{camera}'. Must be stable for "
        "the broker to keep the session across restarts."
    )
    username: str | None = Field(None, description="Broker user name.")
    password: SecretStr | None = Field(
        None, description="Broker password; prefer the environment: EDGE_INSPECT_MQTT__PASSWORD."
    )
    protocol: Literal["5", "3.1.1"] = Field(
        "5",
        description="MQTT protocol version. '5' (session expiry, reason codes) unless the broker only "
        "speaks 3.1.1 (the demo's embedded broker).",
    )
    qos: int = Field(1, ge=0, le=2, description="QoS of result messages.")
    keepalive_s: int = Field(30, ge=5, description="MQTT keep-alive, seconds.")
    session_expiry_s: int = Field(
        3600, ge=0, description="MQTT 5 session expiry: how long the broker keeps our session after a drop."
    )
    reconnect_min_s: float = Field(0.5, gt=0, description="First reconnect delay, seconds (doubles).")
    reconnect_max_s: float = Field(30.0, gt=0, description="Longest reconnect delay, seconds.")
    max_inflight: int = Field(20, ge=1, description="QoS 1 messages awaiting PUBACK at once.")
    stats_interval_s: float = Field(10.0, gt=0, description="Period of the retained stats message.")
