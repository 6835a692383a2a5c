"""What goes on the wire: results, daemon / camera status and stats as plain JSON-ready dicts, and bytes.

Pure functions, apart from reading the clock when a status or stats message is given no time. Each
message has a JSON Schema under ``edge_inspect/schemas/`` (draft 2020-12, no extra properties), which
the tests hold every payload to: a change here must change the schema, and ``schema_version`` with it
when subscribers would notice.

Numbers are rounded for people and MES databases, not for the decision: scores to 4 decimals,
milliseconds to 3, pixel centroids to 2. NaN and Inf are never sent: ``encode`` refuses them, naming the
field, because a JSON parser on the MES side would reject the whole message.
"""

from __future__ import annotations

import json
import math
import numbers
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from edge_inspect import __version__
from edge_inspect.errors import PublishError
from edge_inspect.parts.book import PartResult
from edge_inspect.types import (
    Decision,
    Defect,
    InspectionResult,
    ModelIdentity,
    SourceInfo,
    SourceState,
    Verdict,
)

SCHEMA_VERSION = 1
"""Stats and thumbnail messages."""
PART_SCHEMA_VERSION = 2
PLC_SCHEMA_VERSION = 1
"""Part messages."""
RESULT_SCHEMA_VERSION = 3
"""Result messages. 2: ``replayed`` became ``resent`` (it never meant "from a replay source"), and the
frame's ``width`` and ``height`` were added, so boxes can be normalised from the message alone.
3: ``part_id``, the part the frame was taken for."""
STATUS_SCHEMA_VERSION = 2
"""Status messages. 2: ``session`` and ``sequence`` give the order of a station's status messages."""
SCORE_DIGITS = 4
MS_DIGITS = 3
PIXEL_DIGITS = 2
THRESHOLD_DIGITS = 6
RATE_DIGITS = 3

DAEMON_STATES = ("online", "offline")
CAMERA_STATES = tuple(state.value for state in SourceState)

STATS_KEYS = ("uptime_s", "counters", "fps", "latency_ms", "gauges")
"""Top-level keys of a stats snapshot (``runtime.stats.Stats.snapshot``); every one is optional."""
_VERDICT_COUNTER = "verdict."
_DROP_COUNTER = "dropped."
_QUEUE_GAUGE = "queue."


def result_payload(result: InspectionResult) -> dict[str, Any]:
    """The message for one frame. An ERROR result must carry ``error``; any other, a decision."""
    _check_consistent(result)
    decision = result.decision
    return {
        "schema_version": RESULT_SCHEMA_VERSION,
        "result_id": result.result_id,
        "seq": int(result.seq),
        "station": result.station,
        "camera": result.camera,
        "timestamp": iso_timestamp(result.captured_at, field="captured_at"),
        "verdict": Verdict(result.verdict).value,
        "defects": _defects(decision),
        "score": _score(decision),
        "reasons": list(decision.reasons) if decision is not None else [],
        "source": _source(result.source),
        "frame": _frame(result.frame_size),
        "model": _model(result.model),
        "thresholds": {name: _round(v, THRESHOLD_DIGITS) for name, v in result.thresholds.items()},
        "recipe_hash": result.recipe_hash,
        "timings_ms": {stage: _round(ms, MS_DIGITS) for stage, ms in result.timings_ms.items()},
        "error": result.error,
        "image_path": result.image_path,
        "resent": bool(result.resent),
        "expected": None if result.expected is None else Verdict(result.expected).value,
        "part_id": None if result.part is None else result.part.part_id,
    }


def part_payload(part: PartResult, *, station: str) -> dict[str, Any]:
    """The message for one part: its verdict, why, and a line per frame it was decided from."""
    return {
        "schema_version": PART_SCHEMA_VERSION,
        "part_id": part.part_id,
        "seq": int(part.seq),
        "station": station,
        "verdict": Verdict(part.verdict).value,
        "reasons": list(part.reasons),
        "triggered_at": iso_timestamp(part.triggered_at, field="triggered_at"),
        "decided_at": iso_timestamp(part.decided_at, field="decided_at"),
        "latency_ms": _round(part.latency_ms, MS_DIGITS),
        "expected": {camera: int(shots) for camera, shots in part.expected.items()},
        "frames": [
            {
                "camera": frame.camera,
                "shot": frame.part.shot if frame.part is not None else 1,
                "result_id": frame.result_id,
                "verdict": Verdict(frame.verdict).value,
                "defects": _defects(frame.decision),
                "error": frame.error,
            }
            for frame in part.frames
        ],
        "model": _model(part.model),
        "recipe": {"name": None, "hash": part.recipe_hash},
        "duplicate": bool(part.duplicate),
        "late": bool(part.late),
        "meta": dict(part.meta),
    }


def plc_payload(connected: bool, *, station: str, at: float | None = None) -> dict[str, Any]:
    """The PLC link's state (retained on ``{prefix}/{station}/plc``): is a PLC connected."""
    return {
        "schema_version": PLC_SCHEMA_VERSION,
        "station": station,
        "connected": bool(connected),
        "timestamp": iso_timestamp(time.time() if at is None else at, field="at"),
    }


def _model(model: ModelIdentity) -> dict[str, str]:
    return {"name": model.name, "version": model.version, "sha256": model.sha256, "variant": model.variant}


def _defects(decision: Decision | None) -> list[dict[str, Any]]:
    return [_defect(d) for d in decision.defects] if decision is not None else []


def status_payload(
    state: str,
    *,
    station: str,
    version: str = __version__,
    reason: str | None = None,
    camera: str | None = None,
    at: float | None = None,
    session: int = 0,
    sequence: int = 0,
) -> dict[str, Any]:
    """The daemon's state (``camera`` None: online / offline) or a camera's (a ``SourceState`` value).

    The daemon's ``offline`` doubles as the MQTT last will, built at connect time: its timestamp is
    then when the will was registered, not when the connection was lost. So order status messages by
    ``(session, sequence)``, never by timestamp: ``session`` grows with every start of the daemon, and
    within one, on the daemon's topic, connection ``n`` is ``online`` at ``sequence`` 2n and its last will
    (or the ``offline`` of a clean stop) at 2n+1: the will of a connection that died orders after that
    connection's ``online`` and before the next one's.
    """
    allowed = DAEMON_STATES if camera is None else CAMERA_STATES
    if state not in allowed:
        whose = "the daemon" if camera is None else f"camera {camera!r}"
        msg = f"status state {state!r} is not a state of {whose}; expected one of {list(allowed)}"
        raise PublishError(msg)
    return {
        "schema_version": STATUS_SCHEMA_VERSION,
        "state": state,
        "station": station,
        "camera": camera,
        "timestamp": iso_timestamp(time.time() if at is None else at, field="at"),
        "session": _count(session, "session"),
        "sequence": _count(sequence, "sequence"),
        "version": version,
        "reason": reason,
    }


def stats_payload(
    snapshot: Mapping[str, Any],
    *,
    station: str,
    camera: str,
    camera_state: str | None = None,
    at: float | None = None,
) -> dict[str, Any]:
    """Shape a stats snapshot (keys ``STATS_KEYS``, all optional) into the stats message.

    Counters named ``verdict.<V>`` become ``verdicts``, ``dropped.*`` add up to ``drops``, ``errors`` is
    the frame-error count, gauges named ``queue.<name>`` become ``queues``; every other counter and gauge
    is kept under ``counters`` / ``gauges`` so that nothing the runtime counts is lost on the way.
    """
    unknown = sorted(set(snapshot) - set(STATS_KEYS))
    if unknown:
        msg = f"stats snapshot has unknown keys {unknown}; expected some of {list(STATS_KEYS)}"
        raise PublishError(msg)
    if camera_state is not None and camera_state not in CAMERA_STATES:
        msg = f"stats camera_state {camera_state!r} is not one of {list(CAMERA_STATES)}"
        raise PublishError(msg)
    counters = {str(k): _count(v, f"counters.{k}") for k, v in snapshot.get("counters", {}).items()}
    gauges = {str(k): _number(v, f"gauges.{k}") for k, v in snapshot.get("gauges", {}).items()}
    verdicts = {v.value: counters.pop(_VERDICT_COUNTER + v.value, 0) for v in Verdict}
    strays = sorted(k for k in counters if k.startswith(_VERDICT_COUNTER))
    if strays:
        expected = [_VERDICT_COUNTER + v.value for v in Verdict]
        msg = f"stats counters {strays} name no verdict; expected some of {expected}"
        raise PublishError(msg)
    drops = sum(counters.pop(k) for k in [k for k in counters if k.startswith(_DROP_COUNTER)])
    queues = {
        name.removeprefix(_QUEUE_GAUGE): int(gauges.pop(name))
        for name in [k for k in gauges if k.startswith(_QUEUE_GAUGE)]
    }
    return {
        "schema_version": SCHEMA_VERSION,
        "station": station,
        "camera": camera,
        "timestamp": iso_timestamp(time.time() if at is None else at, field="at"),
        "uptime_s": _round(_number(snapshot.get("uptime_s", 0.0), "uptime_s"), MS_DIGITS),
        "frames": counters.pop("frames", 0),
        "verdicts": verdicts,
        "drops": drops,
        "errors": counters.pop("errors", 0),
        "fps": _round(_number(snapshot.get("fps", 0.0), "fps"), RATE_DIGITS),
        "latency_ms": _latencies(snapshot.get("latency_ms", {})),
        "queues": queues,
        "camera_state": camera_state,
        "counters": counters,
        "gauges": {name: _round(value, RATE_DIGITS) for name, value in gauges.items()},
    }


def encode(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON. Raises PublishError naming any NaN / Inf field or non-JSON value."""
    try:
        text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        # only now walk the payload (it costs a pass per message otherwise) to name the bad fields
        bad = list(_non_finite(payload, ""))
        if bad:
            msg = f"payload has non-finite numbers, which JSON cannot carry: {', '.join(bad)}"
            raise PublishError(msg) from exc
        msg = f"payload is not plain JSON data: {exc}"
        raise PublishError(msg) from exc
    return text.encode("utf-8")


def iso_timestamp(epoch_s: float, *, field: str = "timestamp") -> str:
    """UTC ISO 8601 with milliseconds and a ``Z``: ``2025-01-31T08:15:02.123Z`` (truncated, not rounded)."""
    try:
        moment = datetime.fromtimestamp(epoch_s, tz=timezone.utc)
    except (ValueError, OverflowError, OSError) as exc:
        msg = f"{field} {epoch_s!r} is not a valid time: {exc}"
        raise PublishError(msg) from exc
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ------------------------------------------------------------------------------------------------ helpers


def _check_consistent(result: InspectionResult) -> None:
    if result.verdict is Verdict.ERROR and not result.error:
        msg = f"result {result.result_id} (seq {result.seq}) is ERROR but carries no error text"
        raise PublishError(msg)
    if result.verdict is not Verdict.ERROR and result.error is not None:
        msg = f"result {result.result_id} (seq {result.seq}) is {result.verdict.value} but carries an error"
        raise PublishError(msg)
    if result.verdict is not Verdict.ERROR and result.decision is None:
        msg = f"result {result.result_id} (seq {result.seq}) is {result.verdict.value} without a decision"
        raise PublishError(msg)


def _defect(defect: Defect) -> dict[str, Any]:
    x, y, w, h = defect.bbox
    cx, cy = defect.centroid
    return {
        "class": defect.class_name,
        "area_px": int(defect.area_px),
        "bbox": {"x": int(x), "y": int(y), "w": int(w), "h": int(h)},
        "centroid": {"x": _round(cx, PIXEL_DIGITS), "y": _round(cy, PIXEL_DIGITS)},
        "max_score": _round(defect.max_score, SCORE_DIGITS),
        "mean_score": _round(defect.mean_score, SCORE_DIGITS),
    }


def _frame(size: tuple[int, int] | None) -> dict[str, int] | None:
    """The frame's size in pixels (what bbox and centroid are in); None for a frame without pixels."""
    if size is None:
        return None
    return {"width": _count(size[0], "frame.width"), "height": _count(size[1], "frame.height")}


def _score(decision: Decision | None) -> float | None:
    if decision is None or decision.score is None:
        return None
    return _round(decision.score, SCORE_DIGITS)


def _source(source: SourceInfo) -> dict[str, Any]:
    return {
        "kind": source.kind,
        "path": source.path,
        "index": None if source.index is None else int(source.index),
        "device": source.device,
    }


def _latencies(latency: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    return {
        str(stage): {
            "p50": _round(_number(values["p50"], f"latency_ms.{stage}.p50"), MS_DIGITS),
            "p99": _round(_number(values["p99"], f"latency_ms.{stage}.p99"), MS_DIGITS),
        }
        for stage, values in latency.items()
    }


def _round(value: float, digits: int) -> float:
    """A plain Python float (numpy scalars are not JSON), rounded; NaN and Inf pass through to ``encode``."""
    return round(float(value), digits)


def _count(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        msg = f"stats {field} must be a count (an int >= 0), got {value!r}"
        raise PublishError(msg)
    return int(value)


def _number(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        msg = f"stats {field} must be a number, got {value!r}"
        raise PublishError(msg)
    return float(value)


def _non_finite(value: object, path: str) -> list[str]:
    """Dotted paths of every NaN / Inf float inside ``value``."""
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{path or '<root>'}={value}"]
    if isinstance(value, Mapping):
        return [bad for k, v in value.items() for bad in _non_finite(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list | tuple):
        return [bad for i, v in enumerate(value) for bad in _non_finite(v, f"{path}[{i}]")]
    return []
