"""The outbox's reserve file and what counts as a full disk (the full-disk behaviour itself runs on a
real tmpfs in tests/integration/faults/test_disk_full.py)."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

from edge_inspect.publish.reserve import Reserve, free_bytes, is_disk_full


def test_given_room_when_ensured_then_the_reserve_takes_real_blocks_and_release_frees_them(
    tmp_path: Path,
) -> None:
    reserve = Reserve(tmp_path / "o.reserve", size=256 * 1024)

    assert reserve.ensure()
    assert reserve.path.stat().st_blocks * 512 >= reserve.size  # allocated, not sparse
    assert reserve.release()
    assert not reserve.present
    assert not reserve.release()  # nothing left to free


def test_given_too_little_room_when_ensured_then_no_reserve_is_made(tmp_path: Path) -> None:
    reserve = Reserve(tmp_path / "o.reserve", size=free_bytes(tmp_path) + (1 << 30))

    assert not reserve.ensure()
    assert not reserve.present
    assert not (tmp_path / "o.reserve.tmp").exists()


def test_given_sqlite_and_os_errors_then_only_lack_of_space_counts_as_a_full_disk(tmp_path: Path) -> None:
    assert is_disk_full(sqlite3.OperationalError("database or disk is full"))
    assert is_disk_full(OSError(errno.ENOSPC, "No space left on device"))
    assert not is_disk_full(sqlite3.DatabaseError("file is not a database"))
    # an I/O error is a full disk only when the folder's disk has no room (here it has)
    assert not is_disk_full(sqlite3.OperationalError("disk I/O error"), tmp_path)
