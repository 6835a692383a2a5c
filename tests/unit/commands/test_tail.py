"""``edge-inspect tail``: one readable line per result, coloured by verdict; a real broker end to end."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspect.commands.tail import format_message, format_result, subscriptions
from edge_inspect.publish.payload import encode, result_payload
from edge_inspect.types import Verdict
from tests.helpers.broker import Mosquitto, free_port
from tests.helpers.daemon import command
from tests.helpers.results import defect, result

ROOT = Path(__file__).resolve().parents[3]


def payload(verdict: Verdict, **kw: object) -> dict[str, object]:
    return result_payload(result(verdict, **kw))  # type: ignore[arg-type]


def test_an_ng_line_shows_time_station_seq_verdict_latency_and_the_worst_defects() -> None:
    built = result(
        Verdict.NG,
        seq=42,
        defects=(defect("scratch", (10, 20, 5, 5), 0.93), defect("dent", (1, 2, 3, 3), 0.99)),
        timings={"total": 12.34},
        captured_at=1738311302.123,
    )
    line = format_result(result_payload(built), colour=False)
    assert line.startswith("08:15:02.123 st-1/cam-1 #42 NG")
    assert "12.3 ms" in line
    assert "2 defects: dent 9px @(1,2) p=0.99, scratch 25px @(10,20) p=0.93" in line


def test_colour_follows_the_verdict() -> None:
    assert "\x1b[32mPASS" in format_result(payload(Verdict.PASS), colour=True)
    assert "\x1b[1;31mNG" in format_result(payload(Verdict.NG, defects=(defect(),)), colour=True)
    assert "\x1b[" not in format_result(payload(Verdict.PASS), colour=False)


def test_an_error_line_shows_the_error_and_a_saved_image_its_path() -> None:
    line = format_result(payload(Verdict.ERROR, error="preprocess: 1x1 frame"), colour=False)
    assert "ERROR" in line
    assert "error: preprocess: 1x1 frame" in line
    saved = payload(Verdict.NG, defects=(defect(),)) | {"image_path": "/var/lib/edge-inspect/images/x.png"}
    assert format_result(saved, colour=False).endswith("-> /var/lib/edge-inspect/images/x.png")


def test_many_defects_are_summarised() -> None:
    many = tuple(defect(score=0.5 + i / 100) for i in range(5))
    assert "(+2 more)" in format_result(payload(Verdict.NG, defects=many), colour=False)


def test_a_message_that_is_not_json_is_reported_not_fatal() -> None:
    assert format_message("a/b/c/result", b"\xff\x00", colour=False).startswith(
        "unreadable message on a/b/c/result"
    )
    assert format_message("a/b/c/result", b"[1]", colour=False).startswith("unexpected message")


def test_status_messages_are_one_dim_line() -> None:
    line = format_message(
        "edge-inspect/st-1/cam-1/camera",
        json.dumps(
            {
                "station": "st-1",
                "camera": "cam-1",
                "state": "reconnecting",
                "reason": "removed",
                "timestamp": "2025-01-31T08:15:02.123Z",
            }
        ).encode(),
        colour=False,
    )
    assert line == "08:15:02.123 camera st-1/cam-1 reconnecting: removed"


def test_subscriptions_share_only_the_results_and_parts() -> None:
    assert subscriptions("p", "+", "+", share="mes", status=True) == [
        "$share/mes/p/+/+/result",
        "$share/mes/p/+/part",
        "p/+/status",
        "p/+/+/camera",
    ]
    assert subscriptions("p", "st-1", "cam-1", share=None, status=False) == [
        "p/st-1/cam-1/result",
        "p/st-1/part",
    ]


def test_a_part_is_one_line_with_its_id_verdict_latency_and_reasons() -> None:
    part = {
        "part_id": "P-0001",
        "station": "st-1",
        "verdict": "ERROR",
        "decided_at": "2025-01-31T08:15:02.345Z",
        "latency_ms": 2001.25,
        "reasons": ["camera side: 0 of 1 shots arrived within 2000 ms of the trigger"],
        "frames": [],
        "duplicate": True,
    }
    line = format_message("p/st-1/part", json.dumps(part).encode(), colour=False)
    assert line == (
        "08:15:02.345 part st-1 P-0001 ERROR  2001.2 ms  "
        "camera side: 0 of 1 shots arrived within 2000 ms of the trigger  (duplicate id)"
    )
    passed = {**part, "verdict": "PASS", "reasons": [], "frames": [{}, {}], "duplicate": False}
    assert format_message("p/st-1/part", json.dumps(passed).encode(), colour=False).endswith(
        "PASS   2001.2 ms  2 shots"
    )


def test_tail_prints_results_from_a_real_broker_and_stops_after_count(broker: Mosquitto) -> None:
    # given tail subscribed for two results
    tail = subprocess.Popen(
        command("tail", "--port", str(broker.port), "--count", "2", "--colour", "never"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        # when a station publishes two results (repeated until tail has subscribed)
        sent = [result(Verdict.PASS, seq=1), result(Verdict.NG, seq=2, defects=(defect(),))]
        station = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        station.connect("127.0.0.1", broker.port)
        station.loop_start()
        deadline = time.monotonic() + 30
        while tail.poll() is None and time.monotonic() < deadline:
            for item in sent:
                station.publish("edge-inspect/st-1/cam-1/result", encode(result_payload(item)), qos=1)
            time.sleep(0.3)
        station.disconnect()
        station.loop_stop()
        out, err = tail.communicate(timeout=10)
    finally:
        tail.kill()
    # then it exits 0 after two lines, each naming its result
    assert tail.returncode == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2
    assert all(" st-1/cam-1 #" in line for line in lines)


def test_tail_without_a_broker_exits_1_naming_it() -> None:
    port = free_port()
    done = subprocess.run(
        command("tail", "--port", str(port), "--count", "1"),
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert done.returncode == 1
    assert f"cannot connect to the broker at 127.0.0.1:{port}" in done.stderr


def test_flags_override_the_station_configs_broker_settings(tmp_path: Path) -> None:
    # given a station config whose secrets live in $CREDENTIALS_DIRECTORY (systemd only)
    from edge_inspect.cli import build_parser
    from edge_inspect.commands.tail import _mqtt_config

    station = tmp_path / "config.yaml"
    station.write_text(
        "source: {type: replay, path: /x}\n"
        "model: {path: /m}\n"
        "mqtt:\n"
        "  host: broker.plant\n"
        "  port: 8883\n"
        "  username: line1-st01\n"
        "  password_file: $CREDENTIALS_DIRECTORY/mqtt_password\n"
        "  tls:\n"
        "    ca_file: /etc/ca.pem\n"
        "    cert_file: /etc/client.pem\n"
        "    key_file: $CREDENTIALS_DIRECTORY/mqtt_client.key\n"
    )
    args = build_parser().parse_args(
        ["tail", "--config", str(station), "--password-file", "/root/pw", "--key-file", "/root/client.key"]
    )
    # when tail builds its connection settings / then the config's broker and the flags' secrets are used
    config = _mqtt_config(args)
    assert (config.host, config.port, config.username) == ("broker.plant", 8883, "line1-st01")
    assert config.password_file == Path("/root/pw")
    assert config.tls is not None
    assert config.tls.cert_file == Path("/etc/client.pem")
    assert config.tls.key_file == Path("/root/client.key")
