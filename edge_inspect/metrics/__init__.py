"""What the outside world can ask of a running daemon: Prometheus metrics and liveness / readiness."""

from edge_inspect.metrics.camera import CameraState, CameraStateTracker
from edge_inspect.metrics.exporter import MetricsExporter
from edge_inspect.metrics.health import (
    BacklogLimits,
    HealthProbe,
    HealthReport,
    HealthSample,
    liveness,
    readiness,
)
from edge_inspect.metrics.identity import Identity, config_digest, identity_of
from edge_inspect.metrics.sink import MetricsSink

__all__ = [
    "BacklogLimits",
    "CameraState",
    "CameraStateTracker",
    "HealthProbe",
    "HealthReport",
    "HealthSample",
    "Identity",
    "MetricsExporter",
    "MetricsSink",
    "config_digest",
    "identity_of",
    "liveness",
    "readiness",
]
