"""The exporter the composition root builds: registry, result sink, collector, health probe, HTTP server."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from edge_inspect.config.metrics import MetricsConfig
from edge_inspect.metrics.camera import CameraStateTracker
from edge_inspect.metrics.collector import StatsCollector
from edge_inspect.metrics.health import BacklogLimits, HealthProbe, HealthReport, liveness, readiness
from edge_inspect.metrics.identity import Identity
from edge_inspect.metrics.server import MetricsServer
from edge_inspect.metrics.sink import SINK_FAMILIES, MetricsSink
from edge_inspect.runtime.stats import Stats

log = structlog.get_logger(__name__)


class MetricsExporter:
    """Binds its port when built (a port in use is a ConfigError at start-up); serves after :meth:`start`.

    ``sink`` goes into the pipeline's sinks; ``cameras`` is the source's StatusListener (it forwards to
    the publisher). Each exporter has its own registry, so several can live in one process (tests).
    """

    def __init__(
        self,
        config: MetricsConfig,
        stats: Stats,
        identity: Identity,
        *,
        broker_connected: Callable[[], bool],
        cameras: CameraStateTracker | None = None,
        stopping: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self.registry = CollectorRegistry(auto_describe=True)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.sink = MetricsSink(self.registry, config.latency_buckets_ms)
        self.probe = HealthProbe(stats, broker_connected=broker_connected, stopping=stopping)
        self.limits = BacklogLimits(config.ready_max_backlog, config.ready_max_backlog_age_s)
        self.registry.register(
            StatsCollector(stats, identity, self.probe, self.limits, cameras=cameras, reserved=SINK_FAMILIES)
        )
        self.server = MetricsServer(
            config.host,
            config.port,
            self.registry,
            alive=self.alive,
            ready=self.ready,
            max_connections=config.max_connections,
            idle_timeout_s=config.idle_timeout_s,
        )

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"http://{self.server.host}:{self.server.port}"

    def alive(self) -> HealthReport:
        return liveness(self.probe.sample())

    def ready(self) -> HealthReport:
        return readiness(self.probe.sample(), self.limits)

    def start(self) -> None:
        self.server.start()
        log.info("metrics endpoint listening", url=f"{self.url}/metrics")

    def close(self) -> None:
        self.server.close()
