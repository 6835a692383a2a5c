"""The daemon under systemd's notification protocol, with the test as systemd: a real AF_UNIX datagram
socket passed in $NOTIFY_SOCKET. READY=1 after the first frame, WATCHDOG=1 from the processing loop even
while the line idles, STOPPING=1 at shutdown; a source that stays silent ends in exit status 3.
"""

from __future__ import annotations

import itertools
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.broker import Mosquitto, Subscriber
from tests.integration.faults.harness import RESULTS, Daemon, sample_images, write_config


class Systemd:
    """Collects what the daemon sends to $NOTIFY_SOCKET, with the time each datagram arrived."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self.received: list[tuple[float, str]] = []

    def drain(self, seconds: float, until: str | None = None) -> None:
        """Collect for ``seconds``, or until a message starting with ``until`` arrives."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                message = self.sock.recv(4096).decode()
            except TimeoutError:
                continue
            self.received.append((time.monotonic(), message))
            if until is not None and message.startswith(until):
                return

    def messages(self, prefix: str) -> list[tuple[float, str]]:
        return [(t, m) for t, m in self.received if m.startswith(prefix)]


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[Systemd]:
    listener = Systemd(tmp_path / "notify.sock")
    yield listener
    listener.sock.close()


def test_given_notify_socket_then_ready_after_the_first_frame_pings_while_idle_and_stopping(
    broker: Mosquitto, tmp_path: Path, systemd: Systemd
) -> None:
    # one frame every 4 s: between frames the processing loop idles, and must still ping
    config = write_config(
        tmp_path,
        port=broker.port,
        images=sample_images()[0].parent,
        frames_loop=0,
        fps=0.25,
        scratch=tmp_path,
    )
    env = {"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "3000000"}
    with Subscriber(broker.port, RESULTS) as sub:
        daemon = Daemon(config, tmp_path / "daemon.log", env=env).start()
        assert daemon.process is not None
        try:
            systemd.drain(120.0, until="READY=1")  # model loading takes what it takes on a busy machine
            systemd.drain(8.5)
            first_result = sub.messages[0].received_at if sub.messages else None
            daemon.process.send_signal(signal.SIGTERM)
            code = daemon.wait(timeout=30)
            systemd.drain(0.5)
        finally:
            if daemon.process.poll() is None:
                daemon.kill()

    ready = systemd.messages("READY=1")
    pings = [t for t, _m in systemd.messages("WATCHDOG=1")]
    assert code == 0
    assert len(ready) == 1
    assert "first frame processed" in ready[0][1]
    assert first_result is not None
    assert abs(ready[0][0] - first_result) < 1.0  # READY comes with the first result, not at start-up
    idle = [t for t in pings if t > ready[0][0] + 0.5]
    assert len(idle) >= 5  # ~1 per second for ~8 s with frames only every 4 s
    assert max(b - a for a, b in itertools.pairwise(idle)) < 2.5  # never a gap of WatchdogSec (3 s)
    assert systemd.received[-1][1].startswith("STOPPING=1")


def test_given_a_source_that_stays_silent_when_restarts_run_out_then_the_daemon_exits_3(
    broker: Mosquitto, tmp_path: Path, systemd: Systemd
) -> None:
    config = write_config(
        tmp_path, port=broker.port, images=sample_images()[0].parent, frames_loop=0, fps=0.1, scratch=tmp_path
    )
    overrides = [
        "watchdog.no_frame_timeout_s=0.5",
        "watchdog.max_restarts_per_minute=2",
        "watchdog.check_interval_s=0.1",
    ]
    daemon = Daemon(config, tmp_path / "daemon.log", overrides, env={"NOTIFY_SOCKET": str(systemd.path)})
    daemon.start()
    code = daemon.wait(timeout=60)
    systemd.drain(0.3)

    assert code == 3
    assert len(daemon.events("ALARM watchdog: restart_source")) == 2
    [fatal] = daemon.events("exiting for a fresh start")
    assert "more than 2 restarts (restart_source)" in fatal["reason"]
    stopping = systemd.messages("STOPPING=1")
    assert stopping
    assert "no frame from the source" in stopping[-1][1]
