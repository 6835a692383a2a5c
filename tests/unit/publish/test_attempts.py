"""Failed connections to the broker are said, with the likely cause, at a bounded rate.

The rate limit is tested on a fake clock; the causes on real sockets: a port nothing listens on, and a
server that accepts the TCP connection and closes it before CONNACK (what RabbitMQ 3.x and amqtt do to
an MQTT 5 CONNECT).
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.publish.attempts import (
    CLOSED_BEFORE_CONNACK,
    REFUSED,
    REJECTED,
    ConnectAttempts,
    diagnose,
)
from edge_inspect.publish.mqtt import MqttPublisher
from edge_inspect.publish.topics import Topics
from tests.helpers.waiting import wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_given_repeated_failures_when_logged_then_the_first_at_once_and_then_one_line_per_period() -> None:
    clock = Clock()
    attempts = ConnectAttempts("h", 1, "5", every_s=30.0, clock=clock)
    with capture_logs() as logs:
        logged = []
        for second in range(0, 95):
            clock.now = float(second)
            logged.append(attempts.failed(REFUSED))
    assert [i for i, was in enumerate(logged) if was] == [0, 30, 60, 90]
    lines = [e for e in logs if e["event"] == "cannot connect to the broker"]
    assert [e["attempts_since_last_line"] for e in lines] == [1, 30, 30, 30]
    assert lines[-1]["failed_attempts"] == 91
    assert lines[0]["broker"] == "h:1"


def test_given_a_new_kind_of_failure_or_a_success_when_logged_then_the_next_failure_is_said_at_once() -> None:
    clock = Clock()
    attempts = ConnectAttempts("h", 1, "5", clock=clock)
    with capture_logs() as logs:
        assert attempts.failed(REFUSED)
        assert not attempts.failed(REFUSED)
        assert attempts.failed(CLOSED_BEFORE_CONNACK)  # another cause: said at once
        attempts.connected()
        assert attempts.failed(CLOSED_BEFORE_CONNACK)
    assert any(e["event"] == "connected after failed attempts" for e in logs)


@pytest.mark.parametrize(
    ("kind", "reason", "protocol", "hint"),
    [
        (CLOSED_BEFORE_CONNACK, None, "5", 'mqtt.protocol: "3.1.1"'),
        (REJECTED, "Unsupported protocol version", "5", 'mqtt.protocol: "3.1.1"'),
        (REJECTED, "Not authorized", "5", "mqtt.username"),
        (REFUSED, None, "5", "mqtt.host and mqtt.port"),
    ],
)
def test_each_cause_gets_the_hint_that_fixes_it(
    kind: str, reason: str | None, protocol: str, hint: str
) -> None:
    failure = diagnose(kind, protocol, reason)  # type: ignore[arg-type]
    assert failure.hint is not None
    assert hint in failure.hint


def test_a_close_before_connack_in_311_does_not_suggest_311_again() -> None:
    assert diagnose(CLOSED_BEFORE_CONNACK, "3.1.1").hint is None


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A loopback port held bound without listening: connections to it are refused. Held, so that no
    client's own outgoing socket can take it as its source port and connect to itself (TCP's
    simultaneous open on loopback), which a free but unheld ephemeral port allows."""
    held = socket.socket()
    held.bind(("127.0.0.1", 0))
    yield held.getsockname()[1]
    held.close()


@pytest.fixture
def closing_server() -> Iterator[int]:
    """Accepts TCP connections, reads the CONNECT, closes without answering."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            conn.recv(1024)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def make_publisher(port: int) -> MqttPublisher:
    config = MqttConfig(port=port, reconnect_min_s=0.5, reconnect_max_s=1.0)
    return MqttPublisher(
        config, Topics("t", "st1", "cam-1"), station="st1", client_id=f"p-{uuid.uuid4().hex[:6]}", version="t"
    )


@pytest.mark.parametrize("server", ["nothing", "closing"])
def test_given_a_broker_that_fails_the_connection_when_the_publisher_starts_then_a_line_says_why(
    request: pytest.FixtureRequest, server: str
) -> None:
    port = request.getfixturevalue("refusing_port" if server == "nothing" else "closing_server")
    publisher = make_publisher(port)
    with capture_logs() as logs:
        publisher.start()
        try:
            assert wait_until(
                lambda: any(e["event"] == "cannot connect to the broker" for e in logs), timeout=10
            )
            time.sleep(2.5)  # several retries: still one line
        finally:
            publisher.close(timeout=1)
    lines = [e for e in logs if e["event"] == "cannot connect to the broker"]
    assert len(lines) == 1
    assert lines[0]["broker"] == f"127.0.0.1:{port}"
    if server == "closing":
        assert "before its CONNACK" in str(lines[0]["cause"])
        assert 'mqtt.protocol: "3.1.1"' in str(lines[0]["hint"])
    else:
        assert "TCP connection failed" in str(lines[0]["cause"])
