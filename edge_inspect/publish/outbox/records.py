"""The outbox's records: a stored result, what a store did, and the bounds it keeps.

Plain frozen data shared by the outbox, its sender and the publisher, kept apart from the SQLite code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from edge_inspect.errors import PublishError
from edge_inspect.publish.payload import encode

FullPolicy = Literal["drop_oldest", "reject_new"]


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One stored result. ``replayed``: it may have been delivered before (an earlier run stored it, or
    it is sent again after a lost connection)."""

    row_id: int
    key: str
    topic: str
    payload: bytes
    stored_at: float
    replayed: bool


@dataclass(frozen=True, slots=True)
class PutResult:
    """What :meth:`Outbox.put` did: ``stored`` or not (``reject_new``), and which keys it evicted."""

    stored: bool
    evicted: tuple[str, ...] = ()
    reason: str | None = None
    """Why the new result was not stored, or why others were evicted; None when no bound was hit."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The outbox's bounds and the policy applied when a new result would exceed one."""

    max_rows: int
    max_bytes: int
    max_age_s: float | None
    when_full: FullPolicy

    def over(self, rows: int, size: int) -> str | None:
        """Which bound ``rows`` results of ``size`` payload bytes break, or None."""
        if rows > self.max_rows:
            return f"max_rows {self.max_rows} reached"
        if size > self.max_bytes:
            return f"max_bytes {self.max_bytes} reached"
        return None


RESENT_KEY = "resent"
"""The flag a re-sent result carries (result schema 2); schema 1 called it ``replayed``."""
_V1_RESENT_KEY = "replayed"


def replayed_payload(payload: bytes) -> bytes:
    """The stored JSON with ``"resent": true`` (``"replayed": true`` in a schema-1 result an older daemon
    stored); anything else (not a JSON object) is sent unchanged."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return payload
    if not isinstance(data, dict):
        return payload
    key = _V1_RESENT_KEY if data.get("schema_version") == 1 else RESENT_KEY
    if data.get(key) is True:
        return payload
    data[key] = True
    try:
        return encode(data)
    except PublishError:
        return payload


def leading(rows: Sequence[Any], keep: Callable[[Any], bool]) -> list[Any]:
    """The rows at the start of ``rows`` for which ``keep`` holds, up to the first for which it does not."""
    taken = []
    for row in rows:
        if not keep(row):
            break
        taken.append(row)
    return taken


def entry(row: Sequence[Any], run: int) -> OutboxEntry:
    row_id, key, topic, payload, stored_at, row_run = row
    return OutboxEntry(
        int(row_id), str(key), str(topic), bytes(payload), float(stored_at), int(row_run) < run
    )
