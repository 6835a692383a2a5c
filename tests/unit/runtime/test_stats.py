"""Stats: counters, verdict counts, fps over the processed span, latency percentiles."""

from __future__ import annotations

from edge_inspect.runtime.stats import Stats, verdict_counts
from edge_inspect.types import Verdict
from tests.helpers.clock import ManualClock


def test_given_frames_over_two_seconds_when_snapshotted_then_fps_and_percentiles_follow() -> None:
    clock = ManualClock()
    stats = Stats(clock=clock)
    for i in range(11):
        stats.verdict(Verdict.NG if i % 5 == 0 else Verdict.PASS)
        stats.latency("total", float(i))
        clock.now += 0.2
    snap = stats.snapshot()
    assert snap["counters"]["frames"] == 11
    assert verdict_counts(snap["counters"]) == {"PASS": 8, "NG": 3, "ERROR": 0}
    assert abs(snap["fps"] - 5.0) < 1e-9  # 10 intervals in 2.0 s
    assert snap["latency_ms"]["total"]["p50"] == 5.0


def test_given_gauges_when_snapshotted_then_they_are_sampled() -> None:
    stats = Stats()
    depth = [3]
    stats.gauges["queue.frames"] = lambda: depth[0]
    assert stats.snapshot()["gauges"]["queue.frames"] == 3.0
    depth[0] = 0
    assert stats.snapshot()["gauges"]["queue.frames"] == 0.0
