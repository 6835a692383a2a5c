"""Publish results, status and stats over MQTT (paho-mqtt 2.x), QoS 1, with a retained last will.

The client keeps a persistent session (MQTT 5 ``clean_start=False`` with a session expiry) and reconnects
with back-off; while the broker is away, paho keeps QoS 1 messages queued in memory (its queue is
unbounded here, so nothing is dropped) and re-sends them after reconnecting.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.errors import PublishError
from edge_inspect.publish.payload import encode, result_payload, stats_payload, status_payload
from edge_inspect.publish.topics import Topics
from edge_inspect.types import InspectionResult, SourceState

log = structlog.get_logger(__name__)

TlsSetup = Callable[[mqtt.Client], None]
"""Configures TLS on a paho client before it connects."""


class MqttPublisher:
    """A ResultSink and StatusListener that speaks MQTT.

    ``handle`` never blocks on the network: paho queues the message and sends it when connected.
    ``flush`` waits for every PUBACK; ``close`` publishes ``offline`` (retained) and disconnects.
    """

    name = "mqtt"

    def __init__(
        self,
        config: MqttConfig,
        topics: Topics,
        *,
        station: str,
        client_id: str,
        version: str,
        tls: TlsSetup | None = None,
        on_ack: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.topics = topics
        self.station = station
        self.version = version
        self.on_ack = on_ack
        self._v5 = config.protocol == "5"
        self._pending: dict[int, str] = {}
        self._lock = threading.Condition()
        self._connected = threading.Event()
        self.acked = 0
        self.published = 0
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            clean_session=None if self._v5 else False,
        )
        self.client.max_inflight_messages_set(config.max_inflight)
        self.client.max_queued_messages_set(0)  # 0 = unbounded: paho must never drop a QoS 1 result
        self.client.reconnect_delay_set(
            min_delay=max(1, round(config.reconnect_min_s)), max_delay=max(1, round(config.reconnect_max_s))
        )
        if config.username is not None:
            password = config.password.get_secret_value() if config.password is not None else None
            self.client.username_pw_set(config.username, password)
        if tls is not None:
            tls(self.client)
        self.client.will_set(topics.status, encode(self._status("offline", "connection lost")), qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish

    # ---------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Connect in the background: a broker that is down at start is retried, results queue meanwhile."""
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = self.config.session_expiry_s
            self.client.connect_async(
                self.config.host,
                self.config.port,
                keepalive=self.config.keepalive_s,
                clean_start=False,
                properties=properties,
            )
        else:
            self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def flush(self, timeout: float) -> bool:
        """Wait until every published message is acknowledged; False if ``timeout`` ran out."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._pending, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Publish ``offline`` (retained), wait for it, and disconnect cleanly."""
        if self.connected:
            info = self.client.publish(
                self.topics.status, encode(self._status("offline", "shutdown")), qos=1, retain=True
            )
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not confirmed", error=str(exc))
        self.client.disconnect()
        self.client.loop_stop()

    # ----------------------------------------------------------------------------------------- publish

    def handle(self, result: InspectionResult) -> None:
        self._publish(self.topics.result, encode(result_payload(result)), result.result_id)

    def _publish(self, topic: str, payload: bytes, key: str) -> None:
        with self._lock:
            info = self.client.publish(topic, payload, qos=self.config.qos)
            if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
                msg = f"MQTT queue full, message {key} not queued"
                raise PublishError(msg)
            self.published += 1
            if self.config.qos > 0:
                self._pending[info.mid] = key
            else:
                self.acked += 1

    def source_state(self, camera: str, state: SourceState, reason: str | None = None) -> None:
        """Camera state, retained, on ``{prefix}/{station}/{camera}/camera``."""
        payload = encode(self._status(state.value, reason, camera=camera))
        self.client.publish(self.topics.camera_status, payload, qos=1, retain=True)

    def publish_stats(self, snapshot: Mapping[str, Any]) -> None:
        payload = stats_payload(snapshot, station=self.station, camera=self.topics.camera)
        self.client.publish(self.topics.stats, encode(payload), qos=0, retain=True)

    def _status(self, state: str, reason: str | None, camera: str | None = None) -> dict[str, Any]:
        return status_payload(state, station=self.station, version=self.version, reason=reason, camera=camera)

    # --------------------------------------------------------------------------------------- callbacks

    def _on_connect(
        self, client: mqtt.Client, _userdata: object, _flags: object, reason: Any, _props: object
    ) -> None:
        if reason.is_failure:
            log.error("broker refused connection", host=self.config.host, port=self.config.port, reason=str(reason))
            return
        self._connected.set()
        log.info("connected to broker", host=self.config.host, port=self.config.port, pending=self.pending())
        client.publish(self.topics.status, encode(self._status("online", None)), qos=1, retain=True)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: object, _flags: object, reason: Any, _props: object
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was:
            log.warning("disconnected from broker", reason=str(reason), pending=self.pending())

    def _on_publish(
        self, _client: mqtt.Client, _userdata: object, mid: int, _reason: Any, _props: object
    ) -> None:
        with self._lock:
            key = self._pending.pop(mid, None)
            if key is not None:
                self.acked += 1
            self._lock.notify_all()
        if key is not None and self.on_ack is not None:
            self.on_ack(key)
