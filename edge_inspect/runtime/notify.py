"""systemd's notification protocol (``Type=notify``, ``WatchdogSec=``), written by hand: one datagram.

systemd passes ``$NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket) and, with
``WatchdogSec=``, ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``). Outside systemd the variable is unset and
every call is a no-op, so the daemon runs the same under a shell, in a container or in tests.

The daemon sends ``READY=1`` once the first frame is processed (or at start, see ``watchdog.ready_on``),
``WATCHDOG=1`` from its processing loop (see ``runtime.watchdog``), and ``STOPPING=1`` on shutdown.
A failed send is logged once and never raised: losing the supervisor must not stop inspection.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping

import structlog

log = structlog.get_logger(__name__)


def socket_address(value: str) -> str | bytes:
    """``$NOTIFY_SOCKET`` as ``socket.sendto`` wants it: ``@name`` is the abstract name ``\\0name``."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


def watchdog_interval_s(environ: Mapping[str, str] | None = None) -> float | None:
    """systemd's watchdog period (``$WATCHDOG_USEC``) when it is meant for this process, else None."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring a malformed WATCHDOG_USEC", value=usec)
        return None
    return value / 1e6 if value > 0 else None


class SystemdNotifier:
    """Sends ``KEY=value`` lines to systemd; :attr:`enabled` is False (and sends do nothing) outside it."""

    def __init__(self, address: str | None = None) -> None:
        self.address = address
        self._lock = threading.Lock()
        self._failed = False
        self.sent: list[str] = []
        """Every message sent (most recent last, at most 100), for the stats and for tests."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SystemdNotifier:
        env = os.environ if environ is None else environ
        return cls(env.get("NOTIFY_SOCKET") or None)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send one message (``"READY=1"``, ``"STATUS=..."``); True when systemd got it."""
        if self.address is None:
            return False
        message = "\n".join(fields)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(message.encode(), socket_address(self.address))
        except OSError as exc:
            with self._lock:
                first, self._failed = not self._failed, True
            if first:
                log.warning("cannot notify systemd", socket=self.address, error=str(exc))
            return False
        with self._lock:
            self.sent.append(message)
            del self.sent[:-100]
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    def stopping(self, status: str | None = None) -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")
