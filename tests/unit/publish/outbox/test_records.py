"""The outbox's records: bounds, and the replayed copy of a stored payload."""

from __future__ import annotations

import json

from edge_inspect.publish.outbox.records import Limits, replayed_payload
from edge_inspect.publish.payload import encode


def test_given_a_stored_result_when_resent_then_only_the_flag_changes() -> None:
    stored = encode(
        {"schema_version": 2, "result_id": "abc", "timestamp": "2025-01-01T00:00:00.000Z", "resent": False}
    )

    again = json.loads(replayed_payload(stored))

    assert again == {
        "schema_version": 2,
        "result_id": "abc",
        "timestamp": "2025-01-01T00:00:00.000Z",
        "resent": True,
    }


def test_given_a_schema_1_result_left_by_an_older_daemon_when_resent_then_its_own_flag_is_set() -> None:
    stored = encode({"schema_version": 1, "result_id": "abc", "replayed": False})
    assert json.loads(replayed_payload(stored)) == {"schema_version": 1, "result_id": "abc", "replayed": True}


def test_given_a_payload_that_is_not_a_json_object_then_it_is_sent_unchanged() -> None:
    for payload in (b"\xff\xfe", b"[1, 2]", b"plain text"):
        assert replayed_payload(payload) == payload


def test_limits_name_the_bound_that_is_broken() -> None:
    limits = Limits(max_rows=10, max_bytes=1000, max_age_s=None, when_full="reject_new")

    assert limits.over(10, 1000) is None
    assert limits.over(11, 10) == "max_rows 10 reached"
    assert limits.over(5, 1001) == "max_bytes 1000 reached"
