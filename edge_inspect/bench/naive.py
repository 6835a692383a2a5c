"""Mode (c): the loop a user would write first, one frame at a time, as the baseline the daemon must beat.

Read a frame (the same in-memory replay), preprocess, infer, decide, build the same result, publish it
with a plain paho client at the config's QoS and wait for the PUBACK, then take the next frame. It uses
the daemon's own preprocessing, engine and decision code, so the difference to (b) is the pipelining
alone; the engine is set up for one request at a time (see ``configs.naive_engine_config``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import cv2
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspect.bench.completions import Completions, Measured
from edge_inspect.bench.quiet import QuietStatus
from edge_inspect.config import AppConfig
from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.decision import recipe_hash, rules_summary
from edge_inspect.errors import EdgeInspectError, PublishError
from edge_inspect.model.package import ModelPackage
from edge_inspect.publish.credentials import with_password
from edge_inspect.publish.payload import encode, result_payload
from edge_inspect.publish.tls import tls_setup
from edge_inspect.publish.topics import Topics
from edge_inspect.sources import open_source
from edge_inspect.station.inspection import build_inspector
from edge_inspect.station.results import ResultBuilder
from edge_inspect.types import Verdict

_CONNECT_TIMEOUT_S = 10.0
_PUBACK_TIMEOUT_S = 30.0
_OPENCV_DEFAULT = -1
"""``cv2.setNumThreads(-1)``: back to OpenCV's own default (one thread per core)."""


def connect(config: MqttConfig, client_id: str) -> mqtt.Client:
    """A plain paho client, connected (credentials and TLS as the config says), its loop running."""
    config = with_password(config)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5 if config.protocol == "5" else mqtt.MQTTv311,
    )
    if config.username is not None:
        password = config.password.get_secret_value() if config.password is not None else None
        client.username_pw_set(config.username, password)
    if config.tls is not None:
        tls_setup(config.tls)(client)
    try:
        client.connect(config.host, config.port, keepalive=config.keepalive_s)
    except OSError as exc:
        msg = f"naive loop: cannot connect to the broker at {config.host}:{config.port}: {exc}"
        raise PublishError(msg) from exc
    client.loop_start()
    deadline = time.monotonic() + _CONNECT_TIMEOUT_S
    while not client.is_connected():
        if time.monotonic() > deadline:
            client.loop_stop()
            msg = f"naive loop: no CONNACK from {config.host}:{config.port} in {_CONNECT_TIMEOUT_S:.0f} s"
            raise PublishError(msg)
        time.sleep(0.01)
    return client


def run_naive(
    config: AppConfig,
    package: ModelPackage,
    engine_config: Any,
    *,
    warmup: int,
    expected: int,
    probe: Any = None,
) -> tuple[Measured, int]:
    """Run the first camera's source (a replay from memory) through the sequential loop: figures, errors."""
    cv2.setNumThreads(_OPENCV_DEFAULT)  # a hand-written loop leaves OpenCV as it comes (the daemon may not)
    camera = config.station_cameras[0]
    inspector, rules = build_inspector(
        package,
        engine_config,
        config.decision,
        variant=config.model.variant,
        cache_dir=config.paths.cache_dir,
        preprocess=config.preprocess,
    )
    make_result = ResultBuilder(
        station=config.station,
        camera=camera.id,
        model=package.identity(config.model.variant),
        thresholds=rules_summary(rules),
        recipe=recipe_hash(rules),
    )
    topic = Topics(config.mqtt.topic_prefix, config.station, camera.id).result
    source = open_source(camera.source, camera.id, QuietStatus())
    client = connect(config.mqtt, f"edge-inspect-bench-naive-{uuid.uuid4().hex[:8]}")
    done = Completions(warmup, expected=expected, probe=probe)
    errors = 0
    try:
        source.open()
        frames = iter(source.frames())
        while True:
            started = time.monotonic()
            frame = next(frames, None)
            if frame is None:
                break
            try:
                decision, error = inspector.inspect(frame), None
            except EdgeInspectError as exc:
                decision, error = None, str(exc)
            result = make_result(frame, decision, error, {})
            errors += result.verdict is Verdict.ERROR
            info = client.publish(topic, encode(result_payload(result)), qos=config.mqtt.qos)
            info.wait_for_publish(_PUBACK_TIMEOUT_S)
            if not info.is_published():
                msg = f"naive loop: no PUBACK for frame {frame.seq} within {_PUBACK_TIMEOUT_S:.0f} s"
                raise PublishError(msg)
            done.add((time.monotonic() - started) * 1000.0)
    finally:
        client.disconnect()
        client.loop_stop()
        source.close()
        inspector.engine.close()
    return done.result(), errors
