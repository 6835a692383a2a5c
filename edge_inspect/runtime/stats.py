"""Thread-safe counters and latency percentiles for the stats topic, logs and benchmarks."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from edge_inspect.types import Verdict

_WINDOW = 2048


class Stats:
    """Counters since start, plus the last ``window`` latencies per stage for percentiles."""

    def __init__(self, window: int = _WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._counters: collections.Counter[str] = collections.Counter()
        self._latency: dict[str, collections.deque[float]] = collections.defaultdict(
            lambda: collections.deque(maxlen=window)
        )
        self._first_done: float | None = None
        self._last_done: float | None = None
        self.gauges: dict[str, Callable[[], float]] = {}
        """Sampled when a snapshot is taken (queue depths, outbox depth...)."""

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] += n

    def declare(self, *names: str) -> None:
        """Counters that exist from the start, at 0 until their first event (dashboards, ``rate()``)."""
        with self._lock:
            for name in names:
                self._counters[name] += 0

    def verdict(self, verdict: Verdict) -> None:
        now = self._clock()
        with self._lock:
            self._counters["frames"] += 1
            self._counters[f"verdict.{verdict.value}"] += 1
            if self._first_done is None:
                self._first_done = now
            self._last_done = now

    def latency(self, stage: str, ms: float) -> None:
        with self._lock:
            self._latency[stage].append(ms)

    def counter(self, name: str) -> int:
        with self._lock:
            return self._counters[name]

    def counters(self) -> dict[str, int]:
        """A copy of every counter, without sampling gauges or computing percentiles (for exporters)."""
        with self._lock:
            return dict(self._counters)

    def snapshot(self) -> dict[str, Any]:
        """Counters, fps over the processed span, and p50/p99 per stage, as plain data."""
        with self._lock:
            counters = dict(self._counters)
            latencies = {k: np.fromiter(v, dtype=np.float64) for k, v in self._latency.items() if v}
            first, last = self._first_done, self._last_done
        frames = counters.get("frames", 0)
        span = (last - first) if first is not None and last is not None else 0.0
        fps = (frames - 1) / span if frames > 1 and span > 0 else 0.0
        return {
            "uptime_s": self._clock() - self._started,
            "counters": counters,
            "fps": fps,
            "latency_ms": {
                stage: {
                    "p50": float(np.percentile(v, 50)),
                    "p99": float(np.percentile(v, 99)),
                    "mean": float(v.mean()),
                }
                for stage, v in latencies.items()
            },
            "gauges": {name: float(fn()) for name, fn in self.gauges.items()},
        }


def verdict_counts(counters: Mapping[str, int]) -> dict[str, int]:
    return {v.value: counters.get(f"verdict.{v.value}", 0) for v in Verdict}
