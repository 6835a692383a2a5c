"""The metrics endpoint under idle and excess connections: threads stay bounded, scrapes still answer."""

from __future__ import annotations

import contextlib
import socket
import threading
import urllib.request
from collections.abc import Iterator

import pytest
from prometheus_client import CollectorRegistry

from edge_inspect.metrics.health import HealthReport
from edge_inspect.metrics.server import MetricsServer
from tests.helpers.waiting import wait_until

MAX_CONNECTIONS = 8
IDLE_S = 0.5
IDLE_SOCKETS = 300


def healthy() -> HealthReport:
    return HealthReport(checks=())


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    running = MetricsServer(
        "127.0.0.1",
        0,
        CollectorRegistry(),
        alive=healthy,
        ready=healthy,
        max_connections=MAX_CONNECTIONS,
        idle_timeout_s=IDLE_S,
    )
    running.start()
    yield running
    running.close()


def handler_threads() -> int:
    """Threads serving a connection (socketserver names them after process_request_thread)."""
    return sum(1 for t in threading.enumerate() if "process_request_thread" in t.name)


def scrape(server: MetricsServer) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as response:
        return int(response.status)


def test_given_hundreds_of_idle_connections_then_threads_stay_bounded_and_every_one_is_closed(
    server: MetricsServer,
) -> None:
    before = handler_threads()
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], handler_threads() - before)
            done.wait(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    sockets = [socket.create_connection(("127.0.0.1", server.port), timeout=5) for _ in range(IDLE_SOCKETS)]
    try:
        # then each is either refused at once or closed after the idle timeout: the server ends them all
        for sock in sockets:
            sock.settimeout(10 * IDLE_S + 5)
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(1024) == b""
        assert wait_until(lambda: handler_threads() == before, 10 * IDLE_S + 5)
        assert scrape(server) == 200
    finally:
        done.set()
        sampler.join()
        for sock in sockets:
            sock.close()

    assert 1 <= peak[0] <= MAX_CONNECTIONS
    assert server.refused > 0


def test_given_a_connection_that_sends_half_a_request_then_it_is_closed_after_the_idle_timeout(
    server: MetricsServer,
) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /metrics HTTP/1.0\r\nHost: x\r\n")  # never finishes its headers
        sock.settimeout(10 * IDLE_S + 5)
        assert sock.recv(1024) == b""  # closed by the server, not by the client's timeout


def test_given_refusals_when_connections_free_up_then_every_later_scrape_answers(
    server: MetricsServer,
) -> None:
    for _ in range(3 * MAX_CONNECTIONS):
        assert scrape(server) == 200
    assert server.refused == 0
