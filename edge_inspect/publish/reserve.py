"""Disk space held back for the outbox, given up the moment the disk is full.

On a full disk SQLite can write nothing, not even the deletion of an acknowledged row (in WAL mode a
delete appends to the log first), so stored results could never be settled and a restart could not even
open the file. The outbox therefore keeps a small file of its own next to the database; when a write
fails with "database or disk is full" the file is deleted, which gives SQLite room to settle what the
broker acknowledged and to reopen the database, and the freed pages take new results again. The file
is made again once the disk has room for it several times over.
"""

from __future__ import annotations

import os
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)

RESERVE_BYTES = 1 << 20
ROOM_FACTOR = 4
"""The reserve is made again only when the disk has this many times its size free."""


class Reserve:
    """A file of ``size`` bytes at ``path``: :meth:`release` frees it, :meth:`ensure` makes it."""

    def __init__(self, path: Path, size: int = RESERVE_BYTES) -> None:
        self.path = path
        self.size = size

    @property
    def present(self) -> bool:
        return self.path.is_file()

    def ensure(self) -> bool:
        """Make the reserve when it is missing and the disk has room; True when it is there now."""
        if self.present:
            return True
        if free_bytes(self.path.parent) < ROOM_FACTOR * self.size:
            return False
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)  # blocks really taken, unlike a sparse file
                os.fsync(fd)
            finally:
                os.close(fd)
            tmp.replace(self.path)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            log.debug("outbox reserve not made", path=str(self.path), error=str(exc))
            return False
        return True

    def release(self) -> bool:
        """Delete the reserve; True when there was one to free."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            log.warning("outbox reserve cannot be freed", path=str(self.path), error=str(exc))
            return False
        log.warning(
            "outbox disk full: freed its reserve to settle and store results",
            path=str(self.path),
            bytes=self.size,
        )
        return True


SQLITE_IOERR, SQLITE_FULL = 10, 13


def is_disk_full(exc: BaseException, folder: Path | None = None) -> bool:
    """SQLite's SQLITE_FULL (or the OS's ENOSPC / EDQUOT) behind ``exc``; with ``folder``, also an I/O
    error while that folder's disk has no room left (SQLite reports a failed write of its shared-memory
    file or log as "disk I/O error")."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if code is not None else None
    if primary == SQLITE_FULL or "database or disk is full" in str(exc):
        return True
    if isinstance(exc, OSError) and exc.errno in (28, 122):  # ENOSPC, EDQUOT
        return True
    if folder is not None and (primary == SQLITE_IOERR or "disk I/O error" in str(exc)):
        return free_bytes(folder) < RESERVE_BYTES
    return False


def free_bytes(folder: Path) -> int:
    """Bytes an unprivileged writer may still use on ``folder``'s file system (0 when unknown)."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return 0
    return stat.f_bavail * stat.f_frsize
