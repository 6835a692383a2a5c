"""Modes (b), (d) and (e): the whole daemon, :class:`~edge_inspect.app.App` as ``edge-inspect run`` builds it.

Frames are replayed from memory (flat out for (b), at a fixed rate for (d), for a set time for (e)) and
go through the daemon's own threads, engine and publisher to a real broker at the config's QoS. A frame
counts when the broker's PUBACK for its result arrives (the publisher's ``on_ack`` hook, with the
result's id); its latency runs from the frame's release by the source (``captured_at``) to that PUBACK.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge_inspect.app import App
from edge_inspect.bench.completions import Completions, Measured
from edge_inspect.bench.figures import RssTrend, rss_trend
from edge_inspect.bench.resources import RssSampler, rss_anon_mb, rss_mb
from edge_inspect.config import AppConfig
from edge_inspect.errors import EdgeInspectError
from edge_inspect.types import InspectionResult, Verdict

_JOIN_SLACK_S = 60.0
_WARMUP_POLL_S = 0.5


class AckRecorder:
    """A ResultSink that notes each result's release time, and the ``on_ack`` hook that completes it.

    The publisher is the pipeline's first sink, so a PUBACK may arrive before this sink sees the same
    result: both sides are kept by result id and matched whichever comes first.
    """

    name = "bench"

    def __init__(self, completions: Completions) -> None:
        self.completions = completions
        self._lock = threading.Lock()
        self._released: dict[str, float] = {}
        self._early_acks: dict[str, float] = {}
        self.errors = 0
        self.first_release: float | None = None
        self.last_release: float | None = None
        self.released = 0

    def handle(self, result: InspectionResult) -> None:
        with self._lock:
            self.released += 1
            if result.verdict is Verdict.ERROR:
                self.errors += 1
            captured = result.captured_at
            self.first_release = captured if self.first_release is None else min(self.first_release, captured)
            self.last_release = captured if self.last_release is None else max(self.last_release, captured)
            acked_at = self._early_acks.pop(result.result_id, None)
            if acked_at is None:
                self._released[result.result_id] = captured
                return
        self.completions.add((acked_at - captured) * 1000.0)

    def acked(self, result_id: str) -> None:
        """The publisher's PUBACK hook (its network thread): the frame is done now."""
        now = time.time()
        with self._lock:
            captured = self._released.pop(result_id, None)
            if captured is None:
                self._early_acks[result_id] = now
                return
        self.completions.add((now - captured) * 1000.0)

    def unacknowledged(self) -> int:
        with self._lock:
            return len(self._released)

    def offered_fps(self) -> float | None:
        """The rate frames were released at, from the first and last release (None for fewer than 2)."""
        with self._lock:
            first, last, count = self.first_release, self.last_release, self.released
        if first is None or last is None or count < 2 or last <= first:
            return None
        return (count - 1) / (last - first)

    def close(self) -> None:
        """Nothing to release (ResultSink Protocol)."""


@dataclass(frozen=True, slots=True)
class DaemonRun:
    measured: Measured
    errors: int
    unacknowledged: int
    offered_fps: float | None
    rss: RssTrend | None
    rss_anon: RssTrend | None


def _trend(sampler: RssSampler, since: float | None) -> RssTrend | None:
    times, values = sampler.samples(since if since is not None else float("-inf"))
    return rss_trend(times, values) if len(times) >= 2 else None


def _join_while_progressing(
    thread: threading.Thread, completions: Completions, stall_s: float, until: threading.Event | None = None
) -> None:
    """Wait for the daemon's thread (or for ``until``) as long as frames keep being acknowledged (a run
    of any length), giving up once none has come for ``stall_s``."""
    seen, since = -1, time.monotonic()
    while thread.is_alive() and not (until is not None and until.is_set()):
        thread.join(_WARMUP_POLL_S)
        count = len(completions)
        if count != seen:
            seen, since = count, time.monotonic()
        elif time.monotonic() - since > stall_s:
            return


def run_daemon(
    config: AppConfig,
    *,
    warmup: int,
    expected: int | None,
    duration_s: float | None = None,
    rss_every_s: float | None = None,
    probe: Callable[[], float | None] | None = None,
) -> DaemonRun:
    """Run the daemon on ``config`` until ``expected`` frames are acknowledged, or ``duration_s`` passes;
    then stop it. Give it a replay that does not end sooner (``loop: 0``): the window then closes while
    every stage thread still works (their CPU is read at its edges; a thread that has ended cannot be),
    and the drain after the stop stays out of the figures.

    ``duration_s`` counts from the end of the warm-up, so the measured window lasts that long.
    ``probe`` reads the broker's CPU seconds at the measured window's edges; ``rss_every_s`` samples
    this process's RSS (all of it, and its anonymous part) for the long-run trend, from the end of the
    warm-up to the end of the run.
    """
    completions = Completions(warmup, expected=expected, probe=probe)
    recorder = AckRecorder(completions)
    app = App(config, extra_sinks=[recorder])
    app.publisher.on_ack = recorder.acked
    samplers = (
        [RssSampler(rss_every_s, read).start() for read in (rss_mb, rss_anon_mb)] if rss_every_s else []
    )
    failure: list[BaseException] = []

    def run() -> None:
        try:
            app.run()
        except BaseException as exc:  # re-raised on the calling thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="bench-daemon", daemon=True)
    thread.start()
    if duration_s is not None:
        while thread.is_alive() and completions.warmed_up_at() is None:
            thread.join(_WARMUP_POLL_S)
        thread.join(duration_s)
        for sampler in samplers:
            sampler.stop()
        completions.close_window()
        app.request_stop()
    stall_s = config.runtime.shutdown_grace_s + _JOIN_SLACK_S
    if duration_s is None and expected is not None:
        _join_while_progressing(thread, completions, stall_s, until=completions.finished)
        app.request_stop()
    _join_while_progressing(thread, completions, stall_s)
    if duration_s is None:
        for sampler in samplers:
            sampler.stop()
    if thread.is_alive():
        msg = f"the daemon acknowledged no frame for {stall_s:.0f} s and did not stop; the bench gives up"
        raise EdgeInspectError(msg)
    if failure:
        raise failure[0]
    completions.close_window()
    measured = completions.result()
    since = completions.warmed_up_at()
    total, anon = [_trend(s, since) for s in samplers] or [None, None]
    return DaemonRun(
        measured, recorder.errors, recorder.unacknowledged(), recorder.offered_fps(), total, anon
    )
