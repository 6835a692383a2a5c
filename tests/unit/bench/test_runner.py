"""``edge-inspect bench`` end to end on a tiny model: real OpenVINO, a real mosquitto, a few seconds."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspect.cli import main
from tests.helpers.broker import Mosquitto, Subscriber
from tests.helpers.tiny_model import make_tiny_package

FRAMES, WARMUP, IMAGES = 48, 8, 8


@pytest.fixture
def station(tmp_path: Path) -> Path:
    """A station config: the tiny segmentation model, 8 mono images (half with a bright defect)."""
    make_tiny_package(tmp_path / "model", size=64, variants=("fp32",))
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(7)
    for index in range(IMAGES):
        image = rng.integers(0, 100, (64, 64), dtype=np.uint8)
        if index % 2:
            image[20:30, 20:30] = 250
        cv2.imwrite(str(images / f"{index:04d}.png"), image)
    config = tmp_path / "station.yaml"
    config.write_text(
        "station: line-1\ncamera: cam-1\n"
        "source: {type: replay, path: images, ground_truth: null}\n"
        "model: {path: model}\n"
        "engine: {type: openvino, device: CPU, num_requests: 2}\n"
        "mqtt: {host: 127.0.0.1, port: 1, topic_prefix: plant}\n",
        encoding="utf-8",
    )
    return config


def bench(config: Path, *args: str) -> int:
    return main(["bench", "--config", str(config), "--frames", str(FRAMES), "--warmup", str(WARMUP),
                 "--quiet", *args])  # fmt: skip


def test_given_a_station_when_benched_then_every_mode_reports_its_frames_and_results_go_to_bench_topics(
    station: Path, broker: Mosquitto, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "bench.json"
    with Subscriber(broker.port, "#") as sub:
        code = bench(station, "--set", f"mqtt.port={broker.port}", "--json", str(report_path))
        assert code == 0
        # the daemon and the naive loop each publish one result per frame, at QoS 1; the daemon goes on
        # replaying until its window has closed, so it publishes a few more (each one acknowledged)
        assert sub.wait_for(lambda _m: len(sub.on("/result")) >= 2 * FRAMES, timeout=10)

    results = sub.on("/result")
    assert len(results) >= 2 * FRAMES
    assert len({m.json()["result_id"] for m in results}) == len(results)
    assert {m.topic for m in results} == {"plant-bench/line-1/cam-1/result"}
    assert all(m.json()["station"] == "line-1" for m in results)

    report = json.loads(report_path.read_text(encoding="utf-8"))
    modes = {m["mode"]: m for m in report["modes"]}
    assert set(modes) == {"engine", "daemon", "naive"}
    for mode in modes.values():
        assert mode["frames"] == FRAMES
        assert mode["measured"] == FRAMES - WARMUP
        assert mode["fps"] > 0
        assert 0 < mode["latency"]["p50"] <= mode["latency"]["p99"]
        assert mode["failed"] == 0
    assert report["ratios"]["b/a"] == pytest.approx(modes["daemon"]["fps"] / modes["engine"]["fps"])
    assert report["header"]["engine_settings"]["requests"] == 2
    # every stage thread was alive at the window's end, so each has its CPU figure
    stages = {"stage-source", "stage-preprocess", "stage-infer", "stage-decide"}
    assert stages <= set(modes["daemon"]["thread_cpu_ms_per_frame"])

    text = capsys.readouterr().out
    daemon_row = next(line for line in text.splitlines() if line.startswith("(b) daemon"))
    assert daemon_row.split()[2:4] == [str(FRAMES - WARMUP), f"{modes['daemon']['fps']:.2f}"]
    assert f"b/a {report['ratios']['b/a']:.3f}" in text


def test_given_a_bench_started_broker_and_a_fixed_rate_when_benched_then_the_rate_is_offered(
    station: Path, tmp_path: Path
) -> None:
    report_path = tmp_path / "bench.json"
    code = bench(station, "--broker", "mosquitto", "--modes", "daemon", "--rate", "200",
                 "--json", str(report_path))  # fmt: skip
    assert code == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    modes = {m["mode"]: m for m in report["modes"]}
    assert set(modes) == {"daemon", "load"}
    assert modes["load"]["measured"] == FRAMES - WARMUP
    assert modes["load"]["offered_fps"] == pytest.approx(200.0, rel=0.2)
    assert "started by the bench" in report["header"]["broker"]


def test_given_repeated_rounds_and_a_load_when_benched_then_the_fixed_rate_mode_is_repeated_too(
    station: Path, tmp_path: Path
) -> None:
    report_path = tmp_path / "bench.json"
    code = bench(station, "--broker", "mosquitto", "--modes", "engine", "--load", "0.02", "--repeat", "2",
                 "--json", str(report_path))  # fmt: skip
    assert code == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    modes = {m["mode"]: m for m in report["modes"]}
    assert set(modes) == {"engine", "load"}
    assert modes["load"]["offered_fps"] == pytest.approx(0.02 * modes["engine"]["fps"], rel=0.2)
    assert any(note.startswith("median of 2 rounds by p99: p99 ms (") for note in modes["load"]["notes"])


def test_given_contradictory_options_when_benched_then_each_problem_is_named(
    station: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "--config", str(station), "--frames", "5", "--warmup", "10",
                 "--load", "0.8", "--rate", "30", "--modes", "daemon,turbo"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "--frames 5 must exceed --warmup 10" in err
    assert "unknown mode 'turbo'" in err
    assert "--load and --rate are alternatives" in err


def test_given_a_duration_when_benched_then_the_long_run_reports_an_rss_trend(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "bench.json"
    code = bench(station, "--broker", "mosquitto", "--modes", "daemon", "--rate", "100",
                 "--duration", "2", "--rss-every", "0.1", "--json", str(report_path))  # fmt: skip
    assert code == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    soak = next(m for m in report["modes"] if m["mode"] == "soak")
    assert soak["rss"]["samples"] >= 5
    assert 0 < soak["rss"]["span_s"] <= 2.5
    assert soak["rss"]["start_mb"] > 0
    assert 0 < soak["rss_anon"]["start_mb"] < soak["rss"]["start_mb"]  # the heap, without library pages
    assert len(soak["rss"]["series"]) == soak["rss"]["samples"]
    rss_target = next(t for t in report["targets"] if t["name"].startswith("RSS"))
    assert rss_target["met"] is not None
    assert "the target is stated for 30 min" in rss_target["note"]
    assert "(e) daemon, long run" in capsys.readouterr().out


def test_given_no_broker_at_the_configured_address_when_benched_then_it_says_so_before_measuring(
    station: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = bench(station, "--modes", "daemon")  # station.yaml points at 127.0.0.1:1, where nothing listens
    assert code == 1
    err = capsys.readouterr().err
    assert "no MQTT broker answers at 127.0.0.1:1" in err
    assert "--broker mosquitto" in err
