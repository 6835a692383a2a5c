"""The walking skeleton end to end: `edge-inspect run` replays the samples through real OpenVINO into a real
mosquitto; a subscriber checks one schema-valid result per frame, verdicts equal to the ground truth, and the
retained status going online then offline."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from tests.helpers.broker import Mosquitto, Subscriber
from tests.helpers.daemon import ROOT, expected_verdict, run_cli, start_daemon
from tests.helpers.schemas import validate

CONFIG = ROOT / "config" / "replay.yaml"
IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"}


def sample_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


@pytest.mark.parametrize("variant", ["int8", "fp32"])
def test_given_the_sample_set_when_replayed_then_every_frame_gives_one_correct_result(
    broker: Mosquitto, model_dir: Path, sample_dir: Path, variant: str
) -> None:
    images = sample_images(sample_dir)
    with Subscriber(broker.port, "edge-inspect/#") as sub:
        proc = run_cli(
            "run", "--config", str(CONFIG),
            "--set", f"mqtt.port={broker.port}",
            "--set", f"model.variant={variant}",
            "--set", "logging.format=json",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert sub.wait_for(lambda _m: len(sub.on("/status")) >= 2, timeout=10)

    results = [m.json() for m in sub.on("/result")]
    assert len(results) == len(images)
    assert sorted(r["seq"] for r in results) == list(range(len(images)))
    assert len({r["result_id"] for r in results}) == len(images)
    for result in results:
        validate("result", result)
        assert result["model"]["variant"] == variant
        assert result["error"] is None
    by_file = {Path(r["source"]["path"]).name: r["verdict"] for r in results}
    truth = {p.name: expected_verdict(p) for p in images}
    assert by_file == truth
    assert "NG" in truth.values()
    assert "PASS" in truth.values()

    states = [m.json()["state"] for m in sub.on("/status")]
    assert states[0] == "online"
    assert states[-1] == "offline"
    for message in sub.on("/status") + sub.on("/stats"):
        validate("status" if message.topic.endswith("/status") else "stats", message.json())


def test_given_a_finished_run_when_a_late_subscriber_connects_then_status_is_retained_offline(
    broker: Mosquitto, model_dir: Path, sample_dir: Path
) -> None:
    proc = run_cli("run", "--config", str(CONFIG), "--set", f"mqtt.port={broker.port}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    with Subscriber(broker.port, "edge-inspect/+/status") as late:
        assert late.wait_for(lambda m: len(m) >= 1, timeout=5)
        message = late.messages[0]
    assert message.retain
    assert message.json()["state"] == "offline"


def test_given_a_running_daemon_when_sigterm_then_in_flight_frames_drain_and_it_exits_0(
    broker: Mosquitto, model_dir: Path, sample_dir: Path
) -> None:
    with Subscriber(broker.port, "edge-inspect/#") as sub:
        daemon = start_daemon(
            CONFIG,
            [f"mqtt.port={broker.port}", "source.loop=0", "source.fps=25", "runtime.shutdown_grace_s=10"],
        )
        try:
            assert sub.wait_for(lambda _m: len(sub.on("/result")) >= 10, timeout=60), daemon.stdout
            daemon.send_signal(signal.SIGTERM)
            started = time.monotonic()
            code = daemon.wait(timeout=20)
            elapsed = time.monotonic() - started
        finally:
            if daemon.poll() is None:
                daemon.kill()
        assert code == 0
        assert elapsed < 10
        assert sub.wait_for(lambda _m: sub.on("/status")[-1].json()["state"] == "offline", timeout=5)

    seqs = sorted(m.json()["seq"] for m in sub.on("/result"))
    # every frame the daemon took was published: no gaps, no duplicates
    assert seqs == list(range(len(seqs)))


def test_given_corrupt_files_in_the_replay_when_run_then_each_is_one_error_result_and_the_rest_pass(
    broker: Mosquitto, model_dir: Path, sample_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = sample_images(sample_dir)[:3]
    for image in good:
        (folder / image.name).write_bytes(image.read_bytes())
    (folder / "zz_empty.png").write_bytes(b"")
    (folder / "zz_truncated.png").write_bytes(good[0].read_bytes()[:500])
    (folder / "zz_text.png").write_bytes(b"not an image at all")
    with Subscriber(broker.port, "edge-inspect/+/+/result") as sub:
        proc = run_cli(
            "run", "--config", str(CONFIG),
            "--set", f"mqtt.port={broker.port}",
            "--set", f"source.path={folder}",
            "--set", "source.ground_truth=null",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert sub.wait_for(lambda m: len(m) >= 6, timeout=10)
    results = {Path(m.json()["source"]["path"]).name: m.json() for m in sub.messages}
    assert len(results) == 6
    for name in ("zz_empty.png", "zz_truncated.png", "zz_text.png"):
        assert results[name]["verdict"] == "ERROR"
        assert name in results[name]["error"]
        validate("result", results[name])
    for image in good:
        assert results[image.name]["verdict"] in {"PASS", "NG"}


def test_given_an_invalid_config_when_checked_then_every_bad_field_is_named_and_exit_is_2(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: {type: replay, path: x, fps: -1}\nmodel: {path: m}\nmqtt: {prot: 1}\n")
    proc = run_cli("check-config", str(bad))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert f"{bad}:1: source.fps: Input should be greater than or equal to 0" in lines
    assert any(line.startswith(f"{bad}:3: mqtt.prot: unknown field") for line in lines)


def test_given_a_valid_config_when_checked_then_the_resolved_config_is_printed() -> None:
    proc = run_cli("check-config", str(CONFIG), "--set", "mqtt.port=1999")
    assert proc.returncode == 0, proc.stderr
    resolved = json.loads(proc.stdout)
    assert resolved["mqtt"]["port"] == 1999
    # the one-camera form resolved to the list the daemon serves
    assert "source" not in resolved
    assert "camera" not in resolved
    [camera] = resolved["cameras"]
    assert camera["id"] == "cam-1"
    assert camera["source"]["path"] == str(ROOT / "models" / "dagm-sample")
    assert resolved["part"]["trigger"] == "free"


def test_config_schema_is_json_schema_naming_every_section() -> None:
    proc = run_cli("config-schema")
    assert proc.returncode == 0
    schema = json.loads(proc.stdout)
    assert {"source", "model", "engine", "decision", "mqtt"} <= set(schema["properties"])
