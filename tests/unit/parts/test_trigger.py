"""Trigger messages: the part id and meta they carry, and a clear reason for every one refused."""

from __future__ import annotations

import json

import pytest

from edge_inspect.errors import TriggerError
from edge_inspect.parts.trigger import MAX_PAYLOAD_BYTES, Trigger, parse_trigger


def test_a_trigger_carries_its_id_and_meta() -> None:
    assert parse_trigger(b'{"part_id": "P-0001", "meta": {"tray": 4}}') == Trigger("P-0001", {"tray": 4})


@pytest.mark.parametrize("payload", [b"", b"  ", b"{}", b'{"meta": null}'])
def test_a_trigger_without_id_is_numbered_by_the_station(payload: bytes) -> None:
    assert parse_trigger(payload) == Trigger()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"P-1", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b'["P-1"]', "JSON list; expected an object"),
        (b'{"part": "P-1"}', "unknown keys ['part']"),
        (b'{"part_id": 17}', "part_id is a int; expected a string"),
        (b'{"part_id": ""}', "part_id has 0 characters"),
        (json.dumps({"part_id": "x" * 129}).encode(), "part_id has 129 characters"),
        (b'{"part_id": "P\\n1"}', "control characters"),
        (b'{"part_id": "P-1", "meta": [1]}', "meta is a JSON list"),
        (json.dumps({"meta": {"k": "v" * 5000}}).encode(), "meta is larger than"),
        (b" " + b"x" * MAX_PAYLOAD_BYTES, "at most"),
    ],
)
def test_a_bad_trigger_is_refused_saying_why(payload: bytes, reason: str) -> None:
    with pytest.raises(TriggerError, match=None) as caught:
        parse_trigger(payload)
    assert reason in str(caught.value)
