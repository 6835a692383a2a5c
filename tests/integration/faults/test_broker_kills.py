"""Fault test 1: the broker is down when the daemon starts, then SIGKILLed 10 times during a 2,000-frame
replay and restarted each time. The MES (persistent session, QoS 1) must get every result at least once.

mosquitto here saves its state about every second, so each SIGKILL loses what it acknowledged since its
last save; the daemon re-sends what it had acknowledged within ``outbox.keep_acked_s`` of a lost
connection (and again after the next loss, if the broker dies again before saving the re-sends).
Duplicates are expected and reported; losses are failures.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from tests.integration.faults.harness import (
    Daemon,
    DepthProbe,
    Figures,
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

pytestmark = pytest.mark.slow  # 2,000+ frames each; deselect with -m 'not slow'

SEED = 20240611
BROKER_KILLS = 10
FPS = 100.0


def test_given_broker_kills_during_a_replay_then_every_result_arrives_at_least_once(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    images = sample_images()
    loops = loops_for(len(images))
    frames = loops * len(images)
    broker = persistent_broker(tmp_path / "broker")
    broker.start()
    register_session(broker)
    broker.stop()  # the broker is unreachable when the daemon starts
    config = write_config(
        tmp_path,
        port=broker.port,
        images=images[0].parent,
        frames_loop=loops,
        fps=FPS,
        scratch=tmp_path,
        # well above the broker's 1 s save interval: on a busy machine a save can come late
        outbox={"keep_acked_s": 5.0},
    )
    daemon = Daemon(config, tmp_path / "daemon.log")
    # kill when the MES has seen these many distinct results: spread over the run (jittered by the seed)
    # and over by 85 %, so every kill falls while the daemon runs, however far duplicates delay the MES
    marks = sorted(
        int(0.9 * frames * (k + rng.uniform(-0.3, 0.3)) / (BROKER_KILLS + 1)) for k in range(1, 11)
    )
    started = time.monotonic()
    kills = 0
    alive_at_kills: list[bool] = []
    with DepthProbe(tmp_path / "state" / "outbox.sqlite3") as probe:
        daemon.start()
        time.sleep(3.0)
        assert daemon.process is not None
        assert daemon.process.poll() is None, "the daemon must start without a broker"
        broker.start()
        sub = mes_subscriber(broker.port).start()
        try:
            for mark in marks:
                if not wait_until(lambda m=mark: distinct_results(sub) >= m, timeout=120):
                    break
                alive_at_kills.append(daemon.process.poll() is None)
                broker.kill()
                kills += 1
                time.sleep(rng.uniform(0.1, 1.0))
                broker.start()
            code = daemon.wait(timeout=240)
            done = wait_until(lambda: len({r["seq"] for r in results(sub)}) >= frames, timeout=60)
        finally:
            if daemon.process is not None and daemon.process.poll() is None:
                daemon.kill()
            sub.stop()
            broker.stop()
    elapsed = time.monotonic() - started

    got = results(sub)
    ids_by_seq: dict[int, set[str]] = {}
    for result in got:
        ids_by_seq.setdefault(result["seq"], set()).add(result["result_id"])
    stopped = daemon.events("stopped")
    figures = Figures(
        test="broker_sigkill_x10",
        frames=frames,
        results_received=len(got),
        unique_received=len({r["result_id"] for r in got}),
        lost=frames - len(ids_by_seq),
        duplicated=len(got) - len({r["result_id"] for r in got}),
        outbox_peak=probe.peak,
        replayed_received=sum(1 for r in got if r["resent"]),
        faults=kills,
        seconds=round(elapsed, 1),
        extra={
            "resent_after_loss": len(
                daemon.events("re-sending results acknowledged just before the connection was lost")
            ),
            "daemon_running_at_kills": sum(alive_at_kills),
        },
    )
    figures.report(tmp_path)

    assert code == 0
    assert kills == BROKER_KILLS
    assert stopped
    assert stopped[-1]["frames"] == frames
    assert done, f"lost {figures.lost} of {frames}"
    assert sorted(ids_by_seq) == list(range(frames))
    assert all(
        len(ids) == 1 for ids in ids_by_seq.values()
    )  # a duplicate is the same result, never a new one
    states = [m.json()["state"] for m in sub.on("/status")]
    assert states.count("online") >= 2  # re-announced after the broker came back
    assert states[-1] == "offline"
