"""This start's session number: what orders a station's status messages across restarts.

A consumer keeping the newest status must not trust timestamps (the last will carries the time it was
registered, publish/payload.py), so every status message carries ``(session, sequence)``. The session
grows with every start: it is the wall clock in milliseconds, or one more than the previous start's when
that is larger (a clock stepped back, two starts in one millisecond), kept in the state folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

FILE_NAME = "session"
MAX_SESSION = 2**53 - 1
"""JSON consumers in JavaScript read integers exactly up to here."""


def next_session(state_dir: Path | None, *, now: float | None = None) -> int:
    """A number larger than any earlier start's with the same state folder; written there before use."""
    clock = int((time.time() if now is None else now) * 1000)
    if state_dir is None:
        return min(clock, MAX_SESSION)
    path = state_dir / FILE_NAME
    session = min(max(clock, _previous(path) + 1), MAX_SESSION)
    try:
        _write(path, session)
    except OSError as exc:
        # a status order that survives only the clock is still an order; the outbox reports the folder
        log.warning("session_not_stored", path=str(path), error=str(exc))
    return session


def _previous(path: Path) -> int:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return 0
    return int(text) if text.isdigit() and len(text) <= 16 else 0


def _write(path: Path, session: int) -> None:
    tmp = path.with_name(f".{FILE_NAME}.tmp")
    with tmp.open("w", encoding="ascii") as handle:
        handle.write(f"{session}\n")
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
