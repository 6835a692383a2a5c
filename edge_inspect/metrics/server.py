"""The HTTP endpoint: ``/metrics`` (Prometheus text or OpenMetrics), ``/healthz`` and ``/readyz`` (JSON).

A small threaded ``http.server``: scrapes are rare (every few seconds) and cheap, and the standard
library keeps the daemon free of a web framework. Requests are not logged (a scrape every 15 s would fill
the journal); failures to answer are.

Bounded: at most ``max_connections`` are served at once (one thread each); one beyond that is closed at
once, counted and logged (at most once a minute). A connection that sends no complete request within
``idle_timeout_s`` is closed, so idle sockets cannot hold threads (each connection serves one request:
HTTP/1.0, no keep-alive).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from edge_inspect.errors import ConfigError
from edge_inspect.metrics.health import HealthReport

log = structlog.get_logger(__name__)

Report = Callable[[], HealthReport]
_REFUSAL_LOG_EVERY_S = 60.0
_POLL_S = 0.05


class _BoundedServer(ThreadingHTTPServer):
    """A thread per connection, at most ``max_connections`` of them; the rest are closed at once."""

    daemon_threads = True
    request_queue_size = (
        128  # the listen backlog (5 by default): a burst must not push scrapes into SYN retries
    )

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], max_connections: int
    ) -> None:
        super().__init__(address, handler)
        self._slots = threading.BoundedSemaphore(max_connections)
        self.max_connections = max_connections
        self.refused = 0
        self._refusal_logged = -_REFUSAL_LOG_EVERY_S

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            now = time.monotonic()
            if now - self._refusal_logged >= _REFUSAL_LOG_EVERY_S:
                self._refusal_logged = now
                log.warning(
                    "metrics endpoint busy: connection closed",
                    max_connections=self.max_connections,
                    refused_so_far=self.refused,
                )
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def shutdown_request(self, request: Any) -> None:
        with contextlib.suppress(OSError):
            request.shutdown(socket.SHUT_RDWR)
        request.close()


class MetricsServer:
    """Serves until :meth:`close`; ``port`` is the bound port (useful with ``metrics.port: 0``)."""

    def __init__(
        self,
        host: str,
        port: int,
        registry: CollectorRegistry,
        *,
        alive: Report,
        ready: Report,
        max_connections: int = 16,
        idle_timeout_s: float = 5.0,
    ) -> None:
        handler = _handler(registry, alive, ready, idle_timeout_s)
        try:
            self._server = _BoundedServer((host, port), handler, max_connections)
        except OSError as exc:
            msg = f"metrics.host / metrics.port: cannot listen on {host}:{port}: {exc.strerror or exc}"
            raise ConfigError([msg]) from exc
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    @property
    def refused(self) -> int:
        """Connections closed unanswered because ``max_connections`` were being served."""
        return self._server.refused

    def start(self) -> None:
        # a short poll: shutdown() waits for the loop's next turn (0.5 s by default, at every daemon stop)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(_POLL_S,), name="metrics-http", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
        self._server.server_close()


def _handler(
    registry: CollectorRegistry, alive: Report, ready: Report, idle_timeout_s: float
) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "edge-inspect"
        timeout = idle_timeout_s  # socket timeout: an idle or slow connection is closed, its thread ends

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            try:
                if path == "/metrics":
                    encoder, content_type = choose_encoder(self.headers.get("Accept", ""))
                    self._send(HTTPStatus.OK, encoder(registry), content_type)
                elif path == "/healthz":
                    self._report(alive())
                elif path == "/readyz":
                    self._report(ready())
                elif path == "/":
                    body = b"edge-inspect: /metrics /healthz /readyz\n"
                    self._send(HTTPStatus.OK, body, "text/plain; charset=utf-8")
                else:
                    self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8")
            except Exception as exc:  # a failing collector answers 500 with the reason; the daemon goes on
                log.error("metrics endpoint failed", path=path, error=str(exc))
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, f"{exc}\n".encode(), "text/plain; charset=utf-8")

        def _report(self, report: HealthReport) -> None:
            body = json.dumps(report.as_json(), indent=1).encode("utf-8") + b"\n"
            status = HTTPStatus.OK if report.ok else HTTPStatus.SERVICE_UNAVAILABLE
            self._send(status, body, "application/json")

        def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler
