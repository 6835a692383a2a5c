"""Thumbnails: a small JPEG of a saved frame, in a schema-checked JSON message, on their own connection."""

from __future__ import annotations

import base64
import json
import time
from importlib import resources
from typing import Any

import cv2
import numpy as np
import pytest
from jsonschema import Draft202012Validator, FormatChecker

from edge_inspect.config.images import ThumbnailConfig
from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.publish.topics import Topics
from edge_inspect.sinks.thumbnail import (
    MqttThumbnailPublisher,
    Thumbnailer,
    thumbnail_jpeg,
    thumbnail_payload,
)
from edge_inspect.types import Verdict
from tests.helpers.broker import Mosquitto, Subscriber
from tests.helpers.results import result


def schema_errors(payload: dict[str, Any]) -> list[str]:
    text = resources.files("edge_inspect").joinpath("schemas", "thumbnail.schema.json").read_text("utf-8")
    schema = json.loads(text)
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    return [e.message for e in validator.iter_errors(payload)]


@pytest.mark.parametrize(
    ("shape", "size"),
    [((600, 800, 3), (256, 192)), ((800, 600, 3), (192, 256)), ((100, 50, 3), (50, 100))],
)
def test_thumbnails_fit_the_longest_side_and_never_grow(
    shape: tuple[int, ...], size: tuple[int, int]
) -> None:
    image = np.full(shape, 90, np.uint8)
    jpeg, width, height = thumbnail_jpeg(image, 256, 70)
    assert (width, height) == size
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None
    assert decoded.shape == (height, width, 3)


def test_the_payload_names_its_result_and_matches_the_schema() -> None:
    built = result(Verdict.NG, seq=42)
    jpeg, width, height = thumbnail_jpeg(np.zeros((40, 60, 3), np.uint8), 32, 70)
    payload = thumbnail_payload(built, jpeg, width, height)
    assert schema_errors(payload) == []
    assert payload["result_id"] == built.result_id
    assert base64.b64decode(payload["data"]) == jpeg


def test_the_schema_refuses_a_payload_with_an_unknown_field() -> None:
    built = result(Verdict.NG)
    payload = thumbnail_payload(built, b"\xff\xd8\xff\xd9", 1, 1) | {"extra": 1}
    assert schema_errors(payload)


def test_thumbnailer_counts_sent_and_dropped() -> None:
    answers = iter([True, False])
    thumbnails = Thumbnailer(
        ThumbnailConfig(enabled=True, max_side=16), lambda _payload, _camera: next(answers)
    )
    image = np.zeros((32, 32, 3), np.uint8)
    assert thumbnails(result(Verdict.NG), image)
    assert not thumbnails(result(Verdict.NG), image)
    assert (thumbnails.sent, thumbnails.dropped) == (1, 1)


def test_thumbnails_arrive_on_the_thumbnail_topic(broker: Mosquitto) -> None:
    # given a thumbnail publisher on its own connection, and a subscriber on the thumbnail topic
    topics = Topics("edge-inspect", "st-1", "cam-1")
    config = MqttConfig(host="127.0.0.1", port=broker.port)
    sender = MqttThumbnailPublisher(config, topics.thumbnail, client_id="st-1-thumbnails", qos=1)
    with Subscriber(broker.port, topics.thumbnail) as viewer:
        sender.start()
        try:
            thumbnails = Thumbnailer(ThumbnailConfig(enabled=True), sender)
            # when a saved frame's overlay is thumbnailed (after the connection is up)
            built = result(Verdict.NG, seq=3)
            deadline = time.monotonic() + 10
            while not sender.connected and time.monotonic() < deadline:
                time.sleep(0.02)
            assert sender.connected
            assert thumbnails(built, np.full((300, 400, 3), 200, np.uint8))
            # then one JSON message arrives, valid, for that result, 256 px wide
            assert viewer.wait_for(lambda m: len(m) == 1, 10)
        finally:
            sender.close()
    message = viewer.messages[0].json()
    assert schema_errors(message) == []
    assert (message["result_id"], message["width"], message["height"]) == (built.result_id, 256, 192)


def test_without_a_broker_thumbnails_are_dropped_not_stored() -> None:
    # given a qos-0 publisher that never connected / then publishing reports a drop, and nothing blocks
    config = MqttConfig(host="127.0.0.1", port=1)
    sender = MqttThumbnailPublisher(config, "t", client_id="nobody", qos=0)
    assert sender(b"{}", "cam-1") is False
