"""Payloads: results, status and stats as JSON that the committed schemas accept, and nothing looser."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import datetime, timezone
from typing import Any

import numpy as np
import pytest

from edge_inspect.decision.rules import Rules, recipe_hash, rules_summary
from edge_inspect.decision.segmentation import decide_segmentation
from edge_inspect.errors import PublishError
from edge_inspect.parts.book import PartResult
from edge_inspect.publish.payload import (
    encode,
    part_payload,
    plc_payload,
    result_payload,
    stats_payload,
    status_payload,
)
from edge_inspect.runtime.stats import Stats
from edge_inspect.types import (
    Decision,
    Defect,
    InspectionResult,
    ModelIdentity,
    PartTag,
    SourceInfo,
    Verdict,
)
from tests.helpers import results
from tests.helpers.schemas import errors, validate

CAPTURED_AT = datetime(2025, 3, 14, 9, 26, 53, 589_793, tzinfo=timezone.utc).timestamp()
RULES = Rules(
    kind="segmentation",
    classes=("scratch", "stain"),
    thresholds=(0.5, 0.6),
    min_area_px=(4, 4),
    score_threshold=0.5,
    max_defects=0,
)


def result(decision: Decision | None, **fields: Any) -> InspectionResult:
    values: dict[str, Any] = {
        "result_id": "3f2a9c0d1e",
        "seq": 41,
        "station": "line-3",
        "camera": "cam-top",
        "captured_at": CAPTURED_AT,
        "verdict": Verdict.ERROR if decision is None else decision.verdict,
        "decision": decision,
        "source": SourceInfo(kind="replay", path="/data/Class1/Test/0007.PNG", index=7),
        "model": ModelIdentity(name="dagm-unet", version="1.2.0", sha256="ab" * 32, variant="int8"),
        "thresholds": rules_summary(RULES),
        "recipe_hash": recipe_hash(RULES),
        "timings_ms": {"preprocess": 1.23456, "infer": np.float64(7.0001), "decide": 0.1, "total": 9.87654},
        "frame_size": (64, 64),
        **fields,
    }
    return InspectionResult(**values)


def ng_decision() -> Decision:
    probs = np.full((2, 64, 64), 0.02, np.float32)
    probs[0, 4:10, 4:12] = 0.93
    probs[0, 30:33, 40:50] = 0.71
    probs[1, 50:60, 2:6] = 0.88
    return decide_segmentation(probs, RULES)


def pass_decision() -> Decision:
    return decide_segmentation(np.full((2, 64, 64), 0.12, np.float32), RULES)


REPRESENTATIVE = {
    "pass": lambda: result(pass_decision()),
    "ng": lambda: result(ng_decision(), image_path="/var/lib/edge-inspect/images/41.png"),
    "error": lambda: result(None, error="engine output 'logits' holds 3 non-finite values"),
    "resent": lambda: result(pass_decision(), resent=True, expected=Verdict.PASS),
    "no pixels": lambda: result(None, error="decode: truncated PNG", frame_size=None),
    "camera": lambda: result(pass_decision(), source=SourceInfo(kind="pylon", device="40012345")),
}


# --------------------------------------------------------------------------------------------- results


@pytest.mark.parametrize("name", sorted(REPRESENTATIVE))
def test_given_a_representative_result_when_encoded_then_the_schema_accepts_the_wire_bytes(name: str) -> None:
    wire = encode(result_payload(REPRESENTATIVE[name]()))

    validate("result", wire)


def test_given_an_ng_result_when_built_then_defects_are_shaped_and_rounded() -> None:
    decision = ng_decision()

    payload = result_payload(result(decision))

    assert payload["verdict"] == "NG"
    assert payload["reasons"] == ["3 defects > max 0"]
    assert [d["class"] for d in payload["defects"]] == ["scratch", "scratch", "stain"]
    first = payload["defects"][0]
    assert first == {
        "class": "scratch",
        "area_px": 48,
        "bbox": {"x": 4, "y": 4, "w": 8, "h": 6},
        "centroid": {"x": 7.5, "y": 6.5},
        "max_score": 0.93,
        "mean_score": 0.93,
    }
    assert payload["score"] == 0.93
    assert payload["thresholds"] == {"scratch": 0.5, "stain": 0.6}
    assert payload["recipe_hash"] == recipe_hash(RULES)
    assert payload["timings_ms"] == {"preprocess": 1.235, "infer": 7.0, "decide": 0.1, "total": 9.877}


def test_given_a_result_when_built_then_identity_and_time_are_carried() -> None:
    payload = result_payload(result(pass_decision()))

    assert payload["schema_version"] == 3
    assert payload["frame"] == {"width": 64, "height": 64}  # what bbox and centroid are in
    assert (payload["result_id"], payload["seq"], payload["station"], payload["camera"]) == (
        "3f2a9c0d1e",
        41,
        "line-3",
        "cam-top",
    )
    assert payload["timestamp"] == "2025-03-14T09:26:53.589Z"
    assert payload["source"] == {
        "kind": "replay",
        "path": "/data/Class1/Test/0007.PNG",
        "index": 7,
        "device": None,
    }
    assert payload["model"] == {
        "name": "dagm-unet",
        "version": "1.2.0",
        "sha256": "ab" * 32,
        "variant": "int8",
    }
    assert payload["error"] is None
    assert payload["image_path"] is None
    assert payload["resent"] is False
    assert payload["expected"] is None


def test_given_an_error_result_when_built_then_it_has_no_decision_fields_and_carries_the_error() -> None:
    payload = result_payload(result(None, error="decode: truncated PNG"))

    assert payload["verdict"] == "ERROR"
    assert payload["error"] == "decode: truncated PNG"
    assert (payload["defects"], payload["score"], payload["reasons"]) == ([], None, [])


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"decision": None, "verdict": Verdict.ERROR}, "is ERROR but carries no error text"),
        ({"error": "boom"}, "is PASS but carries an error"),
        ({"decision": None, "verdict": Verdict.PASS}, "is PASS without a decision"),
    ],
)
def test_given_an_inconsistent_result_when_built_then_publish_error_names_it(
    fields: dict[str, Any], words: str
) -> None:
    bad = dataclasses.replace(result(pass_decision()), **fields)

    with pytest.raises(PublishError, match=rf"result 3f2a9c0d1e \(seq 41\) {words}"):
        result_payload(bad)


def test_given_a_nan_score_when_encoded_then_publish_error_names_the_field() -> None:
    defect = Defect("scratch", 5, (0, 0, 5, 1), (2.0, 0.0), float("nan"), 0.7)
    decision = Decision(Verdict.NG, (defect,), score=0.7, reasons=("1 defect > max 0",))

    with pytest.raises(PublishError, match=r"defects\[0\]\.max_score=nan"):
        encode(result_payload(result(decision)))


def test_given_a_non_json_value_when_encoded_then_publish_error() -> None:
    with pytest.raises(PublishError, match="not plain JSON data"):
        encode({"score": np.float32(0.5)})


def test_given_a_payload_when_encoded_then_it_is_compact_utf8_that_round_trips() -> None:
    payload = status_payload("offline", station="line-3", reason="Wartung läuft", at=CAPTURED_AT)

    wire = encode(payload)

    assert b" " not in wire.replace("Wartung läuft".encode(), b"")
    assert "läuft".encode() in wire
    assert json.loads(wire) == payload


# ---------------------------------------------------------------------------- the schema is strict


def mutations() -> dict[str, Any]:
    """Each entry breaks a valid NG payload in one way the schema must catch."""

    def without(key: str) -> Any:
        return lambda p: p.pop(key)

    def setting(path: tuple[Any, ...], value: Any) -> Any:
        def apply(p: dict[str, Any]) -> None:
            target = p
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value

        return apply

    return {
        "missing verdict": without("verdict"),
        "missing recipe_hash": without("recipe_hash"),
        "missing defect field": lambda p: p["defects"][0].pop("mean_score"),
        "seq as text": setting(("seq",), "41"),
        "score above 1": setting(("score",), 1.5),
        "unknown verdict": setting(("verdict",), "MAYBE"),
        "area as float": setting(("defects", 0, "area_px"), 12.5),
        "bbox with a missing side": lambda p: p["defects"][0]["bbox"].pop("h"),
        "timestamp without zone": setting(("timestamp",), "2025-03-14T09:26:53.589"),
        "timestamp without ms": setting(("timestamp",), "2025-03-14T09:26:53Z"),
        "extra top-level field": setting(("operator",), "anna"),
        "extra defect field": setting(("defects", 0, "severity"), "high"),
        "extra source field": setting(("source", "extra"), {}),
        "extra model field": setting(("model", "path"), "/models"),
        "resent as int": setting(("resent",), 1),
        "NG with an error": setting(("error",), "boom"),
        "ERROR without an error": setting(("verdict",), "ERROR"),
        "short sha256": setting(("model", "sha256"), "abc"),
        "wrong schema version": setting(("schema_version",), 1),
        "frame without height": setting(("frame",), {"width": 64}),
        "frame of zero width": setting(("frame",), {"width": 0, "height": 64}),
        "the schema-1 name": setting(("replayed",), False),
    }


@pytest.mark.parametrize("name", sorted(mutations()))
def test_given_a_mutated_result_payload_when_validated_then_the_schema_refuses_it(name: str) -> None:
    payload = copy.deepcopy(result_payload(result(ng_decision())))
    assert errors("result", payload) == []

    mutations()[name](payload)

    assert errors("result", payload) != []
    with pytest.raises(AssertionError, match=r"breaks result\.schema\.json"):
        validate("result", payload)


def test_given_a_pass_payload_with_reasons_when_validated_then_the_schema_refuses_it() -> None:
    payload = result_payload(result(pass_decision()))
    payload["reasons"] = ["3 defects > max 0"]

    assert errors("result", payload) != []


# ------------------------------------------------------------------------------------------- status


def test_given_the_daemon_online_when_built_then_the_status_validates() -> None:
    payload = status_payload(
        "online", station="line-3", version="0.1.0", at=CAPTURED_AT, session=1741944413589, sequence=2
    )

    assert payload == {
        "schema_version": 2,
        "state": "online",
        "station": "line-3",
        "camera": None,
        "timestamp": "2025-03-14T09:26:53.589Z",
        "session": 1741944413589,
        "sequence": 2,
        "version": "0.1.0",
        "reason": None,
    }
    validate("status", encode(payload))


@pytest.mark.parametrize("state", ["starting", "online", "reconnecting", "offline", "ended"])
def test_given_a_camera_state_when_built_then_the_status_validates(state: str) -> None:
    payload = status_payload(state, station="line-3", camera="cam-top", reason="link down")

    validate("status", encode(payload))
    assert payload["camera"] == "cam-top"


def test_given_no_time_when_a_status_is_built_then_it_is_stamped_now() -> None:
    before = datetime.now(timezone.utc).replace(microsecond=0)

    stamp = status_payload("offline", station="line-3")["timestamp"]

    assert datetime.fromisoformat(stamp.replace("Z", "+00:00")) >= before


@pytest.mark.parametrize("field", ["session", "sequence"])
def test_given_a_status_without_its_order_when_validated_then_the_schema_refuses_it(field: str) -> None:
    payload = status_payload("online", station="line-3", at=CAPTURED_AT)
    del payload[field]

    assert errors("status", payload) != []


def test_given_a_camera_state_for_the_daemon_when_built_then_publish_error() -> None:
    with pytest.raises(PublishError, match=r"'reconnecting' is not a state of the daemon"):
        status_payload("reconnecting", station="line-3")


@pytest.mark.parametrize(
    "change",
    [
        {"state": "reconnecting"},  # a daemon (camera null) is only online / offline
        {"state": "asleep", "camera": "cam-top"},
        {"station": "line/3"},
        {"extra": True},
        {"version": None},
        {"session": -1},
        {"sequence": 1.5},
        {"schema_version": 1},
    ],
)
def test_given_a_mutated_status_when_validated_then_the_schema_refuses_it(change: dict[str, Any]) -> None:
    payload = {**status_payload("online", station="line-3", at=CAPTURED_AT), **change}

    assert errors("status", payload) != []


# -------------------------------------------------------------------------------------------- stats


def runtime_snapshot() -> dict[str, Any]:
    """A snapshot from the runtime's own Stats, fed the way the pipeline feeds it."""
    stats = Stats()
    for verdict in (Verdict.PASS, Verdict.PASS, Verdict.NG, Verdict.ERROR):
        stats.verdict(verdict)
        stats.latency("total", 12.3456)
        stats.latency("infer", 7.0)
    stats.count("errors")
    stats.count("dropped.frames", 3)
    stats.count("grabbed", 7)
    stats.count("sink_errors.mqtt")
    stats.gauges["queue.frames"] = lambda: 2
    stats.gauges["queue.results"] = lambda: 0
    stats.gauges["mqtt.pending"] = lambda: 5
    return stats.snapshot()


def test_given_a_runtime_snapshot_when_shaped_then_the_stats_validate_and_keep_every_counter() -> None:
    payload = stats_payload(runtime_snapshot(), station="line-3", camera="cam-top", camera_state="online")

    validate("stats", encode(payload))
    assert payload["frames"] == 4
    assert payload["verdicts"] == {"PASS": 2, "NG": 1, "ERROR": 1}
    assert (payload["drops"], payload["errors"]) == (3, 1)
    assert payload["queues"] == {"frames": 2, "results": 0}
    assert payload["latency_ms"]["total"] == {"p50": 12.346, "p99": 12.346}
    assert payload["latency_ms"]["infer"] == {"p50": 7.0, "p99": 7.0}
    assert payload["counters"] == {"grabbed": 7, "sink_errors.mqtt": 1}
    assert payload["gauges"] == {"mqtt.pending": 5.0}
    assert payload["camera_state"] == "online"
    assert payload["uptime_s"] >= 0


def test_given_an_empty_snapshot_when_shaped_then_zeros_validate() -> None:
    payload = stats_payload({}, station="line-3", camera="cam-top", at=CAPTURED_AT)

    validate("stats", encode(payload))
    assert payload["frames"] == 0
    assert payload["verdicts"] == {"PASS": 0, "NG": 0, "ERROR": 0}
    assert payload["latency_ms"] == {}
    assert payload["camera_state"] is None


@pytest.mark.parametrize(
    ("snapshot", "words"),
    [
        ({"frames": 3}, r"unknown keys \['frames'\]"),
        ({"counters": {"frames": -1}}, r"counters\.frames must be a count"),
        ({"counters": {"frames": 1.5}}, r"counters\.frames must be a count"),
        ({"counters": {"verdict.MAYBE": 1}}, r"\['verdict\.MAYBE'\] name no verdict"),
        ({"fps": "fast"}, r"fps must be a number"),
    ],
)
def test_given_a_malformed_snapshot_when_shaped_then_publish_error_names_the_key(
    snapshot: dict[str, Any], words: str
) -> None:
    with pytest.raises(PublishError, match=words):
        stats_payload(snapshot, station="line-3", camera="cam-top")


def test_given_an_unknown_camera_state_when_shaped_then_publish_error() -> None:
    with pytest.raises(PublishError, match="camera_state 'asleep'"):
        stats_payload({}, station="line-3", camera="cam-top", camera_state="asleep")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.pop("frames"),
        lambda p: p["verdicts"].pop("NG"),
        lambda p: p["verdicts"].update(MAYBE=1),
        lambda p: p.update(drops=-1),
        lambda p: p["latency_ms"]["total"].update(p90=1.0),
        lambda p: p["queues"].update(frames=1.5),
        lambda p: p.update(camera_state="asleep"),
        lambda p: p.update(host="plc-7"),
    ],
)
def test_given_a_mutated_stats_payload_when_validated_then_the_schema_refuses_it(mutate: Any) -> None:
    payload = copy.deepcopy(stats_payload(runtime_snapshot(), station="line-3", camera="cam-top"))
    assert errors("stats", payload) == []

    mutate(payload)

    assert errors("stats", payload) != []


def _part(verdict: Verdict, frames: tuple[InspectionResult, ...]) -> PartResult:
    return PartResult(
        seq=7,
        part_id="P-0007",
        verdict=verdict,
        reasons=("camera side shot 1: NG (1 defects > max 0)",) if verdict is Verdict.NG else (),
        triggered_at=1_700_000_000.0,
        decided_at=1_700_000_000.25,
        latency_ms=250.0,
        frames=frames,
        expected={"top": 1, "side": 1},
        meta={"tray": 4},
        duplicate=False,
        model=frames[0].model,
        recipe_hash="0123abcd",
    )


def test_given_a_part_when_built_then_it_validates_and_names_each_frame() -> None:
    top = dataclasses.replace(results.result(Verdict.PASS, camera="top"), part=PartTag(7, "P-0007"))
    side = dataclasses.replace(
        results.result(Verdict.NG, camera="side", defects=(results.defect(),)), part=PartTag(7, "P-0007")
    )

    payload = part_payload(_part(Verdict.NG, (top, side)), station="line-1")

    validate("part", encode(payload))
    assert payload["verdict"] == "NG"
    assert [(f["camera"], f["result_id"], f["verdict"]) for f in payload["frames"]] == [
        ("top", top.result_id, "PASS"),
        ("side", side.result_id, "NG"),
    ]
    assert len(payload["frames"][1]["defects"]) == 1
    assert payload["meta"] == {"tray": 4}
    assert payload["decided_at"] == "2023-11-14T22:13:20.250Z"
    # and each frame result carries the part's id
    assert result_payload(side)["part_id"] == "P-0007"
    assert result_payload(results.result(Verdict.PASS))["part_id"] is None


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p: p.update(verdict="OK"),
        lambda p: p.pop("part_id"),
        lambda p: p.update(part_id=""),
        lambda p: p["frames"][0].pop("result_id"),
        lambda p: p.update(extra=1),
        lambda p: p.update(expected={"top": 0}),
        lambda p: p.pop("late"),
        lambda p: p.update(late="yes"),
    ],
)
def test_given_a_mutated_part_payload_when_validated_then_the_schema_refuses_it(mutate: Any) -> None:
    top = dataclasses.replace(results.result(Verdict.PASS, camera="top"), part=PartTag(7, "P-0007"))
    payload = part_payload(_part(Verdict.PASS, (top,)), station="line-1")
    mutate(payload)
    assert errors("part", payload)


def test_given_a_part_the_plc_was_answered_timeout_for_then_it_is_marked_late() -> None:
    top = dataclasses.replace(results.result(Verdict.PASS, camera="top"), part=PartTag(7, "P-0007"))
    on_time = part_payload(_part(Verdict.PASS, (top,)), station="line-1")
    late = part_payload(dataclasses.replace(_part(Verdict.PASS, (top,)), late=True), station="line-1")
    validate("part", encode(late))
    assert (on_time["late"], late["late"]) == (False, True)


def test_given_the_plc_link_state_then_it_validates() -> None:
    payload = plc_payload(True, station="line-1", at=1_700_000_000.0)
    validate("plc", encode(payload))
    assert payload["connected"] is True
    assert errors("plc", {**payload, "connected": 1})
