"""runtime.scheduling on a running daemon, read from the kernel (/proc): the per-frame threads run
SCHED_BATCH, while the engine's threads and the main thread keep the policy the process started with."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.helpers.broker import Mosquitto, Subscriber
from tests.helpers.daemon import ROOT, start_daemon

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="Linux /proc")

CONFIG = ROOT / "config" / "replay.yaml"
SCHED_OTHER, SCHED_BATCH = 0, 3  # the kernel's numbers, as /proc/<pid>/stat shows them
PER_FRAME_THREADS = 6
"""The four stages, the MQTT client's network thread and the outbox sender (durable by default)."""


def thread_policies(pid: int) -> list[tuple[int, int, int]]:
    """(tid, policy, CPU ticks) of every thread of ``pid``."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = task.joinpath("stat").read_text().rsplit(")", 1)[1].split()
        # after the command name: field 3 is state, so field N is fields[N - 3]
        out.append((int(task.name), int(fields[41 - 3]), int(fields[14 - 3]) + int(fields[15 - 3])))
    return out


@pytest.mark.parametrize("scheduling", ["batch", "default"])
def test_given_a_scheduling_policy_when_the_daemon_runs_then_only_its_per_frame_threads_take_it(
    broker: Mosquitto, model_dir: Path, sample_dir: Path, scheduling: str
) -> None:
    with Subscriber(broker.port, "edge-inspect/+/+/result") as sub:
        daemon = start_daemon(
            CONFIG,
            [
                f"mqtt.port={broker.port}",
                f"runtime.scheduling={scheduling}",
                "source.loop=0",
                "source.fps=60",
            ],
        )
        try:
            # enough frames that the engine's threads are the busiest by far
            assert sub.wait_for(lambda m: len(m) >= 120, timeout=60), daemon.stdout
            threads = thread_policies(daemon.pid)
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
    assert daemon.returncode == 0

    policy = {tid: p for tid, p, _ in threads}
    others = [t for t in threads if t[0] != daemon.pid]  # the main thread's CPU includes the start-up
    busiest = sorted(others, key=lambda t: t[2], reverse=True)[:2]  # the engine's two streams
    assert policy[daemon.pid] == SCHED_OTHER
    assert [p for _, p, _ in busiest] == [SCHED_OTHER, SCHED_OTHER]
    batch = [tid for tid, p, _ in threads if p == SCHED_BATCH]
    assert len(batch) == (PER_FRAME_THREADS if scheduling == "batch" else 0), threads
