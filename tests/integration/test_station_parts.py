"""A station of two cameras triggered over MQTT: one engine, one verdict per part, in trigger order.

Real ``edge-inspect run`` processes, a real mosquitto, the shipped model on OpenVINO. The two cameras
are replay sources with ``trigger: software``: each trigger message releases the next file of both, so
the test knows which two images make each part and what the part's verdict must be.
"""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import MODEL_DIR
from tests.helpers.broker import Mosquitto, Subscriber
from tests.helpers.daemon import expected_verdict, start_daemon
from tests.helpers.schemas import validate
from tests.helpers.waiting import wait_or_fail

IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"}
PREFIX = "edge-inspect"
STATION = "line-1"
TRIGGER = f"{PREFIX}/{STATION}/trigger"


def _camera_folder(folder: Path, images: list[Path]) -> Path:
    """``images`` (and their DAGM labels) linked into ``folder``: one camera's replay."""
    (folder / "Label").mkdir(parents=True)
    for image in images:
        (folder / image.name).symlink_to(image)
        label = image.parent / "Label" / f"{image.stem}_label.PNG"
        if label.is_file():
            (folder / "Label" / label.name).symlink_to(label)
    return folder


def _station_config(path: Path, cameras: dict[str, tuple[Path, int]], port: int, **part: Any) -> Path:
    config = {
        "station": STATION,
        "cameras": [
            {
                "id": camera,
                "source": {
                    "type": "replay",
                    "path": str(folder),
                    "loop": loops,
                    "trigger": "software",
                    "ground_truth": "auto",
                },
            }
            for camera, (folder, loops) in cameras.items()
        ],
        "part": {"trigger": "mqtt", **part},
        "model": {"path": str(MODEL_DIR), "variant": None},
        "engine": {"type": "openvino", "device": "CPU", "precision": "f32", "normalise_in_model": True},
        "runtime": {"opencv_threads": 1},
        "mqtt": {"host": "127.0.0.1", "port": port, "topic_prefix": PREFIX, "stats_interval_s": 1},
        "logging": {"format": "json"},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


class _Line:
    """The line's side: publishes triggers at QoS 1."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="test-line")
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def trigger(self, payload: dict[str, Any] | bytes) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(TRIGGER, body, qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def images(sample_dir: Path, model_dir: Path) -> list[Path]:
    found = sorted(p for p in sample_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    assert len(found) >= 20
    return found


@pytest.fixture
def line(broker: Mosquitto) -> Iterator[_Line]:
    sender = _Line(broker.port)
    yield sender
    sender.close()


def _stop(daemon: subprocess.Popen[str]) -> str:
    daemon.send_signal(signal.SIGTERM)
    out = daemon.communicate(timeout=60)[0]
    assert daemon.returncode == 0, out[-3000:]
    return out


def _parts_at_least(sub: Subscriber, count: int) -> Callable[[], bool]:
    return lambda: len(sub.on(f"{STATION}/part")) >= count


def _online(sub: Subscriber, daemon: subprocess.Popen[str]) -> None:
    def online() -> bool:
        if daemon.poll() is not None:
            raise AssertionError(daemon.communicate()[0][-3000:])
        return any(m.json().get("state") == "online" for m in sub.on(f"{STATION}/status"))

    wait_or_fail(online, 120, "the station online")


def test_two_cameras_100_triggers_give_100_parts_in_order_with_both_frames(
    broker: Mosquitto, line: _Line, images: list[Path], tmp_path: Path
) -> None:
    half = len(images) // 2
    top, bottom = images[:half], images[half : 2 * half]
    config = _station_config(
        tmp_path / "station.yaml",
        {
            "top": (_camera_folder(tmp_path / "top", top), 0),
            "bottom": (_camera_folder(tmp_path / "bottom", bottom), 0),
        },
        broker.port,
        timeout_ms=20_000,
    )
    parts = 100
    with Subscriber(broker.port, f"{PREFIX}/#") as sub:
        daemon = start_daemon(config, [])
        try:
            _online(sub, daemon)
            # given a line that keeps at most 8 parts in the station / when it triggers 100 parts
            for n in range(1, parts + 1):
                wait_or_fail(_parts_at_least(sub, n - 8), 60, f"part {n - 8}")
                meta = {"carrier": n % 7} if n % 10 == 0 else None
                line.trigger({"part_id": f"P-{n:04d}", **({"meta": meta} if meta else {})})
            wait_or_fail(lambda: len(sub.on(f"{STATION}/part")) >= parts, 120, "100 part messages")
        finally:
            out = _stop(daemon)

    part_messages = [m.json() for m in sub.on(f"{STATION}/part")]
    frame_messages = [m.json() for m in sub.on("/result")]
    # then exactly 100 part messages, in trigger order, each with both cameras' frames
    assert [p["part_id"] for p in part_messages] == [f"P-{n:04d}" for n in range(1, parts + 1)], out[-2000:]
    assert [p["seq"] for p in part_messages] == list(range(1, parts + 1))
    assert len(frame_messages) == 2 * parts
    by_id = {r["result_id"]: r for r in frame_messages}
    for n, part in enumerate(part_messages):
        validate("part", part)
        assert sorted(f["camera"] for f in part["frames"]) == ["bottom", "top"]
        assert part["expected"] == {"top": 1, "bottom": 1}
        assert part["duplicate"] is False
        # the n-th trigger released the n-th file of each camera (each replays its files in a loop)
        files = {"top": top[n % half], "bottom": bottom[n % half]}
        truth = [expected_verdict(files[camera]) for camera in ("top", "bottom")]
        assert part["verdict"] == ("NG" if "NG" in truth else "PASS"), (part, truth)
        for frame in part["frames"]:
            result = by_id[frame["result_id"]]
            assert result["part_id"] == part["part_id"]
            assert result["camera"] == frame["camera"]
            assert Path(result["source"]["path"]).name == files[frame["camera"]].name
        if (n + 1) % 10 == 0:
            assert part["meta"] == {"carrier": (n + 1) % 7}
        else:
            assert part["meta"] == {}
    assert {"NG", "PASS"} <= {p["verdict"] for p in part_messages}
    # 200 frame results, each on its camera's topic with its part id, all valid
    for message in sub.on("/result"):
        result = message.json()
        validate("result", result)
        assert message.topic == f"{PREFIX}/{STATION}/{result['camera']}/result"
        assert result["part_id"] is not None
    # one engine compiled for the two cameras
    final = [m.json() for m in sub.on(f"{STATION}/stats")][-1]
    validate("stats", final)
    assert final["counters"]["engine.opened"] == 1
    assert final["counters"]["parts.verdict.ERROR"] == 0
    assert final["counters"]["parts.triggered"] == parts


def test_a_camera_that_stops_delivering_makes_its_parts_error_within_the_deadline(
    broker: Mosquitto, line: _Line, images: list[Path], tmp_path: Path
) -> None:
    timeout_ms = 1500
    # parts 4-6 get a good top image: their verdict can only come from the missing side shot
    good = [image for image in images[13:] if expected_verdict(image) == "PASS"][:3]
    config = _station_config(
        tmp_path / "station.yaml",
        {
            "top": (_camera_folder(tmp_path / "top", images[:3] + good), 0),
            # one pass of 3 files: after the third part this camera gives nothing
            "side": (_camera_folder(tmp_path / "side", images[10:13]), 1),
        },
        broker.port,
        timeout_ms=timeout_ms,
    )
    with Subscriber(broker.port, f"{PREFIX}/#") as sub:
        daemon = start_daemon(config, [])
        try:
            _online(sub, daemon)
            for n in range(1, 7):
                line.trigger({"part_id": f"P-{n}"})
                wait_or_fail(_parts_at_least(sub, n), 30, f"part P-{n}")
        finally:
            out = _stop(daemon)
    parts = [m.json() for m in sub.on(f"{STATION}/part")]
    assert [p["part_id"] for p in parts] == [f"P-{n}" for n in range(1, 7)], out[-2000:]
    for part in parts[:3]:
        assert part["verdict"] in {"PASS", "NG"}
        assert len(part["frames"]) == 2
    for part in parts[3:]:
        validate("part", part)
        # ERROR by the deadline, naming the camera that gave nothing; the other camera's frame is in it
        assert part["verdict"] == "ERROR", part
        assert part["frames"][0]["verdict"] == "PASS"
        assert any("camera side" in reason and "0 of 1" in reason for reason in part["reasons"]), part
        assert timeout_ms <= part["latency_ms"] <= timeout_ms + 500, part
        assert [f["camera"] for f in part["frames"]] == ["top"]
    top_results = [m.json() for m in sub.on("/top/result")]
    assert [r["part_id"] for r in top_results] == [f"P-{n}" for n in range(1, 7)]


def test_triggers_beyond_max_pending_are_error_parts_and_a_duplicate_id_is_flagged(
    broker: Mosquitto, line: _Line, images: list[Path], tmp_path: Path
) -> None:
    config = _station_config(
        tmp_path / "station.yaml",
        {"top": (_camera_folder(tmp_path / "top", images[:10]), 0)},
        broker.port,
        max_pending=2,
        timeout_ms=20_000,
    )
    with Subscriber(broker.port, f"{PREFIX}/#") as sub:
        daemon = start_daemon(config, [])
        try:
            _online(sub, daemon)
            # a burst of 12 triggers: the station holds 2 open parts; then one id again, and a bad message
            for n in range(1, 13):
                line.trigger({"part_id": f"B-{n}"})
            wait_or_fail(lambda: len(sub.on(f"{STATION}/part")) >= 12, 60, "12 part messages")
            line.trigger({"part_id": "B-1"})
            line.trigger(b"not json")
            wait_or_fail(lambda: len(sub.on(f"{STATION}/part")) >= 14, 60, "14 part messages")
        finally:
            out = _stop(daemon)
    parts = [m.json() for m in sub.on(f"{STATION}/part")]
    for part in parts:
        validate("part", part)
    assert [p["part_id"] for p in parts[:13]] == [f"B-{n}" for n in range(1, 13)] + ["B-1"], out[-2000:]
    overflow = [p for p in parts[:12] if any("trigger queue full" in r for r in p["reasons"])]
    inspected = [p for p in parts[:12] if p["frames"]]
    # none dropped: each trigger has its message, either inspected or an ERROR saying why it was not
    assert len(overflow) + len(inspected) == 12
    assert overflow, "a burst of 12 over max_pending 2 overflowed nothing"
    assert all(p["verdict"] == "ERROR" and not p["frames"] for p in overflow)
    assert parts[12]["duplicate"] is True
    assert parts[12]["frames"], "a duplicate id is still inspected"
    assert parts[13]["verdict"] == "ERROR"
    assert parts[13]["part_id"].startswith("auto-")
    assert any("not JSON" in r for r in parts[13]["reasons"])
    final = [m.json() for m in sub.on(f"{STATION}/stats")][-1]
    assert final["counters"]["parts.overflow"] == len(overflow)
    assert final["counters"]["parts.duplicates"] == 1
    assert final["counters"]["parts.bad_triggers"] == 1


def _free_running(path: Path, cameras: dict[str, dict[str, Any]], port: int) -> Path:
    config = {
        "station": STATION,
        "cameras": [
            {"id": camera, "source": {"type": "replay", **source}} for camera, source in cameras.items()
        ],
        "model": {"path": str(MODEL_DIR), "variant": None},
        "engine": {"type": "openvino", "device": "CPU", "precision": "f32", "normalise_in_model": True},
        "runtime": {"opencv_threads": 1},
        "mqtt": {"host": "127.0.0.1", "port": port, "topic_prefix": PREFIX},
        "logging": {"format": "json"},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _slow_latencies(broker: Mosquitto, config: Path, slow_frames: int) -> tuple[list[float], int]:
    """(the slow camera's grab-to-result latencies, the fast camera's frames meanwhile)."""
    with Subscriber(broker.port, f"{PREFIX}/{STATION}/+/result") as sub:
        daemon = start_daemon(config, [])
        try:
            wait_or_fail(lambda: len(sub.on("/slow/result")) >= slow_frames, 120, "the slow camera's frames")
        finally:
            _stop(daemon)
    slow = [m.json() for m in sub.on("/slow/result")][:slow_frames]
    assert all(r["verdict"] in {"PASS", "NG"} for r in slow)
    return sorted(r["timings_ms"]["total"] for r in slow), len(sub.on("/fast/result"))


def test_a_camera_that_floods_does_not_starve_a_slow_one(
    broker: Mosquitto, images: list[Path], tmp_path: Path
) -> None:
    slow = {"path": str(_camera_folder(tmp_path / "slow", images[:20])), "fps": 5, "loop": 1}
    fast = {
        "path": str(_camera_folder(tmp_path / "fast", images[20:])),
        "fps": 0,
        "loop": 0,
        "cache_in_memory": True,
    }
    # the slow camera alone, then beside a camera replaying as fast as the station takes frames
    alone, _ = _slow_latencies(
        broker, _free_running(tmp_path / "alone.yaml", {"slow": slow}, broker.port), 20
    )
    beside, flooded = _slow_latencies(
        broker, _free_running(tmp_path / "both.yaml", {"fast": fast, "slow": slow}, broker.port), 20
    )
    p50_alone, p50_beside, worst = alone[len(alone) // 2], beside[len(beside) // 2], beside[-1]
    print(f"slow camera grab-to-result: alone p50 {p50_alone:.0f} ms; beside a flooding camera "
          f"({flooded} frames) p50 {p50_beside:.0f} ms, max {worst:.0f} ms")  # fmt: skip
    # the flooding camera really took the station's capacity (5 fps is a small share of it)...
    assert flooded >= 3 * len(beside)
    # ...and each slow frame still waited behind at most a few of its frames: bounded, not starved
    # (4 s at 5 fps; a starved camera's latency grows with the run)
    assert worst < 1500, beside
    assert beside[-1] - beside[0] < 1500
