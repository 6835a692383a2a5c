"""Ratios, targets, the median round, and the text and JSON forms of a bench report."""

from __future__ import annotations

import json
import math

import pytest

from edge_inspect.bench.figures import LatencySummary, RssTrend
from edge_inspect.bench.render import format_text, report_json
from edge_inspect.bench.report import (
    DAEMON,
    ENGINE,
    LOAD,
    NAIVE,
    SOAK,
    ModeResult,
    build_report,
    check_targets,
    pick_median,
    ratios,
)
from edge_inspect.bench.resources import Usage


def latency(p50: float, p99: float | None = None) -> LatencySummary:
    return LatencySummary(count=100, p50=p50, p95=p50, p99=p99 if p99 is not None else p50, mean=p50, max=p50)


def mode(
    name: str, fps: float, p50: float = 50.0, p99: float | None = None, cpu: float = 200.0
) -> ModeResult:
    usage = Usage(seconds=10.0, cpu_pct=cpu, rss_start_mb=200.0, rss_end_mb=210.0, load1=1.5)
    return ModeResult(mode=name, frames=220, measured=200, fps=fps, latency=latency(p50, p99), usage=usage)


def test_given_engine_daemon_and_naive_when_ratioed_then_b_over_a_and_b_over_c_follow() -> None:
    found = ratios([mode(ENGINE, 40.0, cpu=200.0), mode(DAEMON, 36.0, cpu=198.0), mode(NAIVE, 20.0)])
    assert found["b/a"] == pytest.approx(0.9)
    assert found["b/c"] == pytest.approx(1.8)
    # CPU per frame: engine 200 % / 40 fps = 50 ms, daemon 198 % / 36 fps = 55 ms
    assert found["b/a by CPU cost"] == pytest.approx(50.0 / 55.0)


def test_given_a_mode_missing_when_ratioed_then_its_ratio_is_absent() -> None:
    assert ratios([mode(DAEMON, 36.0)]) == {}


def test_thread_cpu_per_frame_is_listed_largest_first_in_the_text_and_the_json() -> None:
    # given a daemon at 50 fps over 10 s (500 frames) whose threads took 10 s, 0.5 s and 1 ms of CPU
    spent = {"stage-decide": 0.5, "native": 10.0, "stage-tick": 0.001}
    usage = Usage(10.0, 105.0, 200.0, 210.0, 1.5, thread_cpu_s=spent)
    daemon = ModeResult(mode=DAEMON, frames=520, measured=500, fps=50.0, latency=latency(30.0), usage=usage)
    # then each is CPU ms per frame, the largest first
    figures = daemon.thread_ms_per_frame
    assert list(figures) == ["native", "stage-decide", "stage-tick"]
    assert list(figures.values()) == pytest.approx([20.0, 1.0, 0.002])
    report = build_report({}, [daemon])
    # and the text names the threads that matter, leaving out one below 0.005 ms per frame
    assert "CPU ms/frame by thread: native 20.00, stage-decide 1.00" in format_text(report)
    assert "stage-tick" not in format_text(report)
    # while the JSON keeps every one
    written = report_json(report)["modes"][0]["thread_cpu_ms_per_frame"]
    assert written == pytest.approx({"native": 20.0, "stage-decide": 1.0, "stage-tick": 0.002})


def test_cpu_time_per_frame_is_cpu_percent_over_fps() -> None:
    assert mode(ENGINE, 40.0, cpu=200.0).cpu_ms_per_frame == pytest.approx(50.0)
    unmeasured = ModeResult(mode=ENGINE, frames=0, measured=0, fps=math.nan, latency=latency(1.0), usage=None)
    assert math.isnan(unmeasured.cpu_ms_per_frame)


def test_given_a_daemon_at_92_percent_and_a_fast_p99_when_checked_then_both_targets_are_met() -> None:
    checks = check_targets([mode(ENGINE, 40.0, p50=50.0), mode(DAEMON, 36.8), mode(LOAD, 32.0, p99=90.0)])
    by_name = {c.name.split(" ")[0]: c for c in checks}
    assert by_name["daemon"].met is True
    assert by_name["daemon"].value == pytest.approx(0.92)
    assert by_name["p99"].limit == pytest.approx(100.0)  # 2 x engine p50
    assert by_name["p99"].met is True
    assert by_name["RSS"].met is None  # no long run: not measured, never "met"


def test_given_a_slow_daemon_and_a_long_tail_when_checked_then_neither_target_is_met() -> None:
    checks = check_targets([mode(ENGINE, 40.0, p50=50.0), mode(DAEMON, 30.0), mode(LOAD, 32.0, p99=140.0)])
    assert [c.met for c in checks[:2]] == [False, False]


def test_given_a_long_run_when_checked_then_rss_growth_is_judged_and_a_short_run_says_so() -> None:
    trend = RssTrend(200.0, 204.0, 205.0, 2.0, 8.0, 10, 600.0)
    soak = ModeResult(mode=SOAK, frames=9000, measured=8980, fps=15.0, latency=latency(40.0),
                      usage=None, rss=trend)  # fmt: skip
    rss = check_targets([soak])[2]
    assert rss.met is True
    assert rss.value == 2.0
    assert "10.0 min" in rss.note


def test_given_three_rounds_when_the_median_is_picked_then_the_middle_fps_wins_and_spread_is_noted() -> None:
    rounds = [mode(DAEMON, 30.0), mode(DAEMON, 45.0), mode(DAEMON, 38.0)]
    chosen = pick_median(rounds)
    assert chosen.fps == 38.0
    # CPU per frame: 200 % / fps
    assert chosen.notes == ("median of 3 rounds: fps (30.00, 45.00, 38.00), CPU ms/frame (66.7, 44.4, 52.6)",)
    assert chosen.cpu_ms_per_frame == pytest.approx(2000.0 / 38.0)  # the median round's, by CPU too
    assert pick_median([rounds[0]]) is rounds[0]
    with pytest.raises(ValueError, match="at least one"):
        pick_median([])


def test_given_a_report_when_rendered_then_text_and_json_carry_the_same_figures() -> None:
    modes = [mode(NAIVE, 20.0), mode(DAEMON, 36.8, p50=120.0), mode(ENGINE, 40.0, p50=50.0)]
    report = build_report({"started_at": "2026-01-01T00:00:00+00:00", "machine": "2 cores"}, modes)
    assert [m.mode for m in report.modes] == [ENGINE, DAEMON, NAIVE]  # report order, not run order

    text = format_text(report)
    assert "machine   2 cores" in text
    daemon_row = next(line for line in text.splitlines() if line.startswith("(b) daemon"))
    assert daemon_row.split()[2:5] == ["200", "36.80", "120.0"]
    assert "b/a 0.920" in text
    assert "b/c 1.840" in text
    assert "daemon fps / engine fps (b/a): 0.920 >= 0.90: met" in text

    data = json.loads(json.dumps(report_json(report)))  # plain JSON all the way down
    daemon = next(m for m in data["modes"] if m["mode"] == DAEMON)
    assert daemon["fps"] == 36.8
    assert daemon["latency"]["p50"] == 120.0
    assert daemon["title"] == "(b) daemon"
    assert data["ratios"]["b/a"] == pytest.approx(0.92)


def test_given_nan_figures_when_rendered_as_json_then_they_become_null() -> None:
    report = build_report({}, [mode(DAEMON, math.nan)])
    data = report_json(report)
    assert data["modes"][0]["fps"] is None
    assert data["targets"][0]["value"] is None
    json.dumps(data, allow_nan=False)


def test_given_rounds_whose_cpu_and_fps_medians_differ_when_picked_then_each_median_is_its_own() -> None:
    rounds = [mode(DAEMON, 30.0, cpu=60.0), mode(DAEMON, 40.0, cpu=200.0), mode(DAEMON, 50.0, cpu=150.0)]
    chosen = pick_median(rounds)
    assert chosen.fps == 40.0
    # CPU ms per frame of the rounds: 20.0, 50.0, 30.0 -> median 30.0, from another round than the fps
    assert chosen.cpu_ms_per_frame == pytest.approx(30.0)
    assert chosen.own_cpu_ms_per_frame == pytest.approx(50.0)


def test_given_fixed_rate_rounds_when_picked_by_p99_then_the_middle_tail_wins_and_each_p99_is_noted() -> None:
    # the same offered rate each round; one round hit a slow spell of the machine
    rounds = [mode(LOAD, 150.0, p99=21.0), mode(LOAD, 149.0, p99=96.0), mode(LOAD, 150.0, p99=24.0)]
    chosen = pick_median(rounds, by="p99")
    assert chosen.latency.p99 == 24.0
    assert chosen.notes[-1].startswith("median of 3 rounds by p99: p99 ms (21.0, 96.0, 24.0), fps (")
    # a round without a p99 counts as the worst
    missing = [mode(LOAD, 150.0, p99=math.nan), mode(LOAD, 150.0, p99=30.0), mode(LOAD, 150.0, p99=20.0)]
    assert pick_median(missing, by="p99").latency.p99 == 30.0
