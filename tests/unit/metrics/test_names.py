"""Stats names -> Prometheus families: known prefixes become labels, anything else is kept, sanitised."""

from __future__ import annotations

import re

import pytest

from edge_inspect.metrics.names import counter_series, gauge_series, sanitise

VALID_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@pytest.mark.parametrize(
    ("name", "family", "labels"),
    [
        ("frames", "edge_inspect_frames", ()),
        ("grabbed", "edge_inspect_frames_grabbed", ()),
        ("errors", "edge_inspect_frame_errors", ()),
        ("verdict.NG", "edge_inspect_verdicts", (("verdict", "NG"),)),
        ("dropped.frames", "edge_inspect_frames_dropped", (("queue", "frames"),)),
        ("sink_errors.mqtt", "edge_inspect_sink_errors", (("sink", "mqtt"),)),
        ("stage_crash.infer", "edge_inspect_stage_crashes", (("stage", "infer"),)),
        ("outbox.dropped.expired", "edge_inspect_outbox_dropped_expired", ()),
    ],
)
def test_counters_map_to_families(name: str, family: str, labels: tuple[tuple[str, str], ...]) -> None:
    # given a Stats counter name / when it is mapped / then family and labels are as documented
    series = counter_series(name)
    assert series.family == family
    assert series.labels == labels
    assert VALID_NAME.match(series.family)


@pytest.mark.parametrize(
    ("name", "family", "labels"),
    [
        ("queue.frames", "edge_inspect_queue_depth", (("queue", "frames"),)),
        ("mqtt.connected", "edge_inspect_broker_connected", ()),
        ("mqtt.pending", "edge_inspect_mqtt_pending", ()),
        ("outbox.depth", "edge_inspect_outbox_depth", ()),
        ("outbox.oldest_age_s", "edge_inspect_outbox_oldest_age_seconds", ()),
    ],
)
def test_gauges_map_to_families(name: str, family: str, labels: tuple[tuple[str, str], ...]) -> None:
    series = gauge_series(name)
    assert series.family == family
    assert series.labels == labels


def test_a_bare_prefix_is_not_a_label() -> None:
    # given a counter that is exactly a prefix with nothing after it / then it is kept as its own name
    assert counter_series("verdict.").labels == ()


@pytest.mark.parametrize("name", ["a-b.c d", "9lives", "...", "x_s", "ünï.côde"])
def test_sanitised_names_are_valid_prometheus_names(name: str) -> None:
    assert VALID_NAME.match(f"edge_inspect_{sanitise(name)}")
