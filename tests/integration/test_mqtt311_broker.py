"""Against a real broker that speaks MQTT 3.1.1 only (aedes): a user who sets nothing is told why it does
not connect and what to set; one who sets ``mqtt.protocol: "3.1.1"`` gets every result, including the
ones the first run kept in its outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import aedes
from tests.helpers.broker import Subscriber
from tests.helpers.daemon import ROOT, run_cli
from tests.helpers.schemas import validate

CONFIG = ROOT / "config" / "replay.yaml"


@pytest.fixture
def broker() -> Iterator[aedes.Aedes]:
    aedes.require()
    with aedes.Aedes() as running:
        yield running


def log_lines(stderr: str, event: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def test_given_a_311_only_broker_when_the_default_protocol_is_used_then_a_clear_line_says_what_to_set(
    broker: aedes.Aedes, model_dir: Path, sample_dir: Path, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    common = [
        "--set", f"mqtt.port={broker.port}",
        "--set", f"paths.state_dir={state}",
        "--set", "logging.format=json",
        "--set", "runtime.shutdown_grace_s=2",
    ]  # fmt: skip
    frames = len([p for p in sample_dir.iterdir() if p.suffix.lower() == ".png"])

    # Given the default protocol (MQTT 5), which aedes refuses
    first = run_cli("run", "--config", str(CONFIG), *common)
    # Then the run logs why it cannot connect, with the setting that fixes it, and keeps every result
    assert first.returncode == 0, first.stderr[-3000:]
    failures = log_lines(first.stderr, "cannot connect to the broker")
    assert failures, first.stderr[-3000:]
    assert failures[0]["broker"] == f"127.0.0.1:{broker.port}"
    assert "Unsupported protocol version" in str(failures[0]["cause"])
    assert 'mqtt.protocol: "3.1.1"' in str(failures[0]["hint"])
    assert len(failures) <= 3  # rate-limited: not one line per retry
    kept = log_lines(first.stderr, "results left in the outbox for the next start")
    assert kept
    assert kept[0]["rows"] == frames

    # When the user sets 3.1.1, the same station delivers everything: the kept results and the new run's
    with Subscriber(broker.port, "edge-inspect/#", protocol="3.1.1") as sub:
        second = run_cli("run", "--config", str(CONFIG), *common, "--set", "mqtt.protocol=3.1.1")
        assert second.returncode == 0, second.stderr[-3000:]
        assert sub.wait_for(lambda _m: len(sub.on("/result")) >= 2 * frames, timeout=20)
    results = [m.json() for m in sub.on("/result")]
    assert len({r["result_id"] for r in results}) == 2 * frames
    for result in results:
        validate("result", result)
    assert not log_lines(second.stderr, "cannot connect to the broker")
