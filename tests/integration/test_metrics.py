"""The daemon's /metrics, /healthz and /readyz while it runs, through a broker outage, and its saved images.

``edge-inspect run`` replays the sample set (paced) into a real mosquitto with metrics and image saving
on; the test scrapes over HTTP as Prometheus would, kills and restarts the broker, and reads the files.
A scrape is written to ``metrics-sample.txt`` under the test's tmp folder for the docs.
"""

from __future__ import annotations

import json
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import MODEL_DIR
from tests.helpers.broker import Mosquitto, Subscriber, free_port
from tests.helpers.daemon import ROOT, start_daemon
from tests.helpers.waiting import wait_or_fail

CONFIG = ROOT / "config" / "replay.yaml"
MAX_BACKLOG = 3


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """The shipped model when it is there, else a tiny real OpenVINO model (every bright pixel is NG)."""
    if (MODEL_DIR / "manifest.yaml").is_file():
        return MODEL_DIR
    from tests.helpers.tiny_model import make_tiny_package

    return make_tiny_package(tmp_path / "tiny-model", variants=("fp32",))


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except OSError as exc:
        return 0, str(exc)


def scrape(base: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, text = get(f"{base}/metrics")
    assert status == 200, text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def backlog(metrics: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    """Results waiting for the broker: the outbox's depth when there is one, else the MQTT client's queue."""
    return metrics.get(
        ("edge_inspect_outbox_depth", ()), metrics.get(("edge_inspect_mqtt_pending", ()), -1.0)
    )


def test_metrics_and_probes_follow_the_daemon_through_a_broker_outage(
    broker: Mosquitto, sample_dir: Path, model: Path, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    state = tmp_path / "state"
    overrides = [
        f"mqtt.port={broker.port}",
        f"model.path={model}",
        "model.variant=null",
        f"source.path={sample_dir}",
        "source.fps=10",
        "source.loop=0",
        "mqtt.reconnect_min_s=0.5",
        "mqtt.reconnect_max_s=1",
        f"paths.state_dir={state}",
        "metrics.enabled=true",
        f"metrics.port={port}",
        f"metrics.ready_max_backlog={MAX_BACKLOG}",
        "images.enabled=true",
        "logging.format=json",
    ]
    with Subscriber(broker.port, "edge-inspect/+/+/result") as mes:
        daemon = start_daemon(CONFIG, overrides)
        try:
            # given a running station / then it is alive, and ready once a frame is done and the broker is up
            wait_or_fail(lambda: get(f"{base}/healthz")[0] == 200, 60, "/healthz")
            wait_or_fail(lambda: get(f"{base}/readyz")[0] == 200, 60, "/readyz")
            wait_or_fail(lambda: len(mes.on("/result")) >= 5, 60, "five results")
            metrics = scrape(base)
            frames = metrics[("edge_inspect_frames_total", ())]
            assert frames >= 1
            verdicts = sum(v for (name, _), v in metrics.items() if name == "edge_inspect_verdicts_total")
            assert verdicts == frames
            observed = metrics[("edge_inspect_stage_latency_seconds_count", (("stage", "total"),))]
            assert abs(observed - frames) <= 1  # the sink sees a result just before Stats counts it
            assert metrics[("edge_inspect_broker_connected", ())] == 1
            assert metrics[("edge_inspect_ready", ())] == 1
            model_info = [labels for (name, labels) in metrics if name == "edge_inspect_model_info"]
            assert len(model_info) == 1
            assert dict(model_info[0])["sha256"]
            assert any(name == "edge_inspect_queue_depth" for name, _ in metrics)
            # counters the docs list are there before their first event, at 0
            for series in (
                ("edge_inspect_frames_dropped_total", (("queue", "frames"),)),
                ("edge_inspect_images_dropped_total", ()),
                ("edge_inspect_images_failed_total", ()),
                ("edge_inspect_outbox_lost_total", ()),
                ("edge_inspect_mqtt_connect_failures_total", ()),
            ):
                assert metrics.get(series) == 0, series
            sinks = {
                dict(labels)["sink"] for name, labels in metrics if name == "edge_inspect_sink_errors_total"
            }
            assert {"mqtt", "metrics"} <= sinks, sinks
            (tmp_path / "metrics-sample.txt").write_text(get(f"{base}/metrics")[1])

            # when the broker dies / then the backlog grows, the station stays ready within the limit...
            broker.kill()
            wait_or_fail(
                lambda: scrape(base)[("edge_inspect_broker_connected", ())] == 0, 30, "broker disconnected"
            )
            # ...and is not ready once more than the limit waits
            wait_or_fail(lambda: backlog(scrape(base)) > MAX_BACKLOG, 60, "the backlog to pass the limit")
            wait_or_fail(lambda: get(f"{base}/readyz")[0] == 503, 10, "/readyz to fail")
            body = json.loads(get(f"{base}/readyz")[1])
            assert body["checks"]["broker"]["ok"] is False
            assert get(f"{base}/healthz")[0] == 200  # still alive: inspecting, only queueing

            # when the broker comes back / then the backlog drains and the station is ready again
            broker.start()
            wait_or_fail(lambda: get(f"{base}/readyz")[0] == 200, 60, "/readyz after the outage")
            assert scrape(base)[("edge_inspect_broker_connected", ())] == 1
        finally:
            daemon.send_signal(signal.SIGTERM)
            out, _ = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, out[-3000:]

    # and: every saved image named by a result exists, original and overlay
    saved = [m.json()["image_path"] for m in mes.on("/result") if m.json()["image_path"]]
    assert saved, "no result named a saved image"
    for path in saved:
        assert Path(path).is_file(), path
        assert Path(path).parent.parent == state / "images"
    print(f"metrics sample: {tmp_path / 'metrics-sample.txt'}; saved image: {saved[0]}")
