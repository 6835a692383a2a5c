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


def steady_fps(done_at: Sequence[float], warmup: int) -> float:
    """Frames per second after the first ``warmup`` completions, from completion times in seconds.

    The window opens at the ``warmup``-th completion (0-based index ``warmup``) and closes at the last;
    it holds ``len - 1 - warmup`` inter-completion gaps. Start-up (compilation, first-inference
    allocation, broker connection) is thereby left out of every mode alike. NaN when fewer than two
    completions remain after the warm-up, or when they share one instant.
    """
    times = sorted(done_at)
    if warmup < 0:
        msg = f"warmup must be >= 0, got {warmup}"
        raise ValueError(msg)
    if len(times) - warmup < 2:
        return math.nan
    span = times[-1] - times[warmup]
    return (len(times) - 1 - warmup) / span if span > 0 else math.nan


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
    )
