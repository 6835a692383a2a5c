"""The durable outbox: committed results survive a crash, keep their order, and bounds are never silent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_inspect.config.outbox import OutboxConfig
from edge_inspect.errors import PublishError
from edge_inspect.publish.outbox import Limits, Outbox, open_outbox
from tests.helpers.clock import ManualClock

TOPIC = "edge-inspect/s/c/result"
ROOMY = Limits(max_rows=1000, max_bytes=1 << 20, max_age_s=None, when_full="drop_oldest")


def payload(key: str, size: int = 40) -> bytes:
    body = f'{{"result_id":"{key}","replayed":false}}'.encode()
    return body + b" " * max(0, size - len(body))


def fill(box: Outbox) -> tuple[int, PublishError]:
    """Store 2 kB results until the outbox fails; how many were stored, and the error."""
    for stored in range(100_000):
        try:
            box.put(f"k{stored}", TOPIC, payload(f"k{stored}", 2000))
        except PublishError as exc:
            return stored, exc
    pytest.fail("the outbox never filled up")


def test_given_results_stored_when_peeked_then_they_come_back_in_order_with_their_payload(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "o.sqlite3", ROOMY)
    for key in ("a", "b", "c"):
        assert box.put(key, TOPIC, payload(key)).stored

    entries = box.peek(0, 10)

    assert [e.key for e in entries] == ["a", "b", "c"]
    assert entries[0].payload == payload("a")
    assert entries[0].topic == TOPIC
    assert not any(e.replayed for e in entries)
    assert box.depth() == 3
    assert box.size_bytes() == 3 * len(payload("a"))
    assert [e.key for e in box.peek(entries[0].row_id, 10)] == ["b", "c"]


def test_given_acknowledged_rows_when_deleted_then_depth_and_bytes_follow(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", ROOMY)
    for key in "abcd":
        box.put(key, TOPIC, payload(key))
    ids = [e.row_id for e in box.peek(0, 2)]

    assert box.delete(ids) == 2
    assert box.delete(ids) == 0  # an ack for a row already gone (evicted, expired) is harmless

    assert box.keys() == ["c", "d"]
    assert box.depth() == 2
    assert box.size_bytes() == 2 * len(payload("c"))


def test_given_acks_kept_when_the_connection_drops_then_recent_acks_come_back_replayed_and_old_ones_purge(
    tmp_path: Path,
) -> None:
    """A broker killed between its saves loses what it acknowledged since: those rows are re-sent."""
    clock = ManualClock(1_700_000_000.0)
    box = Outbox(tmp_path / "o.sqlite3", ROOMY, clock=clock)
    for key in "abcd":
        box.put(key, TOPIC, payload(key))
    rows = {e.key: e.row_id for e in box.peek(0, 10)}
    assert box.ack([rows["a"]], keep=True) == 1
    clock.now += 30
    assert box.ack([rows["b"], rows["c"]], keep=True) == 2
    assert box.ack([rows["b"]], keep=True) == 0  # a second ack of the same row changes nothing

    assert box.depth() == 1  # kept rows no longer wait
    assert box.keys() == ["d"]
    assert [e.key for e in box.peek(0, 10)] == ["d"]
    again = box.acked_since(clock.now - 10)
    assert [(e.key, e.replayed) for e in again] == [("b", True), ("c", True)]
    assert box.acked_since(clock.now - 10, until=clock.now - 5) == []

    assert box.purge_acked(10.0) == 1  # "a" was acknowledged 30 s ago
    assert [e.key for e in box.acked_since(0)] == ["b", "c"]
    assert box.ack([rows["b"]]) == 0  # re-sent and acknowledged again: gone for good
    assert [e.key for e in box.acked_since(0)] == ["c"]


def test_given_an_emptied_outbox_when_more_is_stored_then_ids_keep_growing(tmp_path: Path) -> None:
    """The sender reads 'everything after the last id it sent': ids must never be reused."""
    box = Outbox(tmp_path / "o.sqlite3", ROOMY)
    box.put("a", TOPIC, payload("a"))
    first = box.peek(0, 1)[0].row_id
    box.delete([first])

    box.put("b", TOPIC, payload("b"))

    assert box.peek(first, 1)[0].key == "b"


def test_given_rows_from_an_earlier_run_when_reopened_then_they_are_marked_replayed(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    old = Outbox(path, ROOMY)
    old.put("old", TOPIC, payload("old"))
    old.close()

    box = Outbox(path, ROOMY)
    box.put("new", TOPIC, payload("new"))

    assert box.replay_rows == 1
    assert [(e.key, e.replayed) for e in box.peek(0, 10)] == [("old", True), ("new", False)]
    assert box.run == old.run + 1


def test_given_a_process_killed_right_after_put_when_reopened_then_every_committed_row_is_there(
    tmp_path: Path,
) -> None:
    """A put that returned is durable against SIGKILL (synchronous=NORMAL in WAL mode)."""
    path = tmp_path / "o.sqlite3"
    script = f"""
import os, signal
from edge_inspect.publish.outbox import Limits, Outbox
box = Outbox({str(path)!r}, Limits(1000, 1 << 20, None, "drop_oldest"))
for i in range(200):
    box.put(f"k{{i}}", "t", b'{{"replayed":false}}')
os.kill(os.getpid(), signal.SIGKILL)
"""
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[4], check=False)
    assert done.returncode == -signal.SIGKILL

    box = Outbox(path, ROOMY)

    assert box.keys() == [f"k{i}" for i in range(200)]
    assert all(e.replayed for e in box.peek(0, 500))


def test_given_drop_oldest_when_max_rows_is_reached_then_the_oldest_are_evicted_and_named(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "o.sqlite3", Limits(3, 1 << 20, None, "drop_oldest"))
    for key in "abc":
        assert box.put(key, TOPIC, payload(key)).evicted == ()

    outcome = box.put("d", TOPIC, payload("d"))

    assert outcome.stored
    assert outcome.evicted == ("a",)
    assert outcome.reason is not None
    assert "max_rows 3" in outcome.reason
    assert box.keys() == ["b", "c", "d"]
    assert box.depth() == 3


def test_given_drop_oldest_when_max_bytes_is_reached_then_enough_oldest_rows_go(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", Limits(100, 4096 * 3, None, "drop_oldest"))
    for key in "abc":
        box.put(key, TOPIC, payload(key, 4000))

    outcome = box.put("big", TOPIC, payload("big", 8000))

    assert outcome.evicted == ("a", "b")
    assert box.keys() == ["c", "big"]
    assert box.size_bytes() == 4000 + 8000


def test_given_reject_new_when_full_then_the_new_result_is_not_stored_and_the_backlog_is_kept(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "o.sqlite3", Limits(2, 1 << 20, None, "reject_new"))
    box.put("a", TOPIC, payload("a"))
    box.put("b", TOPIC, payload("b"))

    outcome = box.put("c", TOPIC, payload("c"))

    assert not outcome.stored
    assert outcome.reason is not None
    assert "max_rows 2" in outcome.reason
    assert box.keys() == ["a", "b"]
    assert box.full()


def test_given_a_payload_larger_than_max_bytes_when_put_then_it_is_refused_with_its_size(
    tmp_path: Path,
) -> None:
    box = Outbox(tmp_path / "o.sqlite3", Limits(10, 4096, None, "drop_oldest"))
    box.put("a", TOPIC, payload("a"))

    outcome = box.put("huge", TOPIC, payload("huge", 5000))

    assert not outcome.stored
    assert outcome.reason is not None
    assert "5000 bytes" in outcome.reason
    assert box.keys() == ["a"]  # nothing evicted for a result that could never fit


def test_given_max_age_when_rows_grow_old_then_expire_removes_exactly_the_old_ones(tmp_path: Path) -> None:
    clock = ManualClock(1_700_000_000.0)
    box = Outbox(tmp_path / "o.sqlite3", Limits(1000, 1 << 20, 60.0, "drop_oldest"), clock=clock)
    for i in range(300):  # more than one internal batch
        box.put(f"old{i}", TOPIC, payload("x"))
    clock.now += 50
    box.put("young", TOPIC, payload("young"))
    clock.now += 20

    expired = box.expire()

    assert expired == [f"old{i}" for i in range(300)]
    assert box.keys() == ["young"]
    assert box.depth() == 1
    assert box.oldest_age_s() == pytest.approx(20.0)
    assert box.expire() == []


def test_given_a_full_disk_when_put_then_a_clear_error_names_the_file_and_the_outbox_recovers(
    tmp_path: Path,
) -> None:
    """SQLite's own size cap gives the real SQLITE_FULL error a full disk gives."""
    path = tmp_path / "o.sqlite3"
    box = Outbox(path, ROOMY, max_page_count=12)
    stored, error = fill(box)
    message = str(error)
    assert "database or disk is full" in message
    assert str(path) in message
    assert f"k{stored}" in message
    assert box.depth() == stored

    box.delete([e.row_id for e in box.peek(0, stored)])
    assert box.put("after", TOPIC, payload("after")).stored
    assert box.keys() == ["after"]


def test_given_an_outbox_in_use_when_a_second_daemon_opens_it_then_it_is_refused_naming_the_holder(
    tmp_path: Path,
) -> None:
    path = tmp_path / "o.sqlite3"
    first = Outbox(path, ROOMY)

    with pytest.raises(PublishError, match=rf"in use by another process \(pid {os.getpid()}\)"):
        Outbox(path, ROOMY)

    first.close()
    Outbox(path, ROOMY).close()  # free again once the first one is closed (or its process has died)


def test_given_a_file_that_is_not_an_outbox_when_opened_then_the_error_names_it(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    path.write_bytes(b"this is not a database" * 100)

    with pytest.raises(PublishError, match=str(path)):
        Outbox(path, ROOMY)


def test_given_an_outbox_from_a_newer_schema_when_opened_then_it_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "o.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")

    with pytest.raises(PublishError, match="schema version 99"):
        Outbox(path, ROOMY)


def test_given_concurrent_put_and_delete_when_done_then_the_counts_add_up(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", ROOMY)
    total = 400
    deleted = 0

    def writer() -> None:
        for i in range(total):
            box.put(f"k{i}", TOPIC, payload("k"))

    thread = threading.Thread(target=writer)
    thread.start()
    last = 0
    while thread.is_alive() or box.depth():
        rows = box.peek(last, 50)
        if rows:
            last = rows[-1].row_id
            deleted += box.delete([r.row_id for r in rows])
    thread.join()

    assert deleted == total
    assert box.depth() == 0
    assert box.size_bytes() == 0


def test_given_config_when_opened_then_the_file_lives_in_the_state_dir_unless_disabled(
    tmp_path: Path,
) -> None:
    on = open_outbox(OutboxConfig(), tmp_path)
    assert on is not None
    assert on.path == tmp_path / "outbox.sqlite3"
    on.close()

    assert open_outbox(OutboxConfig(), None) is None
    assert open_outbox(OutboxConfig(enabled=False), tmp_path) is None
    explicit = open_outbox(OutboxConfig(path=tmp_path / "x" / "box.db"), None)
    assert explicit is not None
    assert explicit.path.is_file()
    explicit.close()


def test_given_sync_full_when_opened_then_sqlite_fsyncs_every_commit(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.sqlite3", ROOMY, sync="full")
    box.put("a", TOPIC, payload("a"))
    assert box.pragma("synchronous") == 2  # FULL
    assert box.pragma("journal_mode") == "wal"
    assert Outbox(tmp_path / "p.sqlite3", ROOMY).pragma("synchronous") == 1  # NORMAL


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 256 KiB tmpfs (needs root and mount rights; skipped elsewhere)."""
    folder = tmp_path / "tiny"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_given_a_really_full_disk_when_put_then_the_error_says_so_and_freeing_space_recovers(
    tiny_disk: Path,
) -> None:
    ballast = tiny_disk / "ballast"
    ballast.write_bytes(b"\0" * 64 * 1024)
    box = Outbox(tiny_disk / "o.sqlite3", ROOMY)
    stored, error = fill(box)
    assert "full" in str(error)
    assert 0 < box.depth() == stored
    rows = [e.row_id for e in box.peek(0, stored)]

    ballast.unlink()  # the operator frees some space

    assert box.delete(rows) == stored
    assert box.put("after", TOPIC, payload("after")).stored
    assert box.keys() == ["after"]
    box.close()
