"""The arithmetic of a benchmark, pure: percentiles, steady-state throughput, ratios, RSS trend.

Kept apart from the runners so that every figure the report prints is computed by one small function
that a test can check against numbers worked out by hand.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

PERCENTILES = (50.0, 95.0, 99.0)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """Percentiles of a latency sample, milliseconds; ``count`` samples were summarised."""

    count: int
    p50: float
    p95: float
    p99: float
    mean: float
    max: float


def summarize_latencies(samples_ms: Sequence[float]) -> LatencySummary:
    """p50 / p95 / p99 (linear interpolation, as numpy), mean and max of ``samples_ms``.

    An empty sample gives NaN figures rather than an error: a mode that acknowledged nothing still
    gets a report line that says so.
    """
    if not samples_ms:
        nan = math.nan
        return LatencySummary(0, nan, nan, nan, nan, nan)
    values = np.asarray(samples_ms, dtype=np.float64)
    p50, p95, p99 = (float(v) for v in np.percentile(values, PERCENTILES))
    return LatencySummary(len(values), p50, p95, p99, float(values.mean()), float(values.max()))


def window_fps(frames: int, span_s: float) -> float:
    """Frames per second of a measured window that opened with a completion and holds ``frames`` of them.

    The window opens at the first completion after the warm-up and closes at the last, so it holds
    ``frames - 1`` inter-completion gaps: start-up (compilation, first-inference allocation, broker
    connection) is left out of every mode alike. NaN with fewer than two frames or a zero span.
    """
    if frames < 2 or span_s <= 0:
        return math.nan
    return (frames - 1) / span_s


def ratio(numerator: float, denominator: float) -> float:
    """``numerator / denominator``; NaN when either is NaN or the denominator is not positive."""
    if math.isnan(numerator) or math.isnan(denominator) or denominator <= 0:
        return math.nan
    return numerator / denominator


@dataclass(frozen=True, slots=True)
class RssTrend:
    """How resident memory moved over a long run, from samples taken after the warm-up."""

    start_mb: float
    end_mb: float
    max_mb: float
    growth_pct: float
    """``(end - start) / start`` in percent: what the < 5 % target is judged on."""
    slope_mb_per_h: float
    """Least-squares slope over every sample: a leak shows as a steady positive slope."""
    samples: int
    span_s: float
    series: tuple[tuple[float, float], ...] = ()
    """Every sample as (seconds since the first, MB), for a closer look at where it grew."""


def rss_trend(times_s: Sequence[float], rss_mb: Sequence[float]) -> RssTrend:
    """Growth and slope of RSS samples ``(time, MB)``; needs at least two samples."""
    if len(times_s) != len(rss_mb) or len(times_s) < 2:
        msg = f"need two or more (time, rss) samples of equal count, got {len(times_s)} and {len(rss_mb)}"
        raise ValueError(msg)
    t = np.asarray(times_s, dtype=np.float64)
    m = np.asarray(rss_mb, dtype=np.float64)
    span = float(t[-1] - t[0])
    slope = float(np.polyfit(t - t[0], m, 1)[0]) * 3600.0 if span > 0 else math.nan
    return RssTrend(
        start_mb=float(m[0]),
        end_mb=float(m[-1]),
        max_mb=float(m.max()),
        growth_pct=ratio(float(m[-1] - m[0]), float(m[0])) * 100.0,
        slope_mb_per_h=slope,
        samples=len(m),
        span_s=span,
        series=tuple((round(float(ti - t[0]), 1), round(float(mi), 2)) for ti, mi in zip(t, m, strict=True)),
    )
