"""Thread-safe records of when frames finished, shared by every mode, in memory fixed at the start.

:class:`Completions` is told of each finished frame (an inference callback, a PUBACK) with its latency.
It counts them, notes when the measured window opens (the end of the warm-up) and when the last frame
came, and keeps the latencies after the warm-up in a buffer allocated up front: every one of them while
they fit, a uniform sample (reservoir sampling) beyond that. So a 30-minute run does not grow the very
resident memory it is measuring. The resource samples are taken at the window's two edges.
"""

from __future__ import annotations

import array
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_inspect.bench.figures import window_fps
from edge_inspect.bench.resources import ResourceSample, Usage, sample, usage

DEFAULT_KEEP = 50_000
"""Latencies kept exactly; a longer run keeps a uniform sample of this many (400 KB, allocated once)."""


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
    """Counts completions; ``finished`` is set once ``expected`` frames are in. Frames past ``expected``
    are counted but not measured: a run may go on a little so that it is still running at the window's end
    (every thread alive for the per-thread CPU figures, no drain in the fps)."""

    def __init__(
        self,
        warmup: int,
        expected: int | None = None,
        probe: Callable[[], float | None] | None = None,
        keep: int = DEFAULT_KEEP,
    ) -> None:
        """``probe`` returns another process's CPU seconds (the broker's), read at the window's edges."""
        if warmup < 0 or keep < 1:
            msg = f"warmup must be >= 0 and keep >= 1, got warmup={warmup}, keep={keep}"
            raise ValueError(msg)
        self.warmup = warmup
        self.expected = expected
        self.finished = threading.Event()
        self._lock = threading.Lock()
        self._count = 0
        self._opened_at: float | None = None
        self._last_at: float | None = None
        self._latency = array.array("d", bytes(8 * keep))
        self._kept = 0
        self._rng = random.Random(0)  # noqa: S311 (sampling, not security)
        self._start: ResourceSample | None = None
        self._end: ResourceSample | None = None
        self._probe = probe
        self._probed: list[float | None] = []

    def add(self, latency_ms: float, done_at: float | None = None) -> None:
        """One frame finished (any thread); ``done_at`` is its ``time.monotonic()``, now by default."""
        with self._lock:
            at = time.monotonic() if done_at is None else done_at
            index = self._count
            self._count += 1
            if self.expected is not None and index >= self.expected:
                return  # past the window: a tail that keeps the pipeline running while it closes
            self._last_at = at
            if index >= self.warmup:
                self._keep(index - self.warmup, latency_ms)
            if index == self.warmup:
                self._opened_at = at
        if index == self.warmup:
            self._start = self._sample()
        if self.expected is not None and index == self.expected - 1:
            self._end = self._sample()
            self.finished.set()

    def _keep(self, seen: int, latency_ms: float) -> None:
        """Reservoir sampling (Algorithm R): the ``seen``-th steady latency replaces a random kept one."""
        capacity = len(self._latency)
        if seen < capacity:
            self._latency[seen] = latency_ms
            self._kept = seen + 1
            return
        slot = self._rng.randint(0, seen)
        if slot < capacity:
            self._latency[slot] = latency_ms

    def _sample(self) -> ResourceSample:
        if self._probe is not None:
            self._probed.append(self._probe())
        return sample()

    def __len__(self) -> int:
        with self._lock:
            return self._count

    def close_window(self) -> None:
        """End the measured window now (a run stopped by time rather than by a frame count)."""
        if self._end is None and self._start is not None:
            self._end = self._sample()
        self.finished.set()

    def warmed_up_at(self) -> float | None:
        """Monotonic time the warm-up ended (None until it has)."""
        return self._start.at if self._start is not None else None

    def result(self) -> Measured:
        """Figures over the frames after the warm-up."""
        with self._lock:
            count, opened, last = self._count, self._opened_at, self._last_at
            latency = self._latency[: self._kept].tolist()
        if self._end is None and self._start is not None:
            self._end = self._sample()
        start, end = self._start, self._end
        cost = usage(start, end) if start is not None and end is not None else None
        if self.expected is not None:
            count = min(count, self.expected)  # frames past the window are not its figures
        steady = max(0, count - self.warmup)
        span = (last - opened) if opened is not None and last is not None else 0.0
        return Measured(
            frames=count,
            measured=steady,
            fps=window_fps(steady, span),
            latency_ms=latency,
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
