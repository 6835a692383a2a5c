"""Thread-safe records of when frames finished, shared by every mode.

:class:`Completions` is told of each finished frame (an inference callback, a PUBACK) with its latency;
it keeps the completion times for the steady fps, and takes the resource samples at the two edges of
the measured window: when the warm-up ends and when the last expected frame is done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_inspect.bench.figures import steady_fps
from edge_inspect.bench.resources import ResourceSample, Usage, sample, usage


@dataclass(frozen=True, slots=True)
class Measured:
    """What a finished run measured: completions, fps and latency after the warm-up, and its cost."""

    frames: int
    measured: int
    """Frames after the warm-up: their latencies are summarised, their completions give the fps."""
    fps: float
    latency_ms: list[float]
    usage: Usage | None
    probe_pct: float | None = None
    """CPU percent of the probed process (the broker) over the same window, when there is a probe."""


class Completions:
    """Collects ``(done_at, latency_ms)``; ``finished`` is set once ``expected`` frames are in."""

    def __init__(
        self, warmup: int, expected: int | None = None, probe: Callable[[], float | None] | None = None
    ) -> None:
        """``probe`` returns another process's CPU seconds (the broker's), read at the window's edges."""
        if warmup < 0:
            msg = f"warmup must be >= 0, got {warmup}"
            raise ValueError(msg)
        self.warmup = warmup
        self.expected = expected
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self._done_at: list[float] = []
        self._latency_ms: list[float] = []
        self._start: ResourceSample | None = None
        self._end: ResourceSample | None = None
        self._probe = probe
        self._probed: list[float | None] = []

    def add(self, latency_ms: float, done_at: float | None = None) -> None:
        """One frame finished (any thread); ``done_at`` is its ``time.monotonic()``, now by default."""
        at = time.monotonic() if done_at is None else done_at
        with self._lock:
            index = len(self._done_at)
            self._done_at.append(at)
            self._latency_ms.append(latency_ms)
        if index == self.warmup:
            self._start = self._sample()
        if self.expected is not None and index == self.expected - 1:
            self._end = self._sample()
            self.finished.set()

    def _sample(self) -> ResourceSample:
        if self._probe is not None:
            self._probed.append(self._probe())
        return sample()

    def __len__(self) -> int:
        with self._lock:
            return len(self._done_at)

    def close_window(self) -> None:
        """End the measured window now (a run stopped by time rather than by a frame count)."""
        if self._end is None and self._start is not None:
            self._end = self._sample()
        self.finished.set()

    def warmed_up_at(self) -> float | None:
        """Monotonic time the warm-up ended (None until it has)."""
        return self._start.at if self._start is not None else None

    def result(self) -> Measured:
        """Figures over the frames after the warm-up (latencies in completion order)."""
        with self._lock:
            done_at, latency = list(self._done_at), list(self._latency_ms)
        order = sorted(range(len(done_at)), key=done_at.__getitem__)
        steady = [latency[i] for i in order[self.warmup :]]
        if self._end is None and self._start is not None:
            self._end = self._sample()
        start, end = self._start, self._end
        cost = usage(start, end) if start is not None and end is not None else None
        return Measured(
            frames=len(done_at),
            measured=len(steady),
            fps=steady_fps(done_at, self.warmup),
            latency_ms=steady,
            usage=cost,
            probe_pct=self._probe_pct(cost),
        )

    def _probe_pct(self, cost: Usage | None) -> float | None:
        if cost is None or len(self._probed) < 2 or cost.seconds <= 0:
            return None
        first, last = self._probed[0], self._probed[-1]
        if first is None or last is None:
            return None
        return (last - first) / cost.seconds * 100.0
