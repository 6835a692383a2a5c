"""Publish results, status and stats over MQTT (paho-mqtt 2.x), QoS 1, with a retained status and last will.

Results go through the durable outbox when there is one: ``handle`` commits the result to SQLite and
returns (the frame is then done), and the sender thread publishes from the outbox in order and deletes
each row on its PUBACK. Without an outbox (``outbox.enabled: false``), results go straight to the client,
which keeps them in memory only (its queue is unbounded here, so a broker outage costs memory, and a
crash loses what was not acknowledged).

The client keeps a persistent session (MQTT 5 ``clean_start=False`` with a session expiry) and
reconnects with back-off; a broker that is down at start is retried while results queue. The retained
``status`` is ``online`` after every (re)connect, ``offline`` at shutdown, and ``offline`` as the last
will when the connection is lost.

Nothing is handed to the client before the broker's CONNACK. paho opens the socket of a (re)connection
and then queues CONNECT; a ``publish`` from another thread in between goes out before CONNECT, and the
broker drops the connection (amqtt, seen under load in the install test). So until ``on_connect``, status
messages and results without an outbox are held here, in order, and published first thing in
``on_connect``; the outbox sender sends only while connected.
"""

from __future__ import annotations

import functools
import itertools
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.config.outbox import OutboxConfig
from edge_inspect.errors import PublishError
from edge_inspect.parts.book import PartResult
from edge_inspect.publish.acks import AckTracker, OnAck
from edge_inspect.publish.alarm import Alarm
from edge_inspect.publish.attempts import CLOSED_BEFORE_CONNACK, REFUSED, REJECTED, ConnectAttempts
from edge_inspect.publish.outbox import Outbox
from edge_inspect.publish.payload import (
    encode,
    part_payload,
    plc_payload,
    result_payload,
    stats_payload,
    status_payload,
)
from edge_inspect.publish.sender import CountFn, OutboxSender
from edge_inspect.publish.store import ResultStore, Stored
from edge_inspect.publish.topics import Topics
from edge_inspect.types import InspectionResult, SourceState

log = structlog.get_logger(__name__)

TlsSetup = Callable[[mqtt.Client], None]
"""Configures TLS on a paho client before it connects."""

_STATUS_HEADROOM = 8
"""Client in-flight slots beyond the outbox window, so status messages never wait behind results."""


class _Held(NamedTuple):
    """A message kept back until the broker's CONNACK."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    on_ack: OnAck | None
    counted: bool


class MqttPublisher:
    """A ResultSink and StatusListener that speaks MQTT, durably when given an :class:`Outbox`.

    ``handle`` never blocks on the network. ``flush`` waits until every result is acknowledged;
    ``close`` publishes ``offline`` (retained) and disconnects; unacknowledged rows stay in the outbox.
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
        outbox: Outbox | None = None,
        delivery: OutboxConfig | None = None,
        count: CountFn | None = None,
        on_ack: Callable[[str], None] | None = None,
        thread_init: Callable[[], object] = lambda: None,
        session: int = 0,
    ) -> None:
        self.config = config
        self.topics = topics
        self.station = station
        self.version = version
        self.outbox = outbox
        self._v5 = config.protocol == "5"
        self._count: CountFn = count or (lambda _name, _n: None)
        self.on_ack = on_ack
        """Told each result's ``result_id`` once the broker has acknowledged it (benchmarks, tests). It runs
        on the MQTT client's thread (direct) or the outbox sender's, so it must return quickly."""
        self._acks = AckTracker()
        self._thread_init = thread_init
        """Called on the client's network thread at each connection (runtime.scheduling, runtime/sched.py)."""
        self._connected = threading.Event()
        self._gate = threading.Lock()
        """Orders ``_connected`` against publishing: held messages go out before any later one."""
        self._held: list[_Held] = []
        self._subscriptions: list[str] = []
        policy = delivery or OutboxConfig()  # the outbox's delivery settings: window, re-sends, fallback
        self._fallback_max_pending = policy.fallback_max_pending
        self.store = ResultStore(outbox, self._count) if outbox is not None else None
        self.window = policy.max_inflight or config.max_inflight
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            clean_session=None if self._v5 else False,
        )
        self.client.max_inflight_messages_set(self.window + _STATUS_HEADROOM)
        self.client.max_queued_messages_set(0)  # 0 = unbounded: the client must never drop a QoS 1 result
        self.client.reconnect_delay_set(
            min_delay=max(1, round(config.reconnect_min_s)), max_delay=max(1, round(config.reconnect_max_s))
        )
        if config.username is not None:
            password = config.password.get_secret_value() if config.password is not None else None
            self.client.username_pw_set(config.username, password)
        if tls is not None:
            tls(self.client)
        self.session = session
        """This start's number: status messages order by (session, sequence) (publish/payload.py)."""
        self._connection = 0
        self._camera_sequence = itertools.count(1)
        self.client.on_pre_connect = self._on_pre_connect
        self.attempts = ConnectAttempts(config.host, config.port, config.protocol, count=self._count)
        self.client.on_connect = self._on_connect
        self.client.on_connect_fail = self._on_connect_fail
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self._closing = False
        self._lost_alarm = Alarm("results_lost")
        self._answered = False
        """The broker answered the current attempt with a refusing CONNACK (already logged)."""
        self.sender = (
            OutboxSender(
                outbox,
                self._publish_result,
                self._connected.is_set,
                window=self.window,
                keep_acked_s=policy.keep_acked_s,
                max_resends=policy.max_resends,
                on_acked=self._result_acked,
                count=count,
                thread_init=thread_init,
            )
            if outbox is not None
            else None
        )

    # ---------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Connect in the background: a broker that is down at start is retried, results queue meanwhile."""
        if self.sender is not None:
            self.sender.start()
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho lacks hints here
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
        """Results not yet acknowledged: rows in the outbox plus results sent directly."""
        depth = self.outbox.depth() if self.outbox is not None else 0
        return depth + self._acks.pending()

    def in_memory_only(self) -> int:
        """Results awaiting PUBACK that no outbox holds (outbox off, or the store failing): lost at exit."""
        return self._acks.pending()

    def flush(self, timeout: float) -> bool:
        """Wait until every result is acknowledged; False if ``timeout`` ran out (the rest stays stored)."""
        if self.sender is not None and not self.sender.wait_idle(timeout):
            return False
        return self._acks.wait_settled(timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Publish ``offline`` (retained), wait for it, stop the sender, and disconnect cleanly."""
        self._closing = True
        if self.connected:
            offline = self._status("offline", "shutdown", sequence=2 * self._connection + 1)
            info = self.client.publish(self.topics.status, encode(offline), qos=1, retain=True)
            try:
                info.wait_for_publish(timeout)
            except (RuntimeError, ValueError) as exc:
                log.warning("offline status not confirmed", error=str(exc))
        if self.sender is not None:
            self.sender.stop()
        self.client.disconnect()
        self.client.loop_stop()
        if self.outbox is not None:
            left = self.outbox.depth()
            self.outbox.close()
            if left:
                log.warning(
                    "results left in the outbox for the next start", rows=left, path=str(self.outbox.path)
                )

    # ----------------------------------------------------------------------------------------- results

    def handle(self, result: InspectionResult) -> None:
        """Store the result (durable) or hand it to the client; returns without waiting for the network."""
        self._deliver(self.topics.result_of(result.camera), encode(result_payload(result)), result.result_id)

    def publish_part(self, part: PartResult) -> None:
        """A part's verdict on ``{prefix}/{station}/part``, as durably as frame results (same outbox)."""
        self._deliver(
            self.topics.part, encode(part_payload(part, station=self.station)), f"part-{uuid.uuid4().hex}"
        )

    def _deliver(self, topic: str, payload: bytes, key: str) -> None:
        if self.store is None or self.sender is None:
            self._publish_direct(topic, payload, key)
            return
        stored = self.store.store(key, topic, payload)
        if stored is Stored.STORED:
            self.sender.wake()
            self._lost_alarm.clear("results are stored again")
        elif stored is Stored.FAILED:
            self._fallback(topic, key, payload)

    def subscribe(self, topic: str, on_message: Callable[[bytes], None]) -> None:
        """Before :meth:`start`: subscribe to ``topic`` (QoS 1) at every connection; ``on_message`` gets
        each payload on the client's network thread and must return quickly."""

        def received(_client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
            try:
                on_message(bytes(message.payload))
            except Exception:
                log.exception("message handler failed", topic=message.topic)

        self._subscriptions.append(topic)
        self.client.message_callback_add(topic, received)

    def _fallback(self, topic: str, key: str, payload: bytes) -> None:
        """The outbox could not store it (disk full): keep inspecting; send it directly, as a best effort."""
        if self._acks.pending() < self._fallback_max_pending:
            self._publish_direct(topic, payload, key)
        else:
            self._count("outbox.lost", 1)
            # counted exactly; logged at a bounded rate (one line, then one a minute with the count)
            self._lost_alarm.raise_(
                "results lost: not stored and too many awaiting PUBACK",
                result_id=key,
                fallback_max_pending=self._fallback_max_pending,
            )

    def _publish_result(self, topic: str, payload: bytes) -> int | None:
        """The sender's way out: QoS from config, its ack goes to the sender; None while not connected
        (the row stays in the outbox and goes out when the sender is woken at the next connection)."""
        on_ack = self.sender.acked if self.sender is not None else None
        return self._publish(topic, payload, qos=self.config.qos, on_ack=on_ack, hold=False)

    def _publish_direct(self, topic: str, payload: bytes, key: str | None = None) -> None:
        on_ack = functools.partial(self._direct_acked, key) if key and self.on_ack is not None else None
        if self._publish(topic, payload, qos=self.config.qos, on_ack=on_ack, counted=True) is None:
            msg = "MQTT client queue full, result not queued"
            raise PublishError(msg)

    def _direct_acked(self, key: str, _mid: int, accepted: bool) -> None:
        if accepted:
            self._result_acked(key)

    def _result_acked(self, key: str) -> None:
        if self.on_ack is not None:
            self.on_ack(key)

    def _publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int,
        retain: bool = False,
        on_ack: OnAck | None = None,
        counted: bool = False,
        hold: bool = True,
    ) -> int | None:
        """Publish, or before the connection is up hold it for ``on_connect`` (0) or refuse it (None,
        ``hold`` False); None also when the client refused it. Only ``_gate`` is held across ``publish``,
        and no paho callback that runs under paho's message lock takes it (see acks.py)."""
        with self._gate:
            if not self._connected.is_set():
                if not hold:
                    return None
                self._held.append(_Held(topic, payload, qos, retain, on_ack, counted))
                if counted:
                    self._acks.hold()
                return 0
            return self._send(topic, payload, qos, retain, on_ack, counted=counted)

    def _send(
        self,
        topic: str,
        payload: bytes,
        qos: int,
        retain: bool,
        on_ack: OnAck | None,
        *,
        counted: bool,
        held: bool = False,
    ) -> int | None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            return None
        self._acks.register(info.mid, on_ack, counted=counted, held=held)
        return int(info.mid)

    # ------------------------------------------------------------------------------------ status, stats

    def source_state(self, camera: str, state: SourceState, reason: str | None = None) -> None:
        """Camera state, retained, on ``{prefix}/{station}/{camera}/camera``."""
        payload = encode(
            self._status(state.value, reason, camera=camera, sequence=next(self._camera_sequence))
        )
        self._publish(self.topics.camera_status_of(camera), payload, qos=1, retain=True)

    def plc_link(self, connected: bool) -> None:
        """The PLC link's state, retained, on ``{prefix}/{station}/plc`` (queued while disconnected)."""
        payload = encode(plc_payload(connected, station=self.station))
        self._publish(self.topics.plc, payload, qos=1, retain=True)

    def publish_stats(self, snapshot: Mapping[str, Any], camera_state: str | None = None) -> None:
        """The retained stats message; skipped while disconnected (the next one carries the same counters)."""
        if not self.connected:
            return
        payload = stats_payload(
            snapshot, station=self.station, camera=self.topics.camera, camera_state=camera_state
        )
        self._publish(self.topics.stats, encode(payload), qos=0, retain=True)

    def _status(
        self, state: str, reason: str | None, camera: str | None = None, sequence: int = 0
    ) -> dict[str, Any]:
        return status_payload(
            state,
            station=self.station,
            version=self.version,
            reason=reason,
            camera=camera,
            session=self.session,
            sequence=sequence,
        )

    # --------------------------------------------------------------------------------------- callbacks

    def _on_connect(
        self, _client: mqtt.Client, _userdata: object, flags: Any, reason: Any, _props: object
    ) -> None:
        self._thread_init()  # the network thread, which paho starts and names itself
        if reason.is_failure:
            self._answered = True  # the disconnect that follows belongs to this attempt
            self.attempts.failed(REJECTED, str(reason))
            return
        self.attempts.connected()
        with self._gate:  # what was held goes first, in order; then the connection is open to everyone
            held, self._held = self._held, []
            for message in held:
                self._send(*message[:5], counted=message.counted, held=message.counted)
            self._connected.set()
        log.info(
            "connected to broker",
            host=self.config.host,
            port=self.config.port,
            session_present=bool(getattr(flags, "session_present", False)),
            pending=self.pending(),
        )
        # subscribed before ``online`` goes out: whoever sees ``online`` may trigger at once
        for topic in self._subscriptions:
            self.client.subscribe(topic, qos=1)
        online = self._status("online", None, sequence=2 * self._connection)
        self._publish(self.topics.status, encode(online), qos=1, retain=True)
        if self.sender is not None:
            self.sender.wake()

    def _on_pre_connect(self, client: mqtt.Client, _userdata: object) -> None:
        """Before each (re)connection: this connection's last will orders after its own ``online``."""
        self._connection += 1
        will = self._status("offline", "connection lost", sequence=2 * self._connection + 1)
        client.will_set(self.topics.status, encode(will), qos=1, retain=True)

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        if not self._closing:
            self.attempts.failed(REFUSED)

    def _on_disconnect(
        self, _client: mqtt.Client, _userdata: object, _flags: object, reason: Any, _props: object
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if not was and not self._closing and not self._answered:
            self.attempts.failed(CLOSED_BEFORE_CONNACK)
        self._answered = False
        if was and not self._closing:
            log.warning("disconnected from broker", reason=str(reason), pending=self.pending())
            if self.sender is not None:
                self.sender.connection_lost()

    def _on_publish(
        self, _client: mqtt.Client, _userdata: object, mid: int, reason: Any, _props: object
    ) -> None:
        accepted = not bool(getattr(reason, "is_failure", False))
        if not accepted:
            log.error("broker refused a message", mid=mid, reason=str(reason))
            self._count("mqtt.refused", 1)
        self._acks.acked(mid, accepted)
