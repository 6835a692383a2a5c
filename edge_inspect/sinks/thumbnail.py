"""Thumbnails of saved frames on ``{prefix}/{station}/{camera}/thumbnail``, for an operator's screen.

A JSON message (schema ``thumbnail.schema.json``) carrying the result's id and a small base64 JPEG, so a
dashboard can show the image next to the result it belongs to. Previews travel on their own MQTT
connection with their own small queue: a burst of thumbnails never delays a result, and previews that
cannot be sent while the broker is away are dropped and counted, never stored.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable
from typing import Any

import cv2
import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspect.config.images import ThumbnailConfig
from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.publish.payload import SCHEMA_VERSION, encode, iso_timestamp
from edge_inspect.publish.tls import TlsSetup
from edge_inspect.sinks.overlay import Bgr8
from edge_inspect.types import InspectionResult

log = structlog.get_logger(__name__)

Publish = Callable[[bytes, str], bool]
"""Sends one encoded thumbnail message; False when it was dropped."""
_QUEUED_PREVIEWS = 32


def thumbnail_jpeg(image: Bgr8, max_side: int, quality: int) -> tuple[bytes, int, int]:
    """``image`` scaled down (never up) so its longest side is ``max_side``, as JPEG: (bytes, w, h)."""
    height, width = image.shape[:2]
    factor = min(1.0, max_side / max(height, width))
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA) if factor < 1.0 else image
    ok, data = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        msg = f"JPEG encoding of a {size[0]}x{size[1]} thumbnail failed"
        raise ValueError(msg)
    return data.tobytes(), size[0], size[1]


def thumbnail_payload(result: InspectionResult, jpeg: bytes, width: int, height: int) -> dict[str, Any]:
    """The thumbnail message: which result it shows, and the JPEG (base64)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "result_id": result.result_id,
        "seq": int(result.seq),
        "station": result.station,
        "camera": result.camera,
        "timestamp": iso_timestamp(result.captured_at, field="captured_at"),
        "verdict": result.verdict.value,
        "image_path": result.image_path,
        "content_type": "image/jpeg",
        "width": int(width),
        "height": int(height),
        "data": base64.b64encode(jpeg).decode("ascii"),
    }


class Thumbnailer:
    """Called by the image writer with each saved frame's overlay: scales, encodes and publishes it."""

    def __init__(self, config: ThumbnailConfig, publish: Publish) -> None:
        self.config = config
        self.publish = publish
        self.sent = 0
        self.dropped = 0

    def __call__(self, result: InspectionResult, image: Bgr8) -> bool:
        jpeg, width, height = thumbnail_jpeg(image, self.config.max_side, self.config.jpeg_quality)
        if self.publish(encode(thumbnail_payload(result, jpeg, width, height)), result.camera):
            self.sent += 1
            return True
        self.dropped += 1
        return False


class MqttThumbnailPublisher:
    """Its own paho client (client id ``<id>-thumbnails``), same broker, credentials and TLS as results."""

    def __init__(
        self,
        config: MqttConfig,
        topic: str | Callable[[str], str],
        *,
        client_id: str,
        qos: int,
        tls: TlsSetup | None = None,
    ) -> None:
        self.topic_of: Callable[[str], str] = topic if callable(topic) else (lambda _camera: topic)
        """Camera id -> its thumbnail topic (one topic for all when given a string)."""
        self.qos = qos
        self.config = config
        self._connected = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5 if config.protocol == "5" else mqtt.MQTTv311,
        )
        self.client.max_queued_messages_set(_QUEUED_PREVIEWS)
        self.client.reconnect_delay_set(
            min_delay=max(1, round(config.reconnect_min_s)), max_delay=max(1, round(config.reconnect_max_s))
        )
        if config.username is not None:
            password = config.password.get_secret_value() if config.password is not None else None
            self.client.username_pw_set(config.username, password)
        if tls is not None:
            tls(self.client)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *_args: self._connected.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive_s)
        self.client.loop_start()

    def __call__(self, payload: bytes, camera: str) -> bool:
        info = self.client.publish(self.topic_of(camera), payload, qos=self.qos)
        return info.rc == mqtt.MQTT_ERR_SUCCESS

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, _c: mqtt.Client, _u: object, _f: object, reason: Any, _p: object) -> None:
        if reason.is_failure:
            log.warning("thumbnail connection refused", reason=str(reason))
            return
        self._connected.set()
