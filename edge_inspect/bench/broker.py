"""The broker a bench publishes to: the config's own (``mqtt.host/port``), or a mosquitto the bench starts.

``--broker mosquitto`` runs ``mosquitto`` (from PATH, else /usr/sbin) on a free loopback port with a
throw-away config in a temporary folder, and stops it afterwards. There is deliberately no embedded
(amqtt) choice here: it runs in the bench's own process, so its Python work would share the daemon's
interpreter lock and cores, and the bench would measure the broker as much as the daemon.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from edge_inspect.errors import EdgeInspectError
from edge_inspect.net import free_loopback_port, is_listening

_FALLBACK = Path("/usr/sbin/mosquitto")
_START_TIMEOUT_S = 10.0


def find_mosquitto() -> Path:
    """The mosquitto executable; an error names where it was looked for."""
    found = shutil.which("mosquitto")
    if found:
        return Path(found)
    if _FALLBACK.is_file():
        return _FALLBACK
    msg = (
        f"--broker mosquitto: no 'mosquitto' on PATH nor at {_FALLBACK}; install it "
        "(apt-get install mosquitto) or use --broker config with a running broker"
    )
    raise EdgeInspectError(msg)


def check_reachable(host: str, port: int, timeout_s: float = 5.0) -> None:
    """Raise a clear error now, rather than after a whole mode of unacknowledged frames, when nothing
    accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return
    except OSError as exc:
        msg = (
            f"bench: no MQTT broker answers at {host}:{port} (mqtt.host / mqtt.port): {exc.strerror or exc}; "
            "start one, point --set mqtt.host=... / mqtt.port=... at one, or use --broker mosquitto"
        )
        raise EdgeInspectError(msg) from exc


class LocalMosquitto:
    """``with LocalMosquitto() as broker:`` serves MQTT on 127.0.0.1:``broker.port`` (no persistence)."""

    host = "127.0.0.1"

    def __init__(self, executable: Path | None = None) -> None:
        self.executable = executable or find_mosquitto()
        self.port = free_loopback_port()
        self._dir = tempfile.TemporaryDirectory(prefix="edge-inspect-bench-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return Path(self._dir.name) / "mosquitto.log"

    def start(self) -> LocalMosquitto:
        conf = Path(self._dir.name) / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "max_queued_messages 100000\nmax_inflight_messages 100\n"
            "log_type error\nlog_type warning\nlog_dest stderr\n",
            encoding="utf-8",
        )
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen([str(self.executable), "-c", str(conf)], stdout=log, stderr=log)
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not is_listening(self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                text = self.log_path.read_text(encoding="utf-8", errors="replace").strip()
                self.stop()
                msg = f"{self.executable} did not start on 127.0.0.1:{self.port}: {text or 'no output'}"
                raise EdgeInspectError(msg)
            time.sleep(0.05)
        return self

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None
        self._dir.cleanup()

    def __enter__(self) -> LocalMosquitto:
        return self.start()

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()
