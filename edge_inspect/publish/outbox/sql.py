"""The outbox's SQLite plumbing: schema, connection set-up, transactions, and the statements it runs.

Kept apart from :mod:`edge_inspect.publish.outbox` so that the outbox reads as policy (bounds, runs,
acknowledgements) and this module as storage. Every function here runs inside the caller's lock.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

SCHEMA_VERSION = 1
Sync = Literal["normal", "full"]

MAX_ID = 2**63 - 1
"""SQLite's largest rowid."""
WAITING = "acked_at IS NULL"
"""Rows not yet acknowledged: the only ones that count towards depth and bounds."""
COLUMNS = "id, result_id, topic, payload, stored_at, run"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    result_id TEXT    NOT NULL,
    topic     TEXT    NOT NULL,
    payload   BLOB    NOT NULL,
    stored_at REAL    NOT NULL,
    run       INTEGER NOT NULL,
    acked_at  REAL
);
CREATE INDEX IF NOT EXISTS outbox_acked ON outbox (acked_at) WHERE acked_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
_CHECKPOINT_PAGES = 256
_WAL_LIMIT_BYTES = 4 << 20
_CHUNK = 500
"""Ids per statement: well under SQLite's limit on bound parameters."""


def connect(path: Path, sync: Sync, max_page_count: int | None) -> sqlite3.Connection:
    """Open (creating) the outbox file in WAL mode; ``max_page_count`` caps its size (SQLITE_FULL)."""
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    try:
        mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            msg = f"journal_mode WAL not available (got {mode})"
            raise sqlite3.OperationalError(msg)
        db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
        # checkpoint every ~1 MiB of log and cut the log back to 4 MiB afterwards: a small, steady footprint,
        # so that the outbox keeps working on a nearly full disk (SQLite's default lets the log reach 4 MiB
        # before the first checkpoint, and never shrinks it)
        db.execute(f"PRAGMA wal_autocheckpoint={_CHECKPOINT_PAGES}")
        db.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
        if max_page_count is not None:
            db.execute(f"PRAGMA max_page_count={int(max_page_count)}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            msg = f"schema version {version}, this daemon knows {SCHEMA_VERSION}"
            raise sqlite3.DatabaseError(msg)
        if version == 0:  # a new file; an existing one is not written to here (it may be on a full disk)
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except sqlite3.Error:
        db.close()
        raise
    return db


def connect_read_only(path: Path) -> sqlite3.Connection:
    """Open the file for reading only (a full disk): through its WAL when SQLite can, else as it is on
    disk (``immutable``: what a crash left in the WAL is then read at the next writable open)."""
    last: sqlite3.Error | None = None
    for query in ("mode=ro", "mode=ro&immutable=1"):
        uri = f"{Path(path).absolute().as_uri()}?{query}"
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10.0)
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:
                msg = f"schema version {version}, this daemon knows {SCHEMA_VERSION}"
                raise sqlite3.DatabaseError(msg)
            db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        except sqlite3.Error as exc:
            db.close()
            last = exc
            continue
        return db
    assert last is not None
    raise last


def last_run(db: sqlite3.Connection) -> int:
    """The number of the latest run recorded in the file."""
    row = db.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()
    return int(row[0]) if row else 0


def lock_exclusively(path: Path) -> int | str:
    """Take ``<path>.lock`` for this process: the open descriptor, or (when another process holds it) a
    sentence saying who. The kernel releases it when the process ends, however it ends."""
    lock_path = path.with_name(path.name + ".lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        return f"in use by another process (pid {holder})"
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def next_run(db: sqlite3.Connection) -> tuple[int, bool]:
    """Count this open as a new run (rows of earlier runs are replays) and mark the file open.

    Returns (run, whether the previous run ended without :func:`mark_closed`: a crash, SIGKILL or
    power loss)."""
    with Transaction(db):
        run = last_run(db) + 1
        held = db.execute("SELECT value FROM meta WHERE key = 'open'").fetchone()
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('run', ?)", (run,))
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('open', 1)")
    return run, bool(held and int(held[0]))


def mark_closed(db: sqlite3.Connection) -> None:
    """This run ends cleanly (the next open will not treat it as a crash)."""
    with Transaction(db):
        db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('open', 0)")


def newest_ack(db: sqlite3.Connection) -> float | None:
    """The latest ``acked_at`` among kept rows, or None."""
    row = db.execute("SELECT MAX(acked_at) FROM outbox").fetchone()
    return float(row[0]) if row and row[0] is not None else None


def waiting_totals(db: sqlite3.Connection) -> tuple[int, int]:
    """(rows, payload bytes) waiting for a PUBACK."""
    rows, size = db.execute(
        f"SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox WHERE {WAITING}"  # noqa: S608 (constants)
    ).fetchone()
    return int(rows), int(size)


def oldest_waiting(db: sqlite3.Connection, limit: int) -> list[Any]:
    """(id, result_id, stored_at, payload length) of the ``limit`` oldest waiting rows."""
    return db.execute(
        f"SELECT id, result_id, stored_at, LENGTH(payload) FROM outbox WHERE {WAITING} ORDER BY id LIMIT ?",  # noqa: S608 (constants)
        (limit,),
    ).fetchall()


def delete_ids(db: sqlite3.Connection, ids: Sequence[int], *, waiting_only: bool = False) -> list[int]:
    """DELETE rows by id; the payload lengths of those deleted."""
    where = f" AND {WAITING}" if waiting_only else ""
    template = "DELETE FROM outbox WHERE id IN ({marks})" + where + " RETURNING LENGTH(payload)"  # noqa: S608 (constants and '?' marks)
    return _by_ids(db, template, ids)


def mark_acked(db: sqlite3.Connection, ids: Sequence[int], now: float) -> list[int]:
    """Set ``acked_at`` on the waiting rows among ``ids`` (a kept row keeps its first time); the payload
    lengths of those marked."""
    template = f"UPDATE outbox SET acked_at = ? WHERE id IN ({{marks}}) AND {WAITING}"  # noqa: S608 (constants and '?' marks)
    return _by_ids(db, template + " RETURNING LENGTH(payload)", ids, (now,))


def _by_ids(
    db: sqlite3.Connection, template: str, ids: Sequence[int], leading: Sequence[Any] = ()
) -> list[int]:
    """Run ``template`` (with ``{marks}`` for the id placeholders) over ``ids`` in chunks."""
    lengths: list[int] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = [int(i) for i in ids[start : start + _CHUNK]]
        sql = template.format(marks=",".join("?" * len(chunk)))
        rows = db.execute(sql, [*leading, *chunk]).fetchall()
        lengths += [int(r[0]) for r in rows]
    return lengths


class Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` when the block (or the commit) fails."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *_rest: object) -> None:
        if exc_type is None:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error:
                self._rollback()
                raise
        else:
            self._rollback()

    def _rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")
