"""MQTT connection and topics."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from edge_inspect.config.base import StrictModel
from edge_inspect.config.paths import resolve

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
    )
    cert_file: Path | None = Field(
        None, description="PEM client certificate, for brokers that authenticate clients by certificate."
    )
    key_file: Path | None = Field(
        None, description="PEM private key of cert_file (unencrypted; deliver it with LoadCredential=)."
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


class MqttConfig(StrictModel):
    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port.")
    topic_prefix: str = Field("edge-inspect", description="First level of every topic.")
    client_id: str | None = Field(
        None,
        description="MQTT client id; null = 'edge-inspect-{station}-{camera}'. Must be stable for "
        "the broker to keep the session across restarts.",
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
    password_file: Path | None = Field(
        None,
        description="File holding the broker password (one line; a trailing newline is ignored), e.g. "
        "'$CREDENTIALS_DIRECTORY/mqtt_password' under systemd LoadCredential=. Exclusive with password.",
    )
    tls: TlsConfig | None = Field(None, description="TLS to the broker; null = plain TCP.")

    _password_path = field_validator("password_file")(_secret_path)

    @model_validator(mode="after")
    def _credentials(self) -> MqttConfig:
        if self.password is not None and self.password_file is not None:
            msg = "set password or password_file, not both"
            raise ValueError(msg)
        if self.password_file is not None and self.username is None:
            msg = "password_file needs username"
            raise ValueError(msg)
        return self
