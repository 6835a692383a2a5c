"""The Prometheus exporter and the health endpoints (``/metrics``, ``/healthz``, ``/readyz``)."""

from __future__ import annotations

import itertools

from pydantic import Field, field_validator

from edge_inspect.config.base import StrictModel

DEFAULT_PORT = 9477
_DEFAULT_BUCKETS_MS = (1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0)


class MetricsConfig(StrictModel):
    """An HTTP endpoint on the station for Prometheus and for liveness / readiness probes."""

    enabled: bool = Field(
        False, description="Serve /metrics, /healthz and /readyz over HTTP (plain, no authentication)."
    )
    host: str = Field(
        "127.0.0.1",
        description="Address to listen on: 127.0.0.1 for a local agent; 0.0.0.0 to be scraped from the "
        "plant network (restrict it there with a firewall or systemd IPAddressAllow=).",
    )
    port: int = Field(
        DEFAULT_PORT, ge=0, le=65535, description="TCP port; 0 = any free port (tests), logged at start."
    )
    max_connections: int = Field(
        16,
        ge=1,
        le=1024,
        description="Connections served at once (one thread each); a connection beyond it is closed at "
        "once and counted. A scraper or probe needs one.",
    )
    idle_timeout_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="A connection that sends no complete request within this many seconds is closed.",
    )
    latency_buckets_ms: tuple[float, ...] = Field(
        _DEFAULT_BUCKETS_MS,
        min_length=1,
        description="Upper bounds of the per-stage latency histogram buckets, milliseconds, increasing.",
    )
    ready_max_backlog: int = Field(
        1000,
        ge=0,
        description="/readyz: while the broker is away, stay ready as long as at most this many results "
        "wait to be acknowledged (outbox rows, or the MQTT client's queue without an outbox).",
    )
    ready_max_backlog_age_s: float = Field(
        300.0,
        gt=0,
        description="/readyz: while the broker is away, stay ready as long as the oldest waiting result "
        "is younger than this (seconds; applies when the outbox reports an age).",
    )

    @field_validator("latency_buckets_ms")
    @classmethod
    def _increasing(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(b <= a for a, b in itertools.pairwise(value)) or value[0] <= 0:
            msg = f"must be positive and strictly increasing, got {list(value)}"
            raise ValueError(msg)
        return value
