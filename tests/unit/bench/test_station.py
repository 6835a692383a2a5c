"""``bench --cameras N``: one daemon of N cameras against N one-camera daemons, as real processes."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspect.cli import main
from tests.helpers.tiny_model import make_tiny_package


@pytest.fixture
def station(tmp_path: Path) -> Path:
    make_tiny_package(tmp_path / "model", size=64, variants=("fp32",))
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    for index in range(6):
        cv2.imwrite(str(images / f"{index:04d}.png"), rng.integers(0, 100, (64, 64), dtype=np.uint8))
    config = tmp_path / "station.yaml"
    config.write_text(
        "station: line-1\ncamera: cam-1\n"
        "source: {type: replay, path: images, ground_truth: null}\n"
        "model: {path: model}\n"
        "engine: {type: openvino, device: CPU, num_requests: 2}\n"
        "mqtt: {host: 127.0.0.1, port: 1, topic_prefix: plant, password: secret}\n",
        encoding="utf-8",
    )
    return config


def test_both_sides_are_measured_on_their_parts_and_the_ratio_is_reported(
    station: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "station.json"
    code = main(["bench", "--config", str(station), "--cameras", "2", "--frames", "16", "--warmup", "4",
                 "--window", "2", "--quiet", "--json", str(out)])  # fmt: skip
    assert code == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    for side, daemons in (("shared", 1), ("separate", 2)):
        measured = report[side]
        assert measured["daemons"] == daemons
        assert measured["parts"] == 12  # the parts after the warm-up, each complete on every camera
        assert measured["error_parts"] == 0
        assert measured["parts_per_s"] > 0
        assert measured["latency_ms"]["count"] == 12
        assert measured["cpu_s_per_part"] > 0
        assert measured["rss_mb"] > 0
    assert report["ratio"] == pytest.approx(
        report["shared"]["parts_per_s"] / report["separate"]["parts_per_s"]
    )
    text = capsys.readouterr().out
    assert "one daemon, 2 cameras" in text
    assert "2 daemons, 1 camera" in text
    assert "shared / separate parts/s" in text


def test_bad_station_bench_options_are_refused_naming_each(
    station: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bench", "--config", str(station), "--cameras", "9", "--frames", "5", "--warmup", "5",
                 "--window", "0", "--quiet"])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "--cameras 9: a station serves 1 to 8 cameras",
        "--frames 5: the parts must outnumber --warmup 5",
        "--window 0: at least 1 part in the station",
    ]
