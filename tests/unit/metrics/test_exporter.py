"""The exporter over real HTTP: /metrics mirrors Stats and the results seen, /healthz and /readyz answer."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge_inspect.config.metrics import MetricsConfig
from edge_inspect.errors import ConfigError
from edge_inspect.metrics import CameraStateTracker, Identity, MetricsExporter
from edge_inspect.runtime.stats import Stats
from edge_inspect.types import SourceState, Verdict
from tests.helpers.results import defect, result

IDENTITY = Identity(
    version="0.1.0",
    station="st-1",
    camera="cam-1",
    model_name="tiny",
    model_version="1.0.0",
    model_variant="fp32",
    model_sha256="a" * 64,
    recipe_hash="0123abcd",
    config_sha256="b" * 64,
)


class Broker:
    connected = True


@pytest.fixture
def stats() -> Stats:
    return Stats()


@pytest.fixture
def exporter(stats: Stats) -> Iterator[MetricsExporter]:
    broker = Broker()
    cameras = CameraStateTracker()
    running = MetricsExporter(
        MetricsConfig(enabled=True, port=0, ready_max_backlog=2),
        stats,
        IDENTITY,
        broker_connected=lambda: broker.connected,
        cameras=cameras,
    )
    running.broker = broker  # type: ignore[attr-defined]
    running.cameras = cameras  # type: ignore[attr-defined]
    running.start()
    yield running
    running.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a scrape as {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_mirror_the_runtime_counters_and_gauges(exporter: MetricsExporter, stats: Stats) -> None:
    # given a runtime that has grabbed, judged and dropped frames, and a queue holding 3
    stats.count("grabbed", 7)
    for verdict in (Verdict.PASS, Verdict.PASS, Verdict.NG, Verdict.ERROR):
        stats.verdict(verdict)
    stats.count("errors")
    stats.count("dropped.frames", 2)
    stats.gauges["queue.frames"] = lambda: 3.0
    stats.gauges["outbox.depth"] = lambda: 5.0
    stats.gauges["outbox.oldest_age_s"] = lambda: 1.5
    # when Prometheus scrapes
    status, text = get(f"{exporter.url}/metrics")
    got = samples(text)
    # then every figure is the runtime's own
    assert status == 200
    assert got[("edge_inspect_frames_total", ())] == 4
    assert got[("edge_inspect_frames_grabbed_total", ())] == 7
    assert got[("edge_inspect_verdicts_total", (("verdict", "PASS"),))] == 2
    assert got[("edge_inspect_verdicts_total", (("verdict", "NG"),))] == 1
    assert got[("edge_inspect_verdicts_total", (("verdict", "ERROR"),))] == 1
    assert got[("edge_inspect_frame_errors_total", ())] == 1
    assert got[("edge_inspect_frames_dropped_total", (("queue", "frames"),))] == 2
    assert got[("edge_inspect_queue_depth", (("queue", "frames"),))] == 3
    assert got[("edge_inspect_outbox_depth", ())] == 5
    assert got[("edge_inspect_outbox_oldest_age_seconds", ())] == 1.5


def test_results_feed_latency_histograms_and_defects_by_class(exporter: MetricsExporter) -> None:
    # given three results, one NG with two defects of two classes
    exporter.sink.handle(result(Verdict.PASS, timings={"infer": 4.0, "total": 9.0}))
    exporter.sink.handle(result(Verdict.PASS, timings={"infer": 6.0, "total": 30.0}))
    exporter.sink.handle(
        result(
            Verdict.NG, defects=(defect("scratch"), defect("dent")), timings={"infer": 5.0, "total": 700.0}
        )
    )
    got = samples(get(f"{exporter.url}/metrics")[1])
    # then the histograms count each stage's observations, in seconds
    assert got[("edge_inspect_stage_latency_seconds_count", (("stage", "infer"),))] == 3
    assert got[("edge_inspect_stage_latency_seconds_sum", (("stage", "infer"),))] == pytest.approx(0.015)
    assert got[("edge_inspect_stage_latency_seconds_bucket", (("le", "0.01"), ("stage", "total")))] == 1
    assert got[("edge_inspect_stage_latency_seconds_bucket", (("le", "0.5"), ("stage", "total")))] == 2
    assert got[("edge_inspect_stage_latency_seconds_bucket", (("le", "+Inf"), ("stage", "total")))] == 3
    assert got[("edge_inspect_defects_total", (("class", "scratch"),))] == 1
    assert got[("edge_inspect_defects_total", (("class", "dent"),))] == 1
    assert got[("edge_inspect_last_result_timestamp_seconds", ())] > 0


def test_identity_broker_and_camera_state_are_exported(exporter: MetricsExporter) -> None:
    exporter.cameras.source_state("cam-1", SourceState.RECONNECTING, "removed")  # type: ignore[attr-defined]
    exporter.broker.connected = False  # type: ignore[attr-defined]
    got = samples(get(f"{exporter.url}/metrics")[1])
    model_info = [k for k in got if k[0] == "edge_inspect_model_info"]
    assert model_info == [
        (
            "edge_inspect_model_info",
            (("name", "tiny"), ("sha256", "a" * 64), ("variant", "fp32"), ("version", "1.0.0")),
        )
    ]
    assert got[("edge_inspect_config_info", (("config_sha256", "b" * 64), ("recipe_hash", "0123abcd")))] == 1
    assert (
        got[("edge_inspect_build_info", (("camera", "cam-1"), ("station", "st-1"), ("version", "0.1.0")))]
        == 1
    )
    assert got[("edge_inspect_camera_state", (("camera", "cam-1"), ("state", "reconnecting")))] == 1
    assert got[("edge_inspect_camera_state", (("camera", "cam-1"), ("state", "online")))] == 0
    assert got[("edge_inspect_camera_connected", (("camera", "cam-1"),))] == 0
    assert got[("edge_inspect_ready", ())] == 0
    assert got[("edge_inspect_alive", ())] == 1
    assert ("process_resident_memory_bytes", ()) in got


def test_readyz_turns_ready_after_the_first_frame_and_follows_the_backlog(
    exporter: MetricsExporter, stats: Stats
) -> None:
    # given no frame yet / then alive but not ready, with the reason in the JSON body
    assert get(f"{exporter.url}/healthz")[0] == 200
    status, body = get(f"{exporter.url}/readyz")
    assert status == 503
    assert json.loads(body)["checks"]["first_frame"]["ok"] is False
    # when a frame is done / then ready
    stats.verdict(Verdict.PASS)
    assert get(f"{exporter.url}/readyz")[0] == 200
    # when the broker goes away and 3 results wait (limit 2) / then not ready, and ready again at 2
    exporter.broker.connected = False  # type: ignore[attr-defined]
    backlog = [3.0]
    stats.gauges["mqtt.pending"] = lambda: backlog[0]
    assert get(f"{exporter.url}/readyz")[0] == 503
    backlog[0] = 2.0
    assert get(f"{exporter.url}/readyz")[0] == 200


def test_a_crashed_stage_fails_healthz(exporter: MetricsExporter, stats: Stats) -> None:
    stats.count("stage_crash.infer")
    status, body = get(f"{exporter.url}/healthz")
    assert status == 503
    assert "infer" in json.loads(body)["checks"]["stages"]["detail"]


def test_a_failing_gauge_is_skipped_and_counted(exporter: MetricsExporter, stats: Stats) -> None:
    def broken() -> float:
        raise RuntimeError("database is locked")

    stats.gauges["outbox.depth"] = broken
    stats.gauges["queue.frames"] = lambda: 1.0
    status, text = get(f"{exporter.url}/metrics")
    got = samples(text)
    assert status == 200
    assert ("edge_inspect_outbox_depth", ()) not in got
    assert got[("edge_inspect_queue_depth", (("queue", "frames"),))] == 1
    assert got[("edge_inspect_scrape_errors_total", ())] >= 1


def test_openmetrics_is_served_when_asked(exporter: MetricsExporter) -> None:
    request = urllib.request.Request(
        f"{exporter.url}/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        assert response.read().decode().rstrip().endswith("# EOF")


def test_unknown_paths_are_404(exporter: MetricsExporter) -> None:
    assert get(f"{exporter.url}/nope")[0] == 404


def test_a_port_in_use_is_a_config_error_naming_the_field(stats: Stats) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"metrics.port: cannot listen on 127.0.0.1:{port}"):
            MetricsExporter(
                MetricsConfig(enabled=True, port=port), stats, IDENTITY, broker_connected=lambda: True
            )


def test_frame_and_verdict_counters_exist_before_the_first_frame(exporter: MetricsExporter) -> None:
    got = samples(get(f"{exporter.url}/metrics")[1])
    assert got[("edge_inspect_frames_total", ())] == 0
    for verdict in ("PASS", "NG", "ERROR"):
        assert got[("edge_inspect_verdicts_total", (("verdict", verdict),))] == 0
