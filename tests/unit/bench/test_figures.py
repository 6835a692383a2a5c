"""The bench's arithmetic, checked against figures worked out by hand."""

from __future__ import annotations

import math

import pytest

from edge_inspect.bench.figures import ratio, rss_trend, steady_fps, summarize_latencies


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


def test_given_completions_every_100_ms_after_a_slow_start_when_fps_then_the_start_is_left_out() -> None:
    # warm-up: 3 frames over 5 s (compilation, first inference); then one frame every 0.1 s
    done = [0.0, 2.5, 5.0, *(5.0 + 0.1 * k for k in range(1, 21))]
    assert steady_fps(done, warmup=3) == pytest.approx(10.0)
    assert steady_fps(done, warmup=0) < 4.5


def test_given_completions_out_of_order_when_fps_then_they_are_sorted_first() -> None:
    assert steady_fps([0.4, 0.0, 0.2, 0.1, 0.3], warmup=0) == pytest.approx(10.0)


def test_given_too_few_completions_after_the_warmup_when_fps_then_nan() -> None:
    assert math.isnan(steady_fps([0.0, 1.0, 2.0], warmup=2))
    assert math.isnan(steady_fps([1.0, 1.0], warmup=0))
    with pytest.raises(ValueError, match="warmup"):
        steady_fps([0.0, 1.0], warmup=-1)


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
