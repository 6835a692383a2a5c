"""Why a connection to the broker failed, said once and then at a bounded rate.

paho retries a failed connection for ever and says nothing: a broker that refuses the TCP connection, one
that closes it before CONNACK (an MQTT 3.1.1-only broker spoken to in MQTT 5: RabbitMQ 3.x, amqtt) or one
that answers "Unsupported protocol version" (aedes) left no log line at all. Each failed attempt goes
through :class:`ConnectAttempts`, which logs the first at once, then one line per ``every_s`` with the
number of attempts in between, and says the likely cause and the setting that fixes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from edge_inspect.config.mqtt import MqttProtocol

log = structlog.get_logger(__name__)

REFUSED = "refused"
CLOSED_BEFORE_CONNACK = "closed_before_connack"
REJECTED = "rejected"


@dataclass(frozen=True)
class Failure:
    """One failed attempt: what happened and the hint that goes with it."""

    kind: str
    cause: str
    hint: str | None


def diagnose(kind: str, protocol: MqttProtocol, reason: str | None = None) -> Failure:
    """The likely cause of a failed attempt, and what to set (pure: tested without a broker)."""
    v311_hint = (
        "the broker may speak MQTT 3.1.1 only (RabbitMQ 3.x, amqtt, older brokers): "
        'set mqtt.protocol: "3.1.1"'
        if protocol == "5"
        else None
    )
    if kind == REFUSED:
        return Failure(
            kind,
            "the TCP connection failed: nothing listens on that port, a firewall drops it, or the host is "
            "unreachable",
            "check mqtt.host and mqtt.port, and that the broker runs",
        )
    if kind == CLOSED_BEFORE_CONNACK:
        return Failure(kind, "the broker closed the connection before its CONNACK", v311_hint)
    text = reason or "refused"
    lowered = text.lower()
    if "protocol" in lowered and "version" in lowered:
        return Failure(kind, f"the broker refused the connection: {text}", v311_hint)
    if "not authorized" in lowered or "bad user" in lowered or "password" in lowered:
        return Failure(
            kind,
            f"the broker refused the connection: {text}",
            "check mqtt.username and the password (EDGE_INSPECT_MQTT__PASSWORD or mqtt.password_file)",
        )
    return Failure(kind, f"the broker refused the connection: {text}", None)


class ConnectAttempts:
    """Logs failed connection attempts: the first at once, then at most one line per ``every_s``."""

    def __init__(
        self,
        host: str,
        port: int,
        protocol: MqttProtocol,
        *,
        every_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        count: Callable[[str, int], None] | None = None,
    ) -> None:
        self.address = f"{host}:{port}"
        self.protocol = protocol
        self.every_s = every_s
        self._clock = clock
        self._count = count or (lambda _name, _n: None)
        self._lock = threading.Lock()
        self._since_logged = 0
        self._last_logged: float | None = None
        self._last_kind: str | None = None
        self.failures = 0
        """Failed attempts since the last successful connection."""

    def failed(self, kind: str, reason: str | None = None) -> bool:
        """Record one failed attempt; True when it was logged (not folded into the rate limit)."""
        failure = diagnose(kind, self.protocol, reason)
        self._count("mqtt.connect_failures", 1)
        with self._lock:
            self.failures += 1
            self._since_logged += 1
            now = self._clock()
            due = (
                self._last_logged is None
                or kind != self._last_kind
                or now - self._last_logged >= self.every_s
            )
            if not due:
                return False
            attempts, self._since_logged = self._since_logged, 0
            self._last_logged, self._last_kind = now, kind
            failures = self.failures
        log.error(
            "cannot connect to the broker",
            broker=self.address,
            protocol=self.protocol,
            cause=failure.cause,
            reason=reason,
            hint=failure.hint,
            attempts_since_last_line=attempts,
            failed_attempts=failures,
            retrying=True,
        )
        return True

    def connected(self) -> None:
        """A connection succeeded: the next failure is logged at once again."""
        with self._lock:
            if self.failures:
                log.info(
                    "connected after failed attempts", broker=self.address, failed_attempts=self.failures
                )
            self.failures = 0
            self._since_logged = 0
            self._last_logged = None
            self._last_kind = None
