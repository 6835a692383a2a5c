"""The outbox's disk is full: the daemon raises the alarm, keeps inspecting, publishes the results it
cannot store directly (best effort), counts them, and every result still reaches the MES; when space
comes back, results go through the outbox again.

The state folder is a real 4 MiB tmpfs, all but 128 KiB taken by a ballast file until 200 results are
in (needs root and mount rights; skipped elsewhere; tests/unit/publish/test_outbox.py covers SQLite's
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

from tests.helpers.broker import Mosquitto, Subscriber
from tests.integration.faults.harness import RESULTS, Daemon, sample_images, write_config

FRAMES_LOOP = 10
FREED_AT = 200


@pytest.fixture
def small_state_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "state"
    folder.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)], capture_output=True, check=False
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
