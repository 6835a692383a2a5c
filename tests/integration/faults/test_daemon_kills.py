"""Fault test 2: the daemon is SIGKILLed 5 times at seeded random moments and restarted; the last run
replays 2,000+ frames to the end. Every result committed to the outbox must reach the MES.

On loopback the daemon keeps up and the outbox is all but empty at any instant, which would leave the
re-send path untested; so before each kill the broker is frozen (SIGSTOP) for a moment, as in a network
stall, and results pile up unacknowledged; the daemon dies in the stall, the broker resumes.

``outbox.keep_acked_s`` is set to an hour so the outbox file doubles as the ledger of everything ever
committed (acknowledged rows are kept, marked, instead of deleted): the test reads it to know what must
have arrived. Rows still waiting at each kill must arrive after the restart, marked ``replayed``. With
that window, each restart after a kill also re-sends every row acknowledged in the hour before the kill
(the broker might have died with the daemon), so most duplicates in the figures come from there.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest

from tests.integration.faults.harness import (
    Daemon,
    DepthProbe,
    Figures,
    all_rows,
    loops_for,
    mes_subscriber,
    persistent_broker,
    results,
    sample_images,
    wait_until,
    waiting_rows,
    write_config,
)

pytestmark = pytest.mark.slow  # 2,000+ frames each; deselect with -m 'not slow'

SEED = 7
DAEMON_KILLS = 5
FPS = 100.0


def test_given_daemon_kills_during_replays_then_every_committed_result_arrives(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    images = sample_images()
    loops = loops_for(len(images))
    outbox = tmp_path / "state" / "outbox.sqlite3"
    waiting_at_kills: list[set[str]] = []
    started = time.monotonic()
    with persistent_broker(tmp_path / "broker") as broker, DepthProbe(outbox) as probe:
        config = write_config(
            tmp_path,
            port=broker.port,
            images=images[0].parent,
            frames_loop=loops,
            fps=FPS,
            scratch=tmp_path,
            outbox={"keep_acked_s": 3600.0},
        )
        sub = mes_subscriber(broker.port).start()
        overrides: list[str] = []
        try:
            for _ in range(DAEMON_KILLS):
                committed_before = len(all_rows(outbox)) if outbox.exists() else 0
                target = committed_before + rng.randint(30, 400)
                daemon = Daemon(config, tmp_path / "daemon.log", overrides).start()
                assert wait_until(
                    lambda t=target: outbox.exists() and len(all_rows(outbox)) >= t, timeout=120
                )
                assert broker.process is not None
                broker.process.send_signal(signal.SIGSTOP)
                time.sleep(rng.uniform(0.3, 1.0))
                daemon.kill()
                broker.process.send_signal(signal.SIGCONT)
                waiting_at_kills.append({key for key, _run in waiting_rows(outbox)})
            # the killed runs' rows are all still in the file (kept for an hour after their PUBACK); the
            # last run deletes its kept rows at its clean stop, so it is judged by its frame count
            committed = all_rows(outbox)
            last_run_frames = loops * len(images)
            last = Daemon(config, tmp_path / "daemon.log", overrides).start()
            code = last.wait(timeout=240)
            done = wait_until(
                lambda: len({r["result_id"] for r in results(sub)}) >= len(committed) + last_run_frames,
                timeout=60,
            )
        finally:
            sub.stop()
    elapsed = time.monotonic() - started

    got = results(sub)
    received = {r["result_id"] for r in got}
    replayed = {r["result_id"] for r in got if r["resent"]}
    must_replay = set().union(*waiting_at_kills)
    figures = Figures(
        test="daemon_sigkill_x5",
        frames=len(committed) + last_run_frames,
        results_received=len(got),
        unique_received=len(received),
        lost=len(set(committed) - received) + max(0, last_run_frames - len(received - set(committed))),
        duplicated=len(got) - len(received),
        outbox_peak=probe.peak,
        replayed_received=sum(1 for r in got if r["resent"]),
        faults=len(waiting_at_kills),
        seconds=round(elapsed, 1),
        extra={
            "waiting_at_each_kill": [len(w) for w in waiting_at_kills],
            "last_run_frames": last_run_frames,
        },
    )
    figures.report(tmp_path)

    assert code == 0
    assert len(waiting_at_kills) == DAEMON_KILLS
    assert all(waiting_at_kills), "every kill left results waiting: the re-send path was exercised"
    assert done, f"lost {figures.lost} of {len(committed)} committed results"
    assert set(committed) <= received  # nothing committed by a killed run is lost
    assert len(received - set(committed)) == last_run_frames  # and nothing arrives that was not committed
    assert must_replay <= replayed  # what waited at a kill came back marked replayed
    assert all_rows(outbox) == []  # the clean stop settled everything and deleted the kept rows
    statuses = [(m.json()["state"], m.json()["reason"]) for m in sub.on("/status")]
    assert statuses.count(("offline", "connection lost")) == DAEMON_KILLS  # the last will, once per kill
    assert statuses.count(("online", None)) == DAEMON_KILLS + 1
    assert statuses[-1] == ("offline", "shutdown")
