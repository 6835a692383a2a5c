"""The PLC handshake over real Modbus TCP: a pymodbus client plays the PLC against ``edge-inspect run``.

A real daemon process with a software-triggered replay camera (each PLC trigger releases the next file,
so the test knows each part's ground truth), the shipped model on OpenVINO, a real mosquitto.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import ModbusTcpClient
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from edge_inspect.net import free_loopback_port
from edge_inspect.plc.registers import Control, ErrorCode, PlcVerdict, Status
from tests.conftest import MODEL_DIR
from tests.helpers.broker import Mosquitto, Subscriber
from tests.helpers.daemon import expected_verdict, start_daemon
from tests.helpers.plc import Plc
from tests.helpers.schemas import validate
from tests.helpers.waiting import wait_or_fail

IMAGE_SUFFIXES = {".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"}
PREFIX = "edge-inspect"
STATION = "plc-1"
HEARTBEAT_MS = 100


@pytest.fixture
def images(sample_dir: Path, model_dir: Path) -> list[Path]:
    found = sorted(p for p in sample_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    assert len(found) >= 20
    return found


def _config(path: Path, images: Path, mqtt_port: int, plc_port: int, **plc: Any) -> Path:
    config = {
        "station": STATION,
        "camera": "top",
        "source": {
            "type": "replay",
            "path": str(images),
            "loop": 0,
            "trigger": "software",
            "ground_truth": "auto",
        },
        "part": {"trigger": "plc", "timeout_ms": 20_000},
        "plc": {"type": "modbus", "port": plc_port, "heartbeat_ms": HEARTBEAT_MS, **plc},
        "model": {"path": str(MODEL_DIR), "variant": None},
        "engine": {"type": "openvino", "device": "CPU", "precision": "f32", "normalise_in_model": True},
        "runtime": {"opencv_threads": 1},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "topic_prefix": PREFIX, "stats_interval_s": 1},
        "paths": {"state_dir": str(path.parent / "state"), "cache_dir": str(path.parent / "cache")},
        "logging": {"format": "json"},
    }
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def _stop(daemon: subprocess.Popen[str]) -> str:
    daemon.send_signal(signal.SIGTERM)
    out = daemon.communicate(timeout=60)[0]
    assert daemon.returncode == 0, out[-3000:]
    return out


def _ready(plc: Plc, daemon: subprocess.Popen[str]) -> None:
    def ready() -> bool:
        if daemon.poll() is not None:
            raise AssertionError(daemon.communicate()[0][-3000:])
        try:
            return Status.READY in plc.read().status
        except Exception:  # not listening yet (the model compiles first)
            plc.close()
            plc.connect(timeout=1)
            return False

    wait_or_fail(ready, 120, "READY from the station")


class _Line:
    """The line's side of one test: the PLC's port, and the station daemons started on it."""

    def __init__(self) -> None:
        self.port = free_loopback_port()
        self.daemon: subprocess.Popen[str] | None = None
        self.plc: Plc | None = None
        self._started: list[subprocess.Popen[str]] = []

    def start(self, config: Path) -> Plc:
        """The daemon started and READY, and a PLC connected to it."""
        self.daemon = start_daemon(config, [])
        self._started.append(self.daemon)
        self.plc = Plc(self.port).connect()
        _ready(self.plc, self.daemon)
        return self.plc

    def stop(self) -> str:
        """The PLC disconnected, the daemon stopped cleanly: its output."""
        if self.plc is not None:
            self.plc.close()
        assert self.daemon is not None
        return _stop(self.daemon)

    def close(self) -> None:
        for daemon in self._started:
            if daemon.poll() is None:
                daemon.kill()
                daemon.communicate(timeout=30)


@pytest.fixture
def line() -> Iterator[_Line]:
    made = _Line()
    yield made
    made.close()


def test_200_parts_through_the_handshake_each_answer_is_its_triggers_part_and_ground_truth(
    broker: Mosquitto, images: list[Path], tmp_path: Path, line: _Line
) -> None:
    config = _config(tmp_path / "station.yaml", images[0].parent, broker.port, line.port)
    parts = 200
    with Subscriber(broker.port, f"{PREFIX}/#") as sub:
        plc = line.start(config)
        try:
            # given the PLC's full handshake for each part in turn
            answers = [plc.inspect(f"PART-{n:05d}") for n in range(1, parts + 1)]
            wait_or_fail(lambda: len(sub.on(f"{STATION}/part")) >= parts, 60, "200 part messages")
        finally:
            out = line.stop()
    # then each answer is its own trigger's part, the counter rises by one per answer, never stale
    for n, (valid, before) in enumerate(answers, start=1):
        assert valid.part_id == f"PART-{n:05d}", out[-2000:]
        assert valid.counter == before.counter + 1 == n
        truth = expected_verdict(images[(n - 1) % len(images)])
        assert valid.verdict is PlcVerdict[truth], (n, valid, truth)
        assert valid.elapsed_ms > 0
        if truth == "PASS":
            assert valid.defects == 0
        assert valid.error == ErrorCode.NONE
    # and MQTT has the same parts with the same verdicts, in order, none late
    messages = [m.json() for m in sub.on(f"{STATION}/part")]
    assert [m["part_id"] for m in messages] == [f"PART-{n:05d}" for n in range(1, parts + 1)]
    for message, (valid, _before) in zip(messages, answers, strict=True):
        validate("part", message)
        assert message["verdict"] == valid.verdict.name
        assert message["late"] is False
    assert {"NG", "PASS"} <= {m["verdict"] for m in messages}
    link = [m.json() for m in sub.on(f"{STATION}/plc")]
    for message in link:
        validate("plc", message)
    assert [m["connected"] for m in link][:1] == [True]
    stats = [m.json() for m in sub.on(f"{STATION}/stats")][-1]
    assert stats["counters"]["plc.results"] == parts
    assert stats["counters"]["plc.timeouts"] == 0
    assert "plc" in stats["latency_ms"]


def test_a_deadline_too_short_answers_timeout_in_order_and_mqtt_gets_the_late_verdicts(
    broker: Mosquitto, images: list[Path], tmp_path: Path, line: _Line
) -> None:
    with _IoModule() as module:
        config = _config(
            tmp_path / "station.yaml",
            images[0].parent,
            broker.port,
            line.port,
            result_deadline_ms=1,
            reject_output={"host": "127.0.0.1", "port": module.port, "coil": 0, "pulse_ms": 20},
        )
        with Subscriber(broker.port, f"{PREFIX}/#") as sub:
            plc = line.start(config)
            try:
                answers = [plc.inspect(f"T-{n}")[0] for n in range(1, 6)]
                wait_or_fail(lambda: len(sub.on(f"{STATION}/part")) >= 5, 60, "5 part messages")
            finally:
                line.stop()
        # every TIMEOUT is a reject: one pulse each
        wait_or_fail(lambda: len(module.pulses(0)) >= 5, 10, "5 reject pulses")
    assert len(module.pulses(0)) == 5
    assert [(a.part_id, a.verdict, a.counter) for a in answers] == [
        (f"T-{n}", PlcVerdict.TIMEOUT, n) for n in range(1, 6)
    ]
    assert all(a.elapsed_ms == 1 for a in answers)
    messages = [m.json() for m in sub.on(f"{STATION}/part")]
    assert [m["part_id"] for m in messages] == [f"T-{n}" for n in range(1, 6)]
    for message, image in zip(messages, images, strict=False):
        validate("part", message)
        assert message["late"] is True
        assert message["verdict"] == expected_verdict(image)  # the real verdict, later


def test_killed_daemon_stops_the_heartbeat_and_a_restart_brings_ready_back(
    broker: Mosquitto, images: list[Path], tmp_path: Path, line: _Line
) -> None:
    config = _config(tmp_path / "station.yaml", images[0].parent, broker.port, line.port)
    plc = line.start(config)
    plc.inspect("K-1")
    first = plc.read().heartbeat
    wait_or_fail(lambda: plc.read().heartbeat != first, 1, "the heartbeat to count")
    # when the daemon is SIGKILLed, the PLC (polling every heartbeat) sees the heartbeat stop changing
    assert line.daemon is not None
    line.daemon.kill()
    killed = time.monotonic()
    last, changed_at = None, killed
    while time.monotonic() - killed < 1.0:
        try:
            beat = plc.read().heartbeat
        except Exception:  # the connection is gone: that is a heartbeat that stopped
            break
        if beat != last:
            last, changed_at = beat, time.monotonic()
        time.sleep(HEARTBEAT_MS / 1000 / 4)
    assert changed_at - killed <= 3 * HEARTBEAT_MS / 1000
    line.daemon.communicate(timeout=30)
    plc.close()
    # and after a restart READY returns and parts flow
    plc = line.start(config)
    try:
        valid, _before = plc.inspect("K-2")
        assert valid.part_id == "K-2"
        assert valid.verdict in {PlcVerdict.PASS, PlcVerdict.NG}
    finally:
        line.stop()


def test_the_plc_gets_every_answer_while_the_broker_is_down_and_mqtt_gets_them_later(
    images: list[Path], tmp_path: Path, line: _Line
) -> None:
    with Mosquitto(tmp_path / "broker", persistence=True) as broker:
        config = _config(tmp_path / "station.yaml", images[0].parent, broker.port, line.port)
        mes = Subscriber(broker.port, f"{PREFIX}/{STATION}/part", client_id="mes", session=True).start()
        plc = line.start(config)
        try:
            answers = [plc.inspect(f"M-{n}")[0] for n in range(1, 6)]
            wait_or_fail(lambda: len(mes.on("/part")) >= 5, 30, "5 parts before the outage")
            # when the broker dies, the PLC still gets each answer, on time (no deadline passes)
            broker.kill()
            answers += [plc.inspect(f"M-{n}")[0] for n in range(6, 26)]
            # then, once it is back, MQTT gets every part of the outage from the outbox
            broker.start()
            wait_or_fail(lambda: len({m.json()["part_id"] for m in mes.on("/part")}) >= 25, 90, "25 parts")
        finally:
            mes.stop()
            line.stop()
    assert [a.part_id for a in answers] == [f"M-{n}" for n in range(1, 26)]
    assert all(a.verdict in {PlcVerdict.PASS, PlcVerdict.NG} for a in answers)
    assert [a.counter for a in answers] == list(range(1, 26))
    by_id = {m.json()["part_id"]: m.json() for m in mes.on("/part")}
    for answer in answers:
        assert by_id[answer.part_id or ""]["verdict"] == answer.verdict.name
        assert by_id[answer.part_id or ""]["late"] is False


class _IoModule:
    """A Modbus TCP I/O module (a pymodbus server): records each write to its coils, with a timestamp."""

    def __init__(self) -> None:
        self.port = free_loopback_port()
        self.writes: list[tuple[float, int, bool]] = []
        self._loop: Any = None
        self._server: Any = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _action(
        self, fc: int, _start: int, address: int, _n: int, _regs: list[int], values: Any
    ) -> None:
        if fc in {5, 15} and values is not None:
            self.writes += [(time.monotonic(), address, bool(v)) for v in values]

    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        device = SimDevice(
            id=1, simdata=[SimData(0, count=16, values=0, datatype=DataType.REGISTERS)], action=self._action
        )
        self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
        await self._server.serve_forever()

    def __enter__(self) -> _IoModule:
        self._thread.start()
        wait_or_fail(self._listening, 10, "the I/O module")
        return self

    def _listening(self) -> bool:
        client = ModbusTcpClient("127.0.0.1", port=self.port)
        try:
            return bool(client.connect())  # type: ignore[no-untyped-call]
        finally:
            client.close()  # type: ignore[no-untyped-call]

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(5)

    def pulses(self, coil: int) -> list[float]:
        """Seconds each pulse of ``coil`` was held on."""
        held, on_at = [], None
        for at, address, value in self.writes:
            if address != coil:
                continue
            if value and on_at is None:
                on_at = at
            elif not value and on_at is not None:
                held.append(at - on_at)
                on_at = None
        return held


def test_the_reject_coil_pulses_for_each_ng_error_and_timeout_and_bad_plc_behaviour_is_coded(
    broker: Mosquitto, images: list[Path], tmp_path: Path, line: _Line
) -> None:
    ng = [image for image in images if expected_verdict(image) == "NG"][:2]
    good = [image for image in images if expected_verdict(image) == "PASS"][:4]
    folder = tmp_path / "images"
    (folder / "Label").mkdir(parents=True)
    # the camera's files in trigger order: PASS, NG, PASS, NG, PASS, PASS
    for n, image in enumerate([good[0], ng[0], good[1], ng[1], good[2], good[3]]):
        (folder / f"{n:02d}{image.suffix}").symlink_to(image)
        label = image.parent / "Label" / f"{image.stem}_label.PNG"
        if label.is_file():
            (folder / "Label" / f"{n:02d}_label.PNG").symlink_to(label)
    with _IoModule() as module:
        config = _config(
            tmp_path / "station.yaml",
            folder,
            broker.port,
            line.port,
            max_pending=2,
            reject_output={"host": "127.0.0.1", "port": module.port, "coil": 3, "pulse_ms": 50},
        )
        with Subscriber(broker.port, f"{PREFIX}/{STATION}/part") as sub:
            plc = line.start(config)
            try:
                verdicts = [plc.inspect(f"R-{n}")[0].verdict for n in range(1, 5)]  # PASS NG PASS NG
                # garbage in the part id registers: taken, answered ERROR, code 2
                plc.write_id(words=[0x41FF, 0x0042] + [0] * 8)
                plc.set(Control.TRIGGER)
                valid = plc.wait(Status.RESULT_VALID)
                assert (valid.verdict, valid.error, valid.words[:2]) == (
                    PlcVerdict.ERROR,
                    ErrorCode.BAD_PART_ID,
                    (0x41FF, 0x0042),
                )
                plc.set(Control.TRIGGER | Control.RESULT_ACK)
                plc.wait(Status.RESULT_VALID, clear=True)
                plc.set(Control.RESET)
                plc.set(Control(0))
                verdicts.append(valid.verdict)
                # a write to the station's registers: refused (exception 2), code 3
                response = plc.client.write_register(101, 7, device_id=1)
                assert response.isError()
                assert plc.read().error == ErrorCode.STATION_REGISTER_WRITE
                plc.set(Control.RESET)
                plc.set(Control(0))
                # triggers past max_pending while BUSY: O-6 is answered (not acknowledged), O-7 and O-8
                # wait behind it, so O-9 is one too many: not taken, code 1 (overrun)
                for n in (6, 7, 8, 9):
                    plc.write_id(f"O-{n}")
                    plc.set(Control.TRIGGER)
                    time.sleep(0.05)
                    acked = Status.TRIGGER_ACK in plc.read().status
                    plc.set(Control(0))
                    assert acked is (n != 9), n
                assert plc.read().error == ErrorCode.OVERRUN
                # a PLC that disconnects mid-handshake: code 5, and the answers wait for it
                plc.close()
                plc = line.plc = Plc(line.port).connect()
                overrun = []
                for _ in (6, 7, 8):
                    valid = plc.wait(Status.RESULT_VALID)
                    overrun.append((valid.part_id, valid.verdict))
                    plc.set(Control.RESULT_ACK)
                    plc.wait(Status.RESULT_VALID, clear=True)
                    plc.set(Control(0))
                assert [part_id for part_id, _ in overrun] == ["O-6", "O-7", "O-8"]
                verdicts += [verdict for _, verdict in overrun]
                assert plc.read().error in {ErrorCode.OVERRUN, ErrorCode.LINK_LOST}
                plc.set(Control.RESET)
                plc.set(Control(0))
                assert plc.read().error == ErrorCode.NONE
                wait_or_fail(lambda: len(sub.on("/part")) >= 9, 30, "9 part messages")
            finally:
                out = line.stop()
        rejects = sum(v is not PlcVerdict.PASS for v in verdicts)
        wait_or_fail(lambda: len(module.pulses(3)) >= rejects, 10, f"{rejects} reject pulses")
    assert verdicts[:5] == [
        PlcVerdict.PASS,
        PlcVerdict.NG,
        PlcVerdict.PASS,
        PlcVerdict.NG,
        PlcVerdict.ERROR,
    ], out[-2000:]
    pulses = module.pulses(3)
    assert len(pulses) == rejects
    assert all(0.04 <= held <= 1.0 for held in pulses), pulses
    parts = [m.json() for m in sub.on("/part")]
    assert [p["part_id"] for p in parts][:4] == ["R-1", "R-2", "R-3", "R-4"]
    assert parts[4]["verdict"] == "ERROR"
    assert any("0xff" in reason for reason in parts[4]["reasons"])
    overrun_parts = [p for p in parts if any("overrun" in r for r in p["reasons"])]
    assert len(overrun_parts) == 1
    assert overrun_parts[0]["verdict"] == "ERROR"
