"""The station's gauges: what the stats message and the metrics read at each snapshot.

Queues and latencies are the pipeline's own; this adds the cameras' counters (a camera source that
keeps them: ``source.{key}`` for a station of one camera, ``source.{camera}.{key}`` for several), the
MQTT backlog and the outbox's depth and alarms.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from edge_inspect.publish.mqtt import MqttPublisher
from edge_inspect.publish.outbox import Outbox
from edge_inspect.runtime.stats import Stats
from edge_inspect.types import FrameSource

OUTBOX_COUNTERS = (
    "outbox.acked",
    "outbox.dropped",
    "outbox.store_failed",
    "outbox.lost",
    "outbox.resent",
    "outbox.replayed",
)
"""Outbox counters a dashboard alerts on: exported at 0 from the start."""


def source_gauges(stats: Stats, sources: Mapping[str, FrameSource]) -> None:
    """A gauge per counter of every source that keeps counters (``stats()``: the pylon cameras)."""
    for camera, source in sources.items():
        read = getattr(source, "stats", None)
        if not callable(read):
            continue
        prefix = "source." if len(sources) == 1 else f"source.{camera}."
        for key in read():
            stats.gauges[f"{prefix}{key}"] = _reader(read, key)


def delivery_gauges(stats: Stats, publisher: MqttPublisher, outbox: Outbox | None) -> None:
    """The broker connection, the messages awaiting PUBACK and the outbox's backlog and alarms."""
    stats.gauges["mqtt.pending"] = publisher.pending
    stats.gauges["mqtt.connected"] = lambda: float(publisher.connected)
    store = publisher.store
    if outbox is None or store is None:
        return
    stats.gauges["outbox.depth"] = outbox.depth
    stats.gauges["outbox.bytes"] = outbox.size_bytes
    stats.gauges["outbox.oldest_age_s"] = outbox.oldest_age_s
    stats.gauges["outbox.full"] = lambda: float(store.full_alarm.active)
    stats.gauges["outbox.store_failing"] = lambda: float(store.store_alarm.active)


def _reader(read: Callable[[], Mapping[str, float]], key: str) -> Callable[[], float]:
    """A gauge reading one value of a counters mapping."""
    return lambda: float(read()[key])
