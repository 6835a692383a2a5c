"""A real mosquitto broker on a free loopback port, and a subscriber that records what arrives.

Tests talk to a real broker (as paho-mqtt's own tests do), never to a mock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_inspect.net import free_loopback_port, is_listening

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


free_port = free_loopback_port


def _wait_listening(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_listening(port):
            return True
        time.sleep(0.05)
    return False


class Mosquitto:
    """``with Mosquitto(tmp_path) as broker:`` starts mosquitto on 127.0.0.1:``broker.port``.

    ``persistence=True`` keeps sessions and queued messages on disk across ``kill()`` / ``start()``.
    ``extra_conf`` lines are appended to the listener config (TLS, password files).
    """

    def __init__(
        self,
        workdir: Path,
        *,
        port: int | None = None,
        persistence: bool = False,
        extra_conf: str = "",
        allow_anonymous: bool = True,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.persistence = persistence
        self.extra_conf = extra_conf
        self.allow_anonymous = allow_anonymous
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "mosquitto.log"

    def _write_conf(self) -> Path:
        data_dir = self.workdir / "data"
        data_dir.mkdir(exist_ok=True)
        lines = [
            # started as root, mosquitto would drop to its own user, which cannot write into pytest's
            # private temporary folders: stay root for the test broker (never for a production one)
            "user root" if os.geteuid() == 0 else "",
            f"listener {self.port} 127.0.0.1",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            f"persistence {'true' if self.persistence else 'false'}",
            f"persistence_location {data_dir}/",
            "autosave_interval 1",
            "max_queued_messages 100000",
            "max_inflight_messages 100",
            "log_type error",
            "log_type warning",
            "log_dest stderr",
            self.extra_conf,
        ]
        conf = self.workdir / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return conf

    def start(self) -> Mosquitto:
        conf = self._write_conf()
        log = self.log_path.open("ab")
        self.process = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=log)
        if not _wait_listening(self.port, 10.0):
            self.stop()
            raise RuntimeError(f"mosquitto did not start: {self.log_path.read_text(errors='replace')}")
        return self

    def kill(self) -> None:
        """SIGKILL: the broker dies without saving, as in a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
            self.process = None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool
    qos: int
    received_at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.payload)


class Subscriber:
    """An MQTT 5 client that subscribes to ``topics`` and records every message, in arrival order.

    With ``session=True`` it uses a persistent session (clean_start=False, long expiry) under a fixed
    ``client_id``, so messages published while it is away are delivered when it reconnects.
    """

    def __init__(
        self,
        port: int,
        topics: list[str] | str = "#",
        *,
        qos: int = 1,
        client_id: str | None = None,
        session: bool = False,
        host: str = "127.0.0.1",
        tls: Callable[[mqtt.Client], None] | None = None,
        username: str | None = None,
        password: str | None = None,
        protocol: str = "5",
    ) -> None:
        self.port = port
        self.v5 = protocol == "5"
        self.host = host
        self.topics = [topics] if isinstance(topics, str) else list(topics)
        self.qos = qos
        self.session = session
        self.messages: list[Message] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-sub-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311,
            clean_session=None if self.v5 else not session,
        )
        if tls is not None:
            tls(self.client)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self._subscribed.set()
        self.client.reconnect_delay_set(1, 2)

    def _on_connect(self, client: mqtt.Client, _ud: object, _flags: object, rc: Any, _props: object) -> None:
        if not rc.is_failure:
            client.subscribe([(t, self.qos) for t in self.topics])

    def _on_message(self, _client: mqtt.Client, _ud: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            self.messages.append(Message(msg.topic, bytes(msg.payload), bool(msg.retain), msg.qos))
            self._cond.notify_all()

    def start(self, timeout: float = 10.0) -> Subscriber:
        props = None
        if self.session:
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = 3600
        if self.v5:
            self.client.connect(
                self.host, self.port, keepalive=10, clean_start=not self.session, properties=props
            )
        else:
            self.client.connect(self.host, self.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError("subscriber did not subscribe")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def on(self, suffix: str) -> list[Message]:
        """Messages whose topic ends with ``suffix`` (e.g. '/result')."""
        with self._cond:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def wait_for(self, predicate: Callable[[list[Message]], bool], timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True
