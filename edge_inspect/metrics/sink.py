"""A ResultSink that feeds the per-result metrics: stage latency histograms and defects by class.

Counters that the runtime already keeps (frames, verdicts, errors, drops) are read from ``Stats`` at
scrape time instead, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from edge_inspect.metrics.names import PREFIX
from edge_inspect.types import InspectionResult

SINK_FAMILIES = (
    f"{PREFIX}_stage_latency_seconds",
    f"{PREFIX}_defects",
    f"{PREFIX}_last_result_timestamp_seconds",
)
"""Names this sink owns, so the Stats collector never exports a family of the same name."""


class MetricsSink:
    """Observes every result's ``timings_ms`` (per stage, and ``total`` from capture to result)."""

    name = "metrics"

    def __init__(self, registry: CollectorRegistry, buckets_ms: Sequence[float]) -> None:
        self.latency = Histogram(
            f"{PREFIX}_stage_latency_seconds",
            "Time spent per stage for one frame; stage 'total' runs from capture to result.",
            ["stage"],
            buckets=[ms / 1000.0 for ms in buckets_ms],
            registry=registry,
        )
        self.defects = Counter(
            f"{PREFIX}_defects",
            "Defects found, by class (an NG frame may hold several).",
            ["class"],
            registry=registry,
        )
        self.last_result = Gauge(
            f"{PREFIX}_last_result_timestamp_seconds",
            "Capture time of the latest result (seconds since the epoch): alert when it stops moving.",
            registry=registry,
        )

        # labelled children, looked up once per label value: ``labels()`` costs more than ``observe()``
        self._stages: dict[str, Histogram] = {}
        self._classes: dict[str, Counter] = {}

    def handle(self, result: InspectionResult) -> None:
        for stage, ms in result.timings_ms.items():
            if ms >= 0.0:
                child = self._stages.get(stage)
                if child is None:
                    child = self._stages[stage] = self.latency.labels(stage)
                child.observe(ms / 1000.0)
        if result.decision is not None:
            for defect in result.decision.defects:
                counter = self._classes.get(defect.class_name)
                if counter is None:
                    counter = self._classes[defect.class_name] = self.defects.labels(defect.class_name)
                counter.inc()
        self.last_result.set(result.captured_at)

    def close(self) -> None:
        return None
