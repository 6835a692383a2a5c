"""The bench's arithmetic, checked against figures worked out by hand."""

from __future__ import annotations

import math

import pytest

from edge_inspect.bench.figures import ratio, rss_trend, summarize_latencies, window_fps


def test_given_1_to_100_ms_when_summarised_then_percentiles_interpolate_like_numpy() -> None:
    summary = summarize_latencies([float(v) for v in range(1, 101)])
    # linear interpolation over 100 values: rank = q/100 * 99
    assert summary.count == 100
    assert summary.p50 == pytest.approx(50.5)
    assert summary.p95 == pytest.approx(95.05)
    assert summary.p99 == pytest.approx(99.01)
    assert summary.mean == pytest.approx(50.5)
    assert summary.max == 100.0


def test_given_one_slow_outlier_when_summarised_then_only_the_tail_sees_it() -> None:
    summary = summarize_latencies([10.0] * 99 + [1000.0])
    assert summary.p50 == 10.0
    assert summary.p95 == 10.0
    assert summary.p99 == pytest.approx(10.0 + 0.01 * 990.0)


def test_given_no_samples_when_summarised_then_figures_are_nan_not_an_error() -> None:
    summary = summarize_latencies([])
    assert summary.count == 0
    assert math.isnan(summary.p50)
    assert math.isnan(summary.p99)


def test_given_21_frames_over_2_seconds_when_fps_then_20_gaps_make_10_fps() -> None:
    assert window_fps(21, 2.0) == pytest.approx(10.0)


def test_given_too_few_frames_or_no_span_when_fps_then_nan() -> None:
    assert math.isnan(window_fps(1, 2.0))
    assert math.isnan(window_fps(5, 0.0))


@pytest.mark.parametrize(
    ("num", "den", "expected"),
    [(45.0, 50.0, 0.9), (1.0, 0.0, math.nan), (math.nan, 2.0, math.nan), (2.0, -1.0, math.nan)],
)
def test_ratio_is_nan_when_it_has_no_meaning(num: float, den: float, expected: float) -> None:
    result = ratio(num, den)
    assert (math.isnan(result) and math.isnan(expected)) or result == pytest.approx(expected)


def test_given_rss_rising_by_10_mb_per_hour_when_trended_then_growth_and_slope_say_so() -> None:
    times = [0.0, 900.0, 1800.0]
    rss = [200.0, 202.5, 205.0]
    trend = rss_trend(times, rss)
    assert trend.growth_pct == pytest.approx(2.5)
    assert trend.slope_mb_per_h == pytest.approx(10.0)
    assert trend.max_mb == 205.0
    assert trend.span_s == 1800.0
    assert trend.samples == 3


def test_given_a_single_rss_sample_when_trended_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="two or more"):
        rss_trend([0.0], [100.0])
