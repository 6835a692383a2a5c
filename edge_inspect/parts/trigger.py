"""What a trigger message says: ``{"part_id": "P-0001", "meta": {...}}``, both optional.

An empty payload is a trigger without an id (the station numbers it). A payload that is not such an
object is refused with a reason naming what is wrong: the part still gets an ERROR verdict (a part
was there, and nobody may assume it passed).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge_inspect.errors import TriggerError

MAX_PAYLOAD_BYTES = 16 * 1024
MAX_PART_ID = 128
MAX_META_BYTES = 4 * 1024
_KEYS = frozenset({"part_id", "meta"})


@dataclass(frozen=True)
class Trigger:
    """One part trigger: its id (None: numbered by the station) and what is carried to its results."""

    part_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


def parse_trigger(payload: bytes) -> Trigger:
    """The trigger a message carries; raises :class:`TriggerError` saying what is wrong with it."""
    if not payload.strip():
        return Trigger()
    if len(payload) > MAX_PAYLOAD_BYTES:
        msg = f"trigger message of {len(payload)} bytes; at most {MAX_PAYLOAD_BYTES}"
        raise TriggerError(msg)
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        msg = f"trigger message is not JSON: {exc}"
        raise TriggerError(msg) from None
    if not isinstance(data, dict):
        msg = f'trigger message is a JSON {type(data).__name__}; expected an object like {{"part_id": "P-1"}}'
        raise TriggerError(msg)
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        msg = f"trigger message has unknown keys {unknown}; expected part_id and meta"
        raise TriggerError(msg)
    part_id = data.get("part_id")
    if part_id is not None:
        part_id = check_part_id(part_id)
    meta = data.get("meta", {})
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        msg = f"trigger meta is a JSON {type(meta).__name__}; expected an object"
        raise TriggerError(msg)
    if len(json.dumps(meta)) > MAX_META_BYTES:
        msg = f"trigger meta is larger than {MAX_META_BYTES} bytes as JSON"
        raise TriggerError(msg)
    return Trigger(part_id, meta)


def check_part_id(part_id: object) -> str:
    """A part id as the station publishes it: 1-128 printable characters."""
    if not isinstance(part_id, str):
        msg = f"part_id is a {type(part_id).__name__}; expected a string"
        raise TriggerError(msg)
    if not 1 <= len(part_id) <= MAX_PART_ID:
        msg = f"part_id has {len(part_id)} characters; expected 1 to {MAX_PART_ID}"
        raise TriggerError(msg)
    if not part_id.isprintable():
        msg = f"part_id {part_id!r} holds control characters"
        raise TriggerError(msg)
    return part_id
