"""MQTT connection and topics."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from edge_inspect.config.base import StrictModel
from edge_inspect.config.paths import RELATIVE_TO_FILE, resolve

MqttProtocol = Literal["5", "3.1.1"]

CREDENTIALS_VAR = "CREDENTIALS_DIRECTORY"
"""systemd's ``LoadCredential=`` folder. A secret path may start with ``$CREDENTIALS_DIRECTORY/``; the
variable is read when the file is, at connect time, so ``check-config`` works outside systemd too."""


def _secret_path(value: Path | None, info: ValidationInfo) -> Path | None:
    """Keep a ``$CREDENTIALS_DIRECTORY/...`` path as written; resolve others like every config path."""
    if value is None or str(value).startswith(f"${CREDENTIALS_VAR}/"):
        return value
    if str(value).startswith("$"):
        msg = f"only ${CREDENTIALS_VAR} may be used in a path here, got {str(value)!r}"
        raise ValueError(msg)
    return resolve(value, info)


class TlsConfig(StrictModel):
    """TLS to the broker. Every path may be absolute, relative to the config file, or under
    ``$CREDENTIALS_DIRECTORY/`` (systemd ``LoadCredential=``)."""

    ca_file: Path | None = Field(
        None,
        description="PEM file of the CA(s) that signed the broker's certificate; null = the system's "
        "trust store.",
        json_schema_extra=RELATIVE_TO_FILE,
    )
    cert_file: Path | None = Field(
        None,
        description="PEM client certificate, for brokers that authenticate clients by certificate.",
        json_schema_extra=RELATIVE_TO_FILE,
    )
    key_file: Path | None = Field(
        None,
        description="PEM private key of cert_file (unencrypted; deliver it with LoadCredential=).",
        json_schema_extra=RELATIVE_TO_FILE,
    )
    insecure: bool = Field(
        False,
        description="Skip the check that the broker's certificate names 'host'. The chain is still "
        "verified against ca_file. For test benches only.",
    )
    min_version: Literal["1.2", "1.3"] = Field("1.2", description="Lowest TLS version accepted.")
    ciphers: str | None = Field(
        None, description="OpenSSL cipher list for TLS 1.2; null = Python's secure defaults."
    )

    _paths = field_validator("ca_file", "cert_file", "key_file")(_secret_path)

    @model_validator(mode="after")
    def _pair(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            msg = "cert_file and key_file go together: set both for client certificates, or neither"
            raise ValueError(msg)
        return self


MAX_PREFIX = 128
"""Characters of ``topic_prefix``: topics stay far below MQTT's 65,535-byte limit."""


def topic_prefix_problem(prefix: str) -> str | None:
    """Why ``prefix`` cannot start a topic the daemon publishes on, or None."""
    if not prefix:
        return "must not be empty"
    if len(prefix) > MAX_PREFIX:
        return f"{len(prefix)} characters, at most {MAX_PREFIX}"
    if prefix.startswith("$"):
        return "must not start with '$' (broker-reserved topics such as $SYS)"
    if any(char in prefix for char in "+#\x00"):
        return "must not hold the wildcards '+' or '#', or NUL"
    if prefix.startswith("/") or prefix.endswith("/") or "//" in prefix:
        return "has an empty topic level (a leading, trailing or doubled '/')"
    return None


class MqttConfig(StrictModel):
    host: str = Field(
        "127.0.0.1",
        min_length=1,
        max_length=253,
        pattern=r"^[^\s/]+$",
        description="Broker host name or address (at most 253 characters, as DNS allows).",
    )
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    topic_prefix: str = Field(
        "edge-inspect",
        description=f"First level(s) of every topic: at most {MAX_PREFIX} characters, no empty level, no "
        "wildcard, not '$'-reserved; 'a/b' gives two levels.",
    )
    client_id: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="MQTT client id; null = 'edge-inspect-{station}-{camera}'. Must be stable for "
        "the broker to keep the session across restarts.",
    )
    username: str | None = Field(None, max_length=1024, description="Broker user name.")
    password: SecretStr | None = Field(
        None, description="Broker password; prefer the environment: EDGE_INSPECT_MQTT__PASSWORD."
    )
    protocol: MqttProtocol = Field(
        "5",
        description="MQTT protocol version. '5' (session expiry, reason codes) unless the broker only "
        "speaks 3.1.1 (the demo's embedded broker).",
    )
    qos: int = Field(1, ge=0, le=2, description="QoS of result messages.")
    keepalive_s: int = Field(30, ge=5, le=65535, description="MQTT keep-alive, seconds.")
    session_expiry_s: int = Field(
        3600, ge=0, description="MQTT 5 session expiry: how long the broker keeps our session after a drop."
    )
    reconnect_min_s: float = Field(
        0.5, gt=0, le=3600, description="First reconnect delay, seconds (doubles)."
    )
    reconnect_max_s: float = Field(30.0, gt=0, le=3600, description="Longest reconnect delay, seconds.")
    max_inflight: int = Field(20, ge=1, le=65535, description="QoS 1 messages awaiting PUBACK at once.")
    stats_interval_s: float = Field(10.0, gt=0, le=86400, description="Period of the retained stats message.")
    password_file: Path | None = Field(
        None,
        description="File holding the broker password (one line; a trailing newline is ignored), e.g. "
        "'$CREDENTIALS_DIRECTORY/mqtt_password' under systemd LoadCredential=. Exclusive with password.",
        json_schema_extra=RELATIVE_TO_FILE,
    )
    tls: TlsConfig | None = Field(None, description="TLS to the broker; null = plain TCP.")

    _password_path = field_validator("password_file")(_secret_path)

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_number(cls, value: object) -> object:
        """``protocol: 5`` (a YAML number) and ``--set mqtt.protocol=5`` mean the string '5'."""
        if isinstance(value, int) and not isinstance(value, bool) and value == 5:
            return "5"
        if isinstance(value, float) and value == 5.0:
            return "5"
        return value

    @field_validator("topic_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        problem = topic_prefix_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _reconnect_order(self) -> MqttConfig:
        if self.reconnect_min_s > self.reconnect_max_s:
            msg = (
                f"reconnect_min_s ({self.reconnect_min_s}) is larger than reconnect_max_s "
                f"({self.reconnect_max_s}): the first delay cannot exceed the longest"
            )
            raise ValueError(msg)
        return self

    @model_validator(mode="after")
    def _credentials(self) -> MqttConfig:
        if self.password is not None and self.password_file is not None:
            msg = "set password or password_file, not both"
            raise ValueError(msg)
        if self.password_file is not None and self.username is None:
            msg = "password_file needs username"
            raise ValueError(msg)
        return self
