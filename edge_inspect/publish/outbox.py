"""The durable outbox: results on disk (SQLite, WAL mode) from inspection until the broker's PUBACK.

Why SQLite: one file, atomic commits, crash-safe without a server, and in the standard library. A row
is committed before its frame counts as done, so a result that was inspected is either on the broker
or in this file, whatever happens to the daemon or the broker afterwards.

Durability (``synchronous``): in WAL mode, ``normal`` writes each commit to the WAL without fsync, so
a commit survives a crash or SIGKILL of the process (the data is in the OS page cache) but a power loss
may lose the last commits; ``full`` fsyncs every commit and also survives a power loss.

Rows keep their insertion order (``AUTOINCREMENT``: ids never go back, even when the table empties, so
a sender can read "everything after id N"). Each open starts a new *run*; a row stored by an earlier
run is a replay when it is sent. Bounds on rows, payload bytes and age are enforced here; what gives
when one is hit is the named ``when_full`` policy, and every result given up is reported to the caller.

One connection, used under a lock by the pipeline's publishing thread (``put``) and the sender thread
(``peek`` / ``delete`` / ``expire``): every operation is a short transaction, so the lock is never held
for long, and SQLite's own locking never has two writers to arbitrate.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from edge_inspect.config.outbox import OutboxConfig
from edge_inspect.errors import PublishError

SCHEMA_VERSION = 1
FullPolicy = Literal["drop_oldest", "reject_new"]
Sync = Literal["normal", "full"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    result_id TEXT    NOT NULL,
    topic     TEXT    NOT NULL,
    payload   BLOB    NOT NULL,
    stored_at REAL    NOT NULL,
    run       INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""
_EVICT_BATCH = 256


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One stored result. ``replayed``: stored by an earlier run of the daemon (a crash, or a restart)."""

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


class Outbox:
    """Results waiting for their PUBACK, in order, in one SQLite file.

    Raises :class:`PublishError` (naming the file and SQLite's message) when the file cannot be opened,
    or when a write fails (``database or disk is full``, an I/O error): the caller decides what to do
    with a result that could not be stored; the outbox itself stays usable afterwards.
    """

    def __init__(
        self,
        path: Path,
        limits: Limits,
        *,
        sync: Sync = "normal",
        clock: Callable[[], float] = time.time,
        max_page_count: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.limits = limits
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        except (OSError, sqlite3.Error) as exc:
            msg = f"outbox {self.path}: cannot open: {exc}"
            raise PublishError(msg) from exc
        try:
            self._setup(sync, max_page_count)
            self.run = self._next_run()
            rows, size = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(payload)), 0) FROM outbox"
            ).fetchone()
        except sqlite3.Error as exc:
            self._db.close()
            msg = f"outbox {self.path}: not a usable outbox database: {exc}"
            raise PublishError(msg) from exc
        self._rows = int(rows)
        self._bytes = int(size)
        self.replay_rows = self._rows
        """Rows left by earlier runs when this one opened: they are re-sent, marked replayed."""

    def _setup(self, sync: Sync, max_page_count: int | None) -> None:
        mode = self._db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            msg = f"journal_mode WAL not available (got {mode})"
            raise sqlite3.OperationalError(msg)
        self._db.execute(f"PRAGMA synchronous={'FULL' if sync == 'full' else 'NORMAL'}")
        if max_page_count is not None:
            # a hard size cap: SQLite then fails writes with SQLITE_FULL, as on a full disk
            self._db.execute(f"PRAGMA max_page_count={int(max_page_count)}")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            msg = f"schema version {version}, this daemon knows {SCHEMA_VERSION}"
            raise sqlite3.DatabaseError(msg)
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _next_run(self) -> int:
        with self._transaction():
            row = self._db.execute("SELECT value FROM meta WHERE key = 'run'").fetchone()
            run = (int(row[0]) if row else 0) + 1
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('run', ?)", (run,))
        return run

    # ------------------------------------------------------------------------------------------ writes

    def put(self, key: str, topic: str, payload: bytes) -> PutResult:
        """Commit one result; on return it survives a crash. Applies ``when_full`` when a bound is hit."""
        size = len(payload)
        with self._lock:
            if size > self.limits.max_bytes:
                return PutResult(
                    False, (), f"payload of {size} bytes exceeds max_bytes {self.limits.max_bytes}"
                )
            reason = self.limits.over(self._rows + 1, self._bytes + size)
            if reason is not None and self.limits.when_full == "reject_new":
                return PutResult(False, (), reason)
            try:
                with self._transaction():
                    evicted, freed = self._evict_for(size) if reason is not None else ([], 0)
                    self._db.execute(
                        "INSERT INTO outbox (result_id, topic, payload, stored_at, run)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (key, topic, payload, self._clock(), self.run),
                    )
            except sqlite3.Error as exc:
                msg = f"outbox {self.path}: cannot store result {key}: {exc}"
                raise PublishError(msg) from exc
            self._rows += 1 - len(evicted)
            self._bytes += size - freed
            return PutResult(True, tuple(evicted), reason)

    def _evict_for(self, size: int) -> tuple[list[str], int]:
        """Delete the oldest rows until one more of ``size`` bytes fits (inside the caller's transaction)."""
        evicted: list[str] = []
        freed = 0
        while self.limits.over(self._rows - len(evicted) + 1, self._bytes - freed + size) is not None:
            oldest = self._db.execute(
                "SELECT id, result_id, LENGTH(payload) FROM outbox ORDER BY id LIMIT ?", (_EVICT_BATCH,)
            ).fetchall()
            if not oldest:
                break
            last = 0
            for row_id, key, length in oldest:
                evicted.append(key)
                freed += int(length)
                last = row_id
                if self.limits.over(self._rows - len(evicted) + 1, self._bytes - freed + size) is None:
                    break
            self._db.execute("DELETE FROM outbox WHERE id <= ?", (last,))
        return evicted, freed

    def delete(self, row_ids: Iterable[int]) -> int:
        """Delete acknowledged rows; returns how many were still there (an evicted row may be gone)."""
        ids = list(row_ids)
        if not ids:
            return 0
        with self._lock:
            deleted = 0
            freed = 0
            with self._transaction():
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    rows = self._db.execute(
                        f"DELETE FROM outbox WHERE id IN ({marks}) RETURNING LENGTH(payload)",  # noqa: S608 (only '?' marks)
                        chunk,
                    ).fetchall()
                    deleted += len(rows)
                    freed += sum(int(r[0]) for r in rows)
            self._rows -= deleted
            self._bytes -= freed
            return deleted

    def expire(self) -> list[str]:
        """Delete rows older than ``max_age_s``; returns their keys (the caller counts and alarms).

        Walks from the oldest row and stops at the first young one: rows are stored in time order, so
        this costs nothing while the oldest row is young (a wall-clock step back delays expiry, no more).
        """
        if self.limits.max_age_s is None:
            return []
        cutoff = self._clock() - self.limits.max_age_s
        expired: list[str] = []
        with self._lock, self._transaction():
            while True:
                rows = self._db.execute(
                    "SELECT id, result_id, stored_at, LENGTH(payload) FROM outbox ORDER BY id LIMIT ?",
                    (_EVICT_BATCH,),
                ).fetchall()
                old = _leading(rows, lambda row: float(row[2]) < cutoff)
                if not old:
                    break
                self._db.execute("DELETE FROM outbox WHERE id <= ?", (old[-1][0],))
                expired += [str(row[1]) for row in old]
                self._rows -= len(old)
                self._bytes -= sum(int(row[3]) for row in old)
                if len(old) < len(rows) or len(rows) < _EVICT_BATCH:
                    break
        return expired

    # ------------------------------------------------------------------------------------------- reads

    def peek(self, after: int, limit: int) -> list[OutboxEntry]:
        """Up to ``limit`` oldest rows with an id greater than ``after``, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, result_id, topic, payload, stored_at, run FROM outbox"
                " WHERE id > ? ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [_entry(row, self.run) for row in rows]

    def depth(self) -> int:
        """Results waiting (not yet acknowledged)."""
        with self._lock:
            return self._rows

    def size_bytes(self) -> int:
        """Payload bytes waiting."""
        with self._lock:
            return self._bytes

    def oldest_age_s(self) -> float:
        """Age of the oldest waiting result, seconds (0 when empty)."""
        with self._lock:
            row = self._db.execute("SELECT stored_at FROM outbox ORDER BY id LIMIT 1").fetchone()
        return max(0.0, self._clock() - float(row[0])) if row else 0.0

    def keys(self) -> list[str]:
        """Every waiting result_id, in order (tests and tools)."""
        with self._lock:
            return [str(r[0]) for r in self._db.execute("SELECT result_id FROM outbox ORDER BY id")]

    def full(self) -> bool:
        """True when one more result of average size would hit a bound."""
        with self._lock:
            average = self._bytes // self._rows if self._rows else 0
            return self.limits.over(self._rows + 1, self._bytes + average) is not None

    def pragma(self, name: str) -> Any:
        """The value of SQLite ``PRAGMA name`` on the outbox's connection (diagnostics, tests)."""
        if not name.isidentifier():
            msg = f"not a pragma name: {name!r}"
            raise ValueError(msg)
        with self._lock:
            return self._db.execute(f"PRAGMA {name}").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            # a checkpoint is housekeeping; the WAL is replayed at the next open anyway
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()

    # ----------------------------------------------------------------------------------------- helpers

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)


def open_outbox(config: OutboxConfig, state_dir: Path | None) -> Outbox | None:
    """The outbox a config asks for (None when it is off), opened; PublishError names a bad file."""
    path = config.resolved_path(state_dir)
    if path is None:
        return None
    limits = Limits(config.max_rows, config.max_bytes, config.max_age_s, config.when_full)
    return Outbox(path, limits, sync=config.sync)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` when the block raises."""

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


def _leading(rows: Sequence[Any], keep: Callable[[Any], bool]) -> list[Any]:
    """The rows at the start of ``rows`` for which ``keep`` holds, up to the first for which it does not."""
    taken = []
    for row in rows:
        if not keep(row):
            break
        taken.append(row)
    return taken


def _entry(row: Sequence[Any], run: int) -> OutboxEntry:
    row_id, key, topic, payload, stored_at, row_run = row
    return OutboxEntry(
        int(row_id), str(key), str(topic), bytes(payload), float(stored_at), int(row_run) < run
    )
