"""A Prometheus collector that reads the daemon's state at scrape time.

Everything the runtime already keeps is read, not duplicated: ``Stats`` counters and gauges (queue
depths, MQTT and outbox backlog), the camera states, the health rules, and who this daemon is (version,
station, model, config) as ``*_info`` families. A gauge whose callable fails is left out of that scrape
and counted in ``edge_inspect_scrape_errors_total``; the rest of the scrape still answers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from edge_inspect.metrics.camera import CameraStateTracker
from edge_inspect.metrics.health import BacklogLimits, HealthProbe, liveness, readiness
from edge_inspect.metrics.identity import Identity
from edge_inspect.metrics.names import ALWAYS_COUNTED, PREFIX, Series, counter_series, gauge_series
from edge_inspect.runtime.stats import Stats
from edge_inspect.types import SourceState

log = structlog.get_logger(__name__)


class StatsCollector(Collector):
    """Collects on every scrape; holds no metric state of its own beyond the scrape-error count."""

    def __init__(
        self,
        stats: Stats,
        identity: Identity,
        probe: HealthProbe,
        limits: BacklogLimits,
        *,
        cameras: CameraStateTracker | None = None,
        reserved: Iterable[str] = (),
    ) -> None:
        self.stats = stats
        self.identity = identity
        self.probe = probe
        self.limits = limits
        self.cameras = cameras
        self.reserved = frozenset(reserved)
        self._scrape_errors = 0
        self._lock = threading.Lock()

    def collect(self) -> Iterator[Metric]:
        yield from self._identity()
        yield from self._counters()
        yield from self._gauges()
        yield from self._camera_states()
        yield from self._health()
        with self._lock:
            errors = self._scrape_errors
        yield CounterMetricFamily(
            f"{PREFIX}_scrape_errors", "Runtime gauges that failed to sample during a scrape.", value=errors
        )

    # ------------------------------------------------------------------------------------------ families

    def _identity(self) -> Iterator[Metric]:
        ident = self.identity
        build = InfoMetricFamily(f"{PREFIX}_build", "Daemon version, station and camera.")
        build.add_metric([], {"version": ident.version, "station": ident.station, "camera": ident.camera})
        model = InfoMetricFamily(f"{PREFIX}_model", "The model package being run.")
        model.add_metric(
            [],
            {
                "name": ident.model_name,
                "version": ident.model_version,
                "variant": ident.model_variant,
                "sha256": ident.model_sha256,
            },
        )
        config = InfoMetricFamily(f"{PREFIX}_config", "Hashes of the loaded config and decision rules.")
        config.add_metric([], {"config_sha256": ident.config_sha256, "recipe_hash": ident.recipe_hash})
        return iter((build, model, config))

    def _counters(self) -> Iterator[Metric]:
        families: dict[str, CounterMetricFamily] = {}
        counters = dict.fromkeys(ALWAYS_COUNTED, 0) | self.stats.counters()
        for name, value in sorted(counters.items()):
            series = self._unreserved(counter_series(name))
            family = families.get(series.family)
            if family is None:
                family = CounterMetricFamily(series.family, series.help, labels=[k for k, _ in series.labels])
                families[series.family] = family
            family.add_metric([v for _, v in series.labels], float(value))
        return iter(families.values())

    def _gauges(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        counter_names = {
            self._unreserved(counter_series(n)).family for n in (*ALWAYS_COUNTED, *self.stats.counters())
        }
        for name, sample in sorted(self.stats.gauges.items()):
            try:
                value = float(sample())
            except Exception as exc:  # one broken gauge must not empty the whole scrape
                with self._lock:
                    self._scrape_errors += 1
                log.warning("gauge failed to sample", gauge=name, error=str(exc))
                continue
            series = self._unreserved(gauge_series(name))
            if series.family in counter_names:
                series = Series(f"{series.family}_gauge", series.help, series.labels)
            family = families.get(series.family)
            if family is None:
                family = GaugeMetricFamily(series.family, series.help, labels=[k for k, _ in series.labels])
                families[series.family] = family
            family.add_metric([v for _, v in series.labels], value)
        return iter(families.values())

    def _camera_states(self) -> Iterator[Metric]:
        if self.cameras is None:
            return
        state = GaugeMetricFamily(
            f"{PREFIX}_camera_state",
            "1 for each camera's current state, 0 for the others.",
            labels=["camera", "state"],
        )
        connected = GaugeMetricFamily(
            f"{PREFIX}_camera_connected", "1 while the camera is online.", labels=["camera"]
        )
        since = GaugeMetricFamily(
            f"{PREFIX}_camera_state_since_timestamp_seconds",
            "When the camera entered its current state (seconds since the epoch).",
            labels=["camera"],
        )
        for camera, current in sorted(self.cameras.states().items()):
            for option in SourceState:
                state.add_metric([camera, option.value], 1.0 if option is current.state else 0.0)
            connected.add_metric([camera], 1.0 if current.state is SourceState.ONLINE else 0.0)
            since.add_metric([camera], current.since)
        yield from (state, connected, since)

    def _health(self) -> Iterator[Metric]:
        sample = self.probe.sample()
        alive = GaugeMetricFamily(f"{PREFIX}_alive", "1 while /healthz answers 200.")
        alive.add_metric([], 1.0 if liveness(sample).ok else 0.0)
        ready = GaugeMetricFamily(f"{PREFIX}_ready", "1 while /readyz answers 200.")
        ready.add_metric([], 1.0 if readiness(sample, self.limits).ok else 0.0)
        return iter((alive, ready))

    def _unreserved(self, series: Series) -> Series:
        if series.family in self.reserved:
            return Series(f"{PREFIX}_runtime_{series.family[len(PREFIX) + 1 :]}", series.help, series.labels)
        return series
