"""An embedded MQTT broker (amqtt, MQTT 3.1.1) on loopback, for the demo on a machine with no broker.

Production stations point ``mqtt.host`` at an external broker (mosquitto, EMQX, HiveMQ); this one exists
so that ``edge-inspect demo`` works right after ``pip install``.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from edge_inspect.errors import EdgeInspectError
from edge_inspect.net import free_loopback_port


class EmbeddedBroker:
    """``with EmbeddedBroker() as broker:`` serves MQTT on 127.0.0.1:``broker.port`` from a thread."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_loopback_port()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="embedded-broker", daemon=True)
        self._broker: Any = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def _run(self) -> None:
        from amqtt.broker import Broker  # noqa: PLC0415 (imported only when the demo runs)

        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }
        try:
            self._broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:  # reported to the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()

    def start(self, timeout: float = 10.0) -> EmbeddedBroker:
        self._thread.start()
        if not self._ready.wait(timeout) or self._error is not None:
            msg = f"embedded MQTT broker did not start on 127.0.0.1:{self.port}: {self._error}"
            raise EdgeInspectError(msg)
        return self

    def stop(self) -> None:
        if self._broker is not None:
            future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
            future.result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
