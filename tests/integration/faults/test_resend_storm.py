"""Fault test: the broker is SIGKILLed more often than ``outbox.keep_acked_s`` during a 2,000-frame replay.

Each outage re-sends what was acknowledged within ``keep_acked_s`` before it. Before the re-sends were
bounded, a re-send's PUBACK restarted its window and kept rows were never purged while re-sends waited,
so every outage re-sent every result of the run (9,411 messages for 2,000 results). Now a row's window
runs from its first PUBACK, a row is re-sent at most ``outbox.max_resends`` (1) times, and the kept rows
are purged: the MES must get every result, with duplicates at most 1.5 times the frames of the run, and
a clean exit leaves no acknowledged row behind.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.faults.harness import (
    Daemon,
    DepthProbe,
    Figures,
    all_rows,
    distinct_results,
    loops_for,
    mes_subscriber,
    persistent_broker,
    register_session,
    results,
    sample_images,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.slow

FPS = 100.0
KEEP_S = 5.0
KILL_EVERY_S = 2.0
"""Well inside the keep window: each outage's window overlaps the previous ones'."""
MAX_DUPLICATE_RATIO = 1.5


def test_given_broker_kills_more_often_than_the_keep_window_then_none_is_lost_and_resends_stay_bounded(
    tmp_path: Path,
) -> None:
    images = sample_images()
    loops = loops_for(len(images))
    frames = loops * len(images)
    broker = persistent_broker(tmp_path / "broker")
    broker.start()
    register_session(broker)
    config = write_config(
        tmp_path,
        port=broker.port,
        images=images[0].parent,
        frames_loop=loops,
        fps=FPS,
        scratch=tmp_path,
        outbox={"keep_acked_s": KEEP_S},
    )
    outbox = tmp_path / "state" / "outbox.sqlite3"
    daemon = Daemon(config, tmp_path / "daemon.log")
    sub = mes_subscriber(broker.port).start()
    kills = 0
    started = time.monotonic()
    with DepthProbe(outbox) as probe:
        daemon.start()
        assert daemon.process is not None
        try:
            assert wait_until(lambda: distinct_results(sub) >= 50, timeout=60), "the station never published"
            # kill on a timer, not on progress: outages keep coming while re-sends are in flight
            while daemon.process.poll() is None and distinct_results(sub) < 0.9 * frames:
                time.sleep(KILL_EVERY_S)
                broker.kill()
                kills += 1
                time.sleep(0.2)
                broker.start()
            code = daemon.wait(timeout=240)
            done = wait_until(lambda: distinct_results(sub) >= frames, timeout=60)
        finally:
            if daemon.process.poll() is None:
                daemon.kill()
            sub.stop()
            broker.stop()
    elapsed = time.monotonic() - started

    got = results(sub)
    unique = {r["result_id"] for r in got}
    duplicates = len(got) - len(unique)
    figures = Figures(
        test="broker_sigkill_more_often_than_keep_acked_s",
        frames=frames,
        results_received=len(got),
        unique_received=len(unique),
        lost=frames - len({r["seq"] for r in got}),
        duplicated=duplicates,
        outbox_peak=probe.peak,
        replayed_received=sum(1 for r in got if r["resent"]),
        faults=kills,
        seconds=round(elapsed, 1),
        extra={
            "resend_batches": [
                e["rows"]
                for e in daemon.events("re-sending results acknowledged just before the connection was lost")
            ],
            "rows_left_after_exit": len(all_rows(outbox)),
        },
    )
    figures.report(tmp_path)

    assert code == 0
    assert kills >= 5, f"only {kills} broker kills: the run was too short to test the bound"
    assert done, f"lost {figures.lost} of {frames}"
    assert duplicates <= MAX_DUPLICATE_RATIO * frames, figures
    # every batch is about (rate x keep window), never the run so far
    assert max(figures.extra["resend_batches"], default=0) <= FPS * KEEP_S * 1.5, figures.extra
    assert all_rows(outbox) == []  # the clean exit deleted the kept rows
