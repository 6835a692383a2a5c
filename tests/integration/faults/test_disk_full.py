"""The outbox's disk is full: the daemon raises the alarm, keeps inspecting, publishes the results it
cannot store directly (best effort), counts them, and every result still reaches the MES; when space
comes back, results go through the outbox again.

The state folder is a real 4 MiB tmpfs, all but 128 KiB taken by a ballast file until 200 results are
in (needs root and mount rights; skipped elsewhere; tests/unit/publish/outbox/test_outbox.py covers SQLite's
own SQLITE_FULL everywhere). Once its log has grown to its working size the outbox reuses that space,
so a disk that fills later only stops it when its backlog grows; a disk full from the start is the case
that bites.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_inspect.publish.outbox import Limits, Outbox
from edge_inspect.publish.payload import encode, result_payload
from tests.helpers.broker import Mosquitto, Subscriber
from tests.helpers.results import result
from tests.integration.faults.harness import RESULTS, Daemon, sample_images, waiting_rows, write_config

FRAMES_LOOP = 10
FREED_AT = 200


@pytest.fixture
def small_state_dir(tmp_path: Path) -> Iterator[Path]:
    yield from mounted_tmpfs(tmp_path / "state", "4m")


@pytest.fixture
def roomy_state_dir(tmp_path: Path) -> Iterator[Path]:
    """Room for the outbox's 1 MiB reserve (made only when four times its size is free)."""
    yield from mounted_tmpfs(tmp_path / "state", "16m")


def mounted_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode(errors='replace').strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_given_the_outbox_disk_full_then_inspection_goes_on_results_arrive_and_failures_are_counted(
    broker: Mosquitto, tmp_path: Path, small_state_dir: Path
) -> None:
    images = sample_images()
    frames = FRAMES_LOOP * len(images)
    config = write_config(
        tmp_path, port=broker.port, images=images[0].parent, frames_loop=FRAMES_LOOP, fps=50, scratch=tmp_path
    )
    ballast = small_state_dir / "ballast"
    stat = os.statvfs(small_state_dir)
    ballast.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - 128 * 1024))
    with Subscriber(broker.port, [RESULTS, "edge-inspect/+/stats"]) as sub:
        daemon = Daemon(config, tmp_path / "daemon.log").start()
        assert sub.wait_for(lambda _m: len(sub.on("/result")) >= FREED_AT, timeout=60)
        ballast.unlink()
        code = daemon.wait(timeout=120)
        assert sub.wait_for(lambda _m: len(sub.on("/result")) >= frames, timeout=20)
        assert sub.wait_for(lambda _m: bool(sub.on("/stats")), timeout=10)

    counters = sub.on("/stats")[-1].json()["counters"]
    alarms = daemon.events("ALARM outbox cannot store results; publishing them directly (not durable)")
    [stopped] = daemon.events("stopped")
    assert code == 0
    assert stopped["frames"] == frames
    assert len({m.json()["result_id"] for m in sub.on("/result")}) == frames
    failed = counters["outbox.store_failed"]
    print(f"\ndisk full until result {FREED_AT}: {frames} frames, {failed} not stored (sent directly)")
    assert 0 < failed < FREED_AT + 20  # only while the disk was full (+ the frames already in the pipeline)
    assert counters.get("outbox.lost", 0) == 0
    assert counters["outbox.acked"] >= frames - failed  # the rest went through the outbox
    assert alarms
    assert "database or disk is full" in alarms[0]["error"]


STORED_BEFORE = 300


def fill(folder: Path) -> Path:
    """Take every free byte of ``folder``'s file system; the ballast file is returned."""
    ballast = folder / "ballast"
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        size = 65536
        while size:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                size //= 2
    finally:
        os.close(fd)
    return ballast


def stored_results(outbox_path: Path, n: int) -> list[str]:
    """``n`` real result payloads committed to the station's outbox, as a run that could not send would."""
    box = Outbox(outbox_path, Limits(100_000, 1 << 26, None, "drop_oldest"))
    keys = []
    try:
        for seq in range(n):
            item = result(seq=seq, station="line-1", camera="cam-1")
            box.put(item.result_id, "edge-inspect/line-1/cam-1/result", encode(result_payload(item)))
            keys.append(item.result_id)
    finally:
        box.close()
    return keys


@pytest.mark.parametrize("reserve", ["kept", "gone"])
def test_given_a_restart_on_a_full_disk_then_the_daemon_starts_delivers_what_was_stored_and_recovers(
    broker: Mosquitto, tmp_path: Path, roomy_state_dir: Path, reserve: str
) -> None:
    small_state_dir = roomy_state_dir
    # given an outbox holding results of an earlier run, on a disk that is now full; "gone": its reserve
    # was lost too (an older version, or a disk filled past it), so the file can only be read
    images = sample_images()
    frames = FRAMES_LOOP * len(images)
    outbox = small_state_dir / "outbox.sqlite3"
    before = stored_results(outbox, STORED_BEFORE)
    assert (small_state_dir / "outbox.sqlite3.reserve").is_file()
    if reserve == "gone":
        (small_state_dir / "outbox.sqlite3.reserve").unlink()
    ballast = fill(small_state_dir)
    config = write_config(
        tmp_path, port=broker.port, images=images[0].parent, frames_loop=FRAMES_LOOP, fps=50, scratch=tmp_path
    )
    with Subscriber(broker.port, [RESULTS, "edge-inspect/+/stats"]) as sub:
        daemon = Daemon(config, tmp_path / "daemon.log").start()
        # then it starts, and what the earlier run stored arrives
        assert sub.wait_for(lambda _m: {m.json()["result_id"] for m in sub.on("/result")} >= set(before), 60)
        assert sub.wait_for(lambda _m: len(sub.on("/result")) >= STORED_BEFORE + frames // 4, timeout=60)
        ballast.unlink()  # when space returns
        code = daemon.wait(timeout=120)
        assert sub.wait_for(lambda _m: len(sub.on("/result")) >= STORED_BEFORE + frames, timeout=20)
        assert sub.wait_for(lambda _m: bool(sub.on("/stats")), timeout=10)

    received = {m.json()["result_id"] for m in sub.on("/result")}
    counters = sub.on("/stats")[-1].json()["counters"]
    assert code == 0
    assert set(before) <= received
    assert len(received) == STORED_BEFORE + frames  # every new result too (stored, or sent directly)
    assert counters.get("outbox.lost", 0) == 0
    assert waiting_rows(outbox) == []  # everything settled once the disk had room
    lost_lines = daemon.events("ALARM results lost: not stored and too many awaiting PUBACK")
    assert len(lost_lines) <= 1
    if reserve == "gone":
        assert daemon.events(
            "ALARM outbox disk full: opened read-only to send what it holds; new results are published "
            "directly (not durable) until the disk has room"
        )
        assert daemon.events("outbox writable again: results are stored durably")
        assert counters["outbox.store_failed"] > 0
    else:
        assert daemon.events("outbox disk full: freed its reserve to settle and store results")
    assert (small_state_dir / "outbox.sqlite3.reserve").is_file()  # made again when space returned
