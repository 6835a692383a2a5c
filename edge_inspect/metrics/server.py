"""The HTTP endpoint: ``/metrics`` (Prometheus text or OpenMetrics), ``/healthz`` and ``/readyz`` (JSON).

A small threaded ``http.server``: scrapes are rare (every few seconds) and cheap, and the standard
library keeps the daemon free of a web framework. Requests are not logged (a scrape every 15 s would fill
the journal); failures to answer are.
"""

from __future__ import annotations

import json
import threading
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


class MetricsServer:
    """Serves until :meth:`close`; ``port`` is the bound port (useful with ``metrics.port: 0``)."""

    def __init__(
        self, host: str, port: int, registry: CollectorRegistry, *, alive: Report, ready: Report
    ) -> None:
        handler = _handler(registry, alive, ready)
        try:
            self._server = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            msg = f"metrics.host / metrics.port: cannot listen on {host}:{port}: {exc.strerror or exc}"
            raise ConfigError([msg]) from exc
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        return str(self._server.server_address[0])

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(5.0)
        self._server.server_close()


def _handler(registry: CollectorRegistry, alive: Report, ready: Report) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "edge-inspect"

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
