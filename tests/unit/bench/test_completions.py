"""Completions: the steady window after the warm-up, the expected end, and the probed process's CPU."""

from __future__ import annotations

import pytest

from edge_inspect.bench.completions import Completions


def test_given_frames_every_50_ms_when_measured_then_the_warmup_is_left_out_of_fps_and_latency() -> None:
    done = Completions(warmup=2, expected=12)
    done.add(900.0, done_at=0.0)  # slow first frames: warm-up
    done.add(800.0, done_at=1.0)
    for k in range(10):
        done.add(10.0 + k, done_at=1.0 + 0.05 * (k + 1))
    assert done.finished.is_set()
    measured = done.result()
    assert measured.frames == 12
    assert measured.measured == 10
    assert measured.fps == pytest.approx(20.0)  # the window opens at the 3rd frame: 9 gaps of 50 ms
    assert max(measured.latency_ms) == 19.0
    assert measured.usage is not None


def test_given_fewer_frames_than_expected_when_the_window_is_closed_then_it_ends_there() -> None:
    done = Completions(warmup=0, expected=100)
    for k in range(5):
        done.add(1.0, done_at=float(k))
    assert not done.finished.is_set()
    done.close_window()
    assert done.finished.is_set()
    assert done.result().frames == 5


def test_given_frames_past_the_expected_ones_when_measured_then_they_stay_out_of_the_window() -> None:
    done = Completions(warmup=1, expected=5)
    for k in range(5):
        done.add(10.0, done_at=float(k))
    assert done.finished.is_set()
    done.add(500.0, done_at=100.0)  # a tail frame, long after: neither its time nor its latency counts
    measured = done.result()
    assert (measured.frames, measured.measured) == (5, 4)
    assert measured.fps == pytest.approx(1.0)
    assert max(measured.latency_ms) == 10.0


def test_given_a_probe_when_measured_then_its_cpu_is_reported_over_the_same_window() -> None:
    readings = iter([10.0, 10.5])
    done = Completions(warmup=0, expected=2, probe=lambda: next(readings))
    done.add(1.0)
    done.add(1.0)
    measured = done.result()
    assert measured.usage is not None
    assert measured.probe_pct == pytest.approx(0.5 / measured.usage.seconds * 100.0)


def test_a_negative_warmup_is_refused() -> None:
    with pytest.raises(ValueError, match="warmup"):
        Completions(warmup=-1)


def test_given_more_frames_than_it_keeps_when_measured_then_a_uniform_sample_of_latencies_remains() -> None:
    done = Completions(warmup=10, keep=1000)
    for k in range(20_010):
        done.add(float(k % 100), done_at=k * 0.01)  # latencies 0..99 ms, evenly
    measured = done.result()
    assert measured.frames == 20_010
    assert measured.measured == 20_000
    assert measured.fps == pytest.approx(100.0)  # every frame counts towards fps, kept or not
    assert len(measured.latency_ms) == 1000
    assert 40.0 < sorted(measured.latency_ms)[500] < 60.0  # the sample's median is near the true 49.5
