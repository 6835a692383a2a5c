"""Scale-out: two stations publish to one broker; two MES consumers share one subscription.

Two ``edge-inspect run`` processes (stations ``st-a`` and ``st-b``) replay the sample set into one
mosquitto; two consumers subscribe to ``$share/mes/edge-inspect/+/+/result`` with QoS 1. Every result
must be consumed exactly once across the group - none lost, none twice - and the group must really
share the work (each consumer takes some).
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

from tests.conftest import MODEL_DIR
from tests.helpers.broker import Mosquitto, Subscriber
from tests.helpers.daemon import ROOT, start_daemon

CONFIG = ROOT / "config" / "replay.yaml"
STATIONS = ("st-a", "st-b")
SHARED = "$share/mes/edge-inspect/+/+/result"
IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"}


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """The shipped model when it is there, else a tiny real OpenVINO model."""
    if (MODEL_DIR / "manifest.yaml").is_file():
        return MODEL_DIR
    from tests.helpers.tiny_model import make_tiny_package

    return make_tiny_package(tmp_path / "tiny-model", variants=("fp32",))


def test_two_stations_two_consumers_every_result_consumed_exactly_once(
    broker: Mosquitto, sample_dir: Path, model: Path
) -> None:
    frames = len([p for p in sample_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES])
    expected = {(station, seq) for station in STATIONS for seq in range(frames)}
    with Subscriber(broker.port, SHARED, qos=1) as mes_1, Subscriber(broker.port, SHARED, qos=1) as mes_2:
        # given two consumers in the group 'mes' / when two stations run side by side
        daemons = [
            start_daemon(
                CONFIG,
                [
                    f"station={station}",
                    f"mqtt.port={broker.port}",
                    f"model.path={model}",
                    "model.variant=null",
                    f"source.path={sample_dir}",
                    "source.loop=1",
                    "logging.format=json",
                ],
            )
            for station in STATIONS
        ]
        outputs = [daemon.communicate(timeout=240)[0] for daemon in daemons]
        for daemon, out in zip(daemons, outputs, strict=True):
            assert daemon.returncode == 0, out[-3000:]

        def consumed(_: object) -> bool:
            return len(mes_1.on("/result")) + len(mes_2.on("/result")) >= len(expected)

        assert mes_1.wait_for(consumed, 30), "results missing after both stations stopped"
    # then every result was consumed once, across the two consumers
    by_consumer = [[m.json() for m in sub.on("/result")] for sub in (mes_1, mes_2)]
    every = [r for results in by_consumer for r in results]
    ids = collections.Counter(r["result_id"] for r in every)
    duplicated = sorted(i for i, n in ids.items() if n > 1)
    seen = {(r["station"], r["seq"]) for r in every}
    lost = len(expected - seen)
    print(
        f"scale-out: {len(STATIONS)} stations x {frames} frames = {len(expected)} results; consumed "
        f"{len(by_consumer[0])} + {len(by_consumer[1])}; lost {lost}; duplicated {len(duplicated)}"
    )
    assert duplicated == []
    assert seen == expected
    assert len(every) == len(expected)
    assert all(len(results) > 0 for results in by_consumer), "the group did not share the work"
