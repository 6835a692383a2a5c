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

A PUBACK does not always mean "safe": a broker that persists periodically (mosquitto's
``autosave_interval``) loses what it acknowledged since its last save when it is killed. So an
acknowledged row may be *kept* for a while (``ack(keep=True)``) and sent again if the connection drops
within that time (:meth:`Outbox.acked_since`); :meth:`Outbox.purge_acked` deletes it afterwards. Only
waiting rows count towards depth and bounds.

A full disk (see publish/reserve.py): the outbox keeps a 1 MiB reserve file beside the database and
frees it when a write fails for lack of space, so what the broker acknowledged can still be settled and a
restart can still open the file. When even that is not enough at start, the database is opened
*read-only*: its waiting rows are sent (drained), new results cannot be stored (the publisher sends them
directly, counted), and the sender calls :meth:`Outbox.recover` every second, which reopens it for
writing once the disk has room, settles what was acknowledged meanwhile and makes the reserve again.

One connection, used under a lock by the pipeline's deciding thread (``put``) and the sender thread
(``peek`` / ``ack`` / ``expire``): every operation is a short transaction, so the lock is never held
for long, and SQLite's own locking never has two writers to arbitrate.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import structlog

from edge_inspect.config.outbox import OutboxConfig
from edge_inspect.errors import PublishError
from edge_inspect.publish.outbox import sql as sql
from edge_inspect.publish.outbox.records import Limits, OutboxEntry, PutResult, entry, leading
from edge_inspect.publish.outbox.sql import COLUMNS, WAITING, Sync, Transaction
from edge_inspect.publish.reserve import Reserve, is_disk_full

__all__ = ["Limits", "Outbox", "OutboxEntry", "PutResult", "open_outbox"]

log = structlog.get_logger(__name__)

_BATCH = 256
_T = TypeVar("_T")


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
            held = sql.lock_exclusively(self.path)
        except OSError as exc:
            msg = f"outbox {self.path}: cannot create it or its lock: {exc}"
            raise PublishError(msg) from exc
        if isinstance(held, str):
            # two daemons on one outbox would each re-send the other's results as their own
            msg = f"outbox {self.path}: {held}; give each station its own paths.state_dir or outbox.path"
            raise PublishError(msg)
        self._lock_fd = held
        self._sync: Sync = sync
        self._max_page_count = max_page_count
        self.reserve = Reserve(self.path.with_name(self.path.name + ".reserve"))
        self.read_only = False
        """Opened read-only on a full disk: rows are sent and not settled until :meth:`recover`."""
        try:
            self._db, self.run, unclean = self._open_writable()
        except sqlite3.Error as exc:
            if not is_disk_full(exc, self.path.parent):
                os.close(self._lock_fd)
                msg = f"outbox {self.path}: not a usable outbox database: {exc}"
                raise PublishError(msg) from exc
            self._db, self.run, unclean = self._open_read_only(exc)
        try:
            newest = sql.newest_ack(self._db)
            self._rows, self._bytes = sql.waiting_totals(self._db)
        except sqlite3.Error as exc:
            self._db.close()
            os.close(self._lock_fd)
            msg = f"outbox {self.path}: cannot start a run: {exc}"
            raise PublishError(msg) from exc
        if not self.read_only:
            self.reserve.ensure()
        self.replay_rows = self._rows
        """Rows left by earlier runs when this one opened: they are re-sent, marked replayed."""
        self.crashed_last_ack = newest if unclean else None
        """When the previous run ended without closing the file (crash, SIGKILL, power loss): the time of
        its last kept acknowledgement. A broker that went down with it (one machine losing power) may
        have lost what it acknowledged just before, so the sender re-sends the kept rows of that window."""

    def _open_writable(self) -> tuple[sqlite3.Connection, int, bool]:
        """Connect and start a run (on a full disk, once more after freeing the reserve)."""

        def attempt() -> tuple[sqlite3.Connection, int, bool]:
            db = sql.connect(self.path, self._sync, self._max_page_count)
            try:
                run, unclean = sql.next_run(db)
            except sqlite3.Error:
                db.close()
                raise
            return db, run, unclean

        return self._freeing_reserve(attempt)

    def _freeing_reserve(self, work: Callable[[], _T]) -> _T:
        """``work()``; when it fails for lack of space and there is a reserve to free, once more."""
        try:
            return work()
        except sqlite3.Error as exc:
            if not is_disk_full(exc, self.path.parent) or not self.reserve.release():
                raise
        return work()

    def _open_read_only(self, cause: sqlite3.Error) -> tuple[sqlite3.Connection, int, bool]:
        try:
            db = sql.connect_read_only(self.path)
            run = sql.last_run(db) + 1
        except sqlite3.Error as exc:
            os.close(self._lock_fd)
            msg = f"outbox {self.path}: the disk is full ({cause}) and the file cannot be read: {exc}"
            raise PublishError(msg) from exc
        self.read_only = True
        log.error(
            "ALARM outbox disk full: opened read-only to send what it holds; new results are published "
            "directly (not durable) until the disk has room",
            alarm="outbox_read_only",
            path=str(self.path),
            error=str(cause),
        )
        return db, run, False

    def recover(self) -> bool:
        """After a full disk: reopen for writing when there is room, and make the reserve again.

        Called by the sender every second; cheap when there is nothing to do. True when the outbox was
        reopened for writing just now."""
        if not self.read_only:
            self.reserve.ensure()
            return False
        with self._lock:
            try:
                db, run, _unclean = self._open_writable()
            except sqlite3.Error:
                return False
            self._db.close()
            self._db, self.run, self.read_only = db, run, False
            self._rows, self._bytes = sql.waiting_totals(db)
        self.reserve.ensure()
        log.warning("outbox writable again: results are stored durably", path=str(self.path))
        return True

    def _write(self, what: str, work: Callable[[], _T]) -> _T:
        """Run ``work`` in one transaction (caller holds the lock); on a full disk free the reserve and
        try once more: settling and deleting rows must not fail for lack of space."""
        if self.read_only:
            msg = f"outbox {self.path}: {what}: read-only until the disk has room"
            raise PublishError(msg)

        def transaction() -> _T:
            with Transaction(self._db):
                return work()

        with self._failing(what):
            return self._freeing_reserve(transaction)

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
            if self.read_only:
                msg = f"outbox {self.path}: cannot store result {key}: read-only until the disk has room"
                raise PublishError(msg)
            # no second try with the reserve: it is kept for settling, which frees the room new rows need
            with self._failing(f"cannot store result {key}"), Transaction(self._db):
                evicted, freed = self._evict_for(size) if reason is not None else ([], 0)
                self._db.execute(
                    "INSERT INTO outbox (result_id, topic, payload, stored_at, run) VALUES (?, ?, ?, ?, ?)",
                    (key, topic, payload, self._clock(), self.run),
                )
            self._rows += 1 - len(evicted)
            self._bytes += size - freed
            return PutResult(True, tuple(evicted), reason)

    def _evict_for(self, size: int) -> tuple[list[str], int]:
        """Delete the oldest waiting rows until one more of ``size`` bytes fits (caller's transaction)."""
        evicted: list[str] = []
        freed = 0
        while self.limits.over(self._rows - len(evicted) + 1, self._bytes - freed + size) is not None:
            oldest = sql.oldest_waiting(self._db, _BATCH)
            if not oldest:
                break
            gone = []
            for row_id, key, _stored_at, length in oldest:
                evicted.append(str(key))
                freed += int(length)
                gone.append(int(row_id))
                if self.limits.over(self._rows - len(evicted) + 1, self._bytes - freed + size) is None:
                    break
            sql.delete_ids(self._db, gone)
        return evicted, freed

    def ack(self, row_ids: Iterable[int], *, keep: bool = False) -> int:
        """Rows the broker acknowledged: deleted, or with ``keep`` marked acknowledged now (see the module
        doc). A kept row acknowledged again after a re-send keeps the time of its first acknowledgement:
        its window does not restart, so frequent outages cannot keep a row (and its re-sends) alive.

        Returns how many were still waiting (an evicted or expired row may be gone). On a full disk this
        fails too (WAL mode writes the change to the log first): PublishError, nothing changed, and the
        caller keeps the ids and tries again later.
        """
        ids = list(row_ids)
        if not ids:
            return 0

        def settle() -> list[int]:
            if keep:
                return sql.mark_acked(self._db, ids, self._clock())
            return self._delete_ids(ids)  # kept rows acknowledged again after a re-send go too

        with self._lock:
            lengths = self._write(f"cannot settle {len(ids)} acknowledged rows", settle)
            self._rows -= len(lengths)
            self._bytes -= sum(lengths)
        return len(lengths)

    def delete(self, row_ids: Iterable[int]) -> int:
        """Delete rows for good, acknowledged or not; returns how many of them were waiting."""
        ids = list(row_ids)
        if not ids:
            return 0

        with self._lock:
            lengths = self._write(f"cannot delete {len(ids)} rows", lambda: self._delete_ids(ids))
            self._rows -= len(lengths)
            self._bytes -= sum(lengths)
        return len(lengths)

    def _delete_ids(self, ids: list[int]) -> list[int]:
        """Delete rows waiting or kept (caller's transaction); the payload lengths of the waiting ones."""
        lengths = sql.delete_ids(self._db, ids, waiting_only=True)
        sql.delete_ids(self._db, ids)
        return lengths

    def purge_acked(self, older_than_s: float, *, below_id: int | None = None) -> int:
        """Delete rows acknowledged more than ``older_than_s`` ago (and, with ``below_id``, only those
        with a smaller id: rows queued for a re-send stay until sent); returns how many."""
        cutoff = self._clock() - older_than_s
        limit = below_id if below_id is not None else sql.MAX_ID

        def purge() -> int:
            cursor = self._db.execute(
                "DELETE FROM outbox WHERE acked_at IS NOT NULL AND acked_at < ? AND id < ?", (cutoff, limit)
            )
            return int(cursor.rowcount)

        with self._lock:
            if self.read_only:
                return 0
            return self._write("cannot purge acknowledged rows", purge)

    def kept_ids(self) -> set[int]:
        """Ids of the acknowledged rows still kept (a few seconds' worth)."""
        with self._lock, self._failing("cannot read"):
            rows = self._db.execute("SELECT id FROM outbox WHERE acked_at IS NOT NULL").fetchall()
        return {int(row[0]) for row in rows}

    def expire(self) -> list[str]:
        """Delete waiting rows older than ``max_age_s``; returns their keys (the caller counts and alarms).

        Walks from the oldest row and stops at the first young one: rows are stored in time order, so
        this costs nothing while the oldest row is young (a wall-clock step back delays expiry, no more).
        """
        if self.limits.max_age_s is None:
            return []
        cutoff = self._clock() - self.limits.max_age_s
        expired: list[str] = []
        with self._lock:
            if self.read_only:
                return []
            freed = 0
            with self._failing("cannot expire old rows"), Transaction(self._db):
                while True:
                    rows = sql.oldest_waiting(self._db, _BATCH)
                    old = leading(rows, lambda row: float(row[2]) < cutoff)
                    if not old:
                        break
                    sql.delete_ids(self._db, [int(row[0]) for row in old])
                    expired += [str(row[1]) for row in old]
                    freed += sum(int(row[3]) for row in old)
                    if len(old) < len(rows) or len(rows) < _BATCH:
                        break
            self._rows -= len(expired)
            self._bytes -= freed
        return expired

    # ------------------------------------------------------------------------------------------- reads

    def peek(self, after: int, limit: int) -> list[OutboxEntry]:
        """Up to ``limit`` oldest waiting rows with an id greater than ``after``, in order."""
        with self._lock, self._failing("cannot read"):
            rows = self._db.execute(
                f"SELECT {COLUMNS} FROM outbox WHERE id > ? AND {WAITING} ORDER BY id LIMIT ?",  # noqa: S608 (constants)
                (after, limit),
            ).fetchall()
        return [entry(row, self.run) for row in rows]

    def acked_since(self, since: float, until: float | None = None) -> list[OutboxEntry]:
        """Kept rows acknowledged between ``since`` and ``until`` (wall clock), in order, marked
        ``replayed``: the ones a broker that has just died may have lost."""
        with self._lock, self._failing("cannot read"):
            rows = self._db.execute(
                f"SELECT {COLUMNS} FROM outbox WHERE acked_at >= ? AND acked_at <= ? ORDER BY id",  # noqa: S608 (constants)
                (since, until if until is not None else float("inf")),
            ).fetchall()
        return [replace(entry(row, self.run), replayed=True) for row in rows]

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
        with self._lock, self._failing("cannot read"):
            rows = sql.oldest_waiting(self._db, 1)
        return max(0.0, self._clock() - float(rows[0][2])) if rows else 0.0

    def keys(self) -> list[str]:
        """Every waiting result_id, in order (tests and tools)."""
        with self._lock, self._failing("cannot read"):
            query = f"SELECT result_id FROM outbox WHERE {WAITING} ORDER BY id"  # noqa: S608 (constants)
            return [str(r[0]) for r in self._db.execute(query)]

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
            if not self.read_only:
                with contextlib.suppress(sqlite3.Error):
                    sql.mark_closed(self._db)
                    self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)

    @contextlib.contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """Turn SQLite's errors into a PublishError that names the file and what was being done."""
        try:
            yield
        except sqlite3.Error as exc:
            msg = f"outbox {self.path}: {what}: {exc}"
            raise PublishError(msg) from exc


def open_outbox(config: OutboxConfig, state_dir: Path | None) -> Outbox | None:
    """The outbox a config asks for (None when it is off), opened; PublishError names a bad file."""
    path = config.resolved_path(state_dir)
    if path is None:
        return None
    limits = Limits(config.max_rows, config.max_bytes, config.max_age_s, config.when_full)
    return Outbox(path, limits, sync=config.sync)
