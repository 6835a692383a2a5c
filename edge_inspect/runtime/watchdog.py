"""Watchdogs: a source that went silent is restarted, a stuck inference gets a fresh engine, and a daemon
that keeps needing restarts exits non-zero so that systemd starts it afresh.

The checks are pure functions of timestamps (:func:`overdue`), so they are tested without threads; the
:class:`Watchdog` thread applies them every ``check_interval_s`` and acts through callbacks that the
composition root wires to the pipeline. Restarts are capped per kind by a :class:`RestartBudget`
(``max_restarts_per_minute`` within any 60 s); one restart more is fatal.

systemd's own watchdog (``WatchdogSec=``) is fed by :class:`SystemdWatchdog`, called from the
pipeline's deciding (and publishing) loop, not from a timer thread: a timer would go on pinging while the
pipeline is wedged. That loop runs after every result and, when the line is idle (no part, no
trigger), at least every ``watchdog.tick_s``, so an idle daemon stays alive, while a loop stuck in a sink
stops the pings. Stuck stages upstream are this module's job; the ping also stops if this watchdog
thread itself has died.
"""

from __future__ import annotations

import collections
import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from edge_inspect.config.watchdog import WatchdogConfig
from edge_inspect.runtime.notify import SystemdNotifier

log = structlog.get_logger(__name__)

EXIT_WATCHDOG = 3
"""Exit status when restarts ran out: non-zero, so that systemd (``Restart=on-failure``) restarts us."""
_WINDOW_S = 60.0


class Remedy(str, enum.Enum):
    RESTART_SOURCE = "restart_source"
    RESTART_ENGINE = "restart_engine"


@dataclass(frozen=True, slots=True)
class Finding:
    """One check that failed: what to do, and a sentence for the log."""

    remedy: Remedy
    reason: str


def overdue(
    now: float, last_frame: float, oldest_inference: float | None, config: WatchdogConfig
) -> list[Finding]:
    """Which watchdogs fire at ``now`` (monotonic seconds): pure, for the thread and the tests."""
    findings = []
    silent = now - last_frame
    if config.no_frame_timeout_s is not None and silent > config.no_frame_timeout_s:
        findings.append(
            Finding(
                Remedy.RESTART_SOURCE,
                f"no frame from the source for {silent:.1f} s "
                f"(no_frame_timeout_s {config.no_frame_timeout_s})",
            )
        )
    if oldest_inference is not None and config.inference_timeout_s is not None:
        running = now - oldest_inference
        if running > config.inference_timeout_s:
            findings.append(
                Finding(
                    Remedy.RESTART_ENGINE,
                    f"an inference has run for {running:.1f} s "
                    f"(inference_timeout_s {config.inference_timeout_s})",
                )
            )
    return findings


class RestartBudget:
    """At most ``per_minute`` restarts within any 60 s; :meth:`take` says whether one more is allowed."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._times: collections.deque[float] = collections.deque()

    def take(self) -> bool:
        now = self._clock()
        while self._times and now - self._times[0] >= _WINDOW_S:
            self._times.popleft()
        if len(self._times) >= self.per_minute:
            return False
        self._times.append(now)
        return True

    def __len__(self) -> int:
        return len(self._times)


@dataclass(frozen=True, slots=True)
class Probes:
    """What the watchdog reads (monotonic timestamps), wired to the pipeline by the composition root."""

    last_frame: Callable[[], float]
    oldest_inference: Callable[[], float | None]


@dataclass(frozen=True, slots=True)
class Remedies:
    """What the watchdog does. ``fatal`` gets the reason when a budget has run out."""

    restart_source: Callable[[], None]
    restart_engine: Callable[[str], None]
    fatal: Callable[[str], None]


class Watchdog:
    """A thread that checks :func:`overdue` every ``check_interval_s`` and applies the remedies."""

    def __init__(
        self,
        config: WatchdogConfig,
        probes: Probes,
        remedies: Remedies,
        *,
        count: Callable[[str, int], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.probes = probes
        self.remedies = remedies
        self._count = count or (lambda _name, _n: None)
        self._clock = clock
        self._budgets = {remedy: RestartBudget(config.max_restarts_per_minute, clock) for remedy in Remedy}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._source_grace_until = 0.0
        self.fatal_reason: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)

    @property
    def alive(self) -> bool:
        """The thread runs (or was never started) and no budget has run out."""
        thread_ok = self._thread is None or self._thread.is_alive() or self._stop.is_set()
        return thread_ok and self.fatal_reason is None

    def _run(self) -> None:
        while not self._stop.wait(self.config.check_interval_s):
            try:
                self.check()
            except Exception:
                log.exception("watchdog check failed")  # keep watching: the next check may work
            if self.fatal_reason is not None:
                return

    def check(self) -> list[Finding]:
        """One round: read the probes, apply what :func:`overdue` finds; returns the findings."""
        now = self._clock()
        last_frame = max(self.probes.last_frame(), self._source_grace_until)
        findings = overdue(now, last_frame, self.probes.oldest_inference(), self.config)
        for finding in findings:
            self._apply(finding)
            if self.fatal_reason is not None:
                break
        return findings

    def _apply(self, finding: Finding) -> None:
        kind = finding.remedy.value
        self._count(f"watchdog.{kind}", 1)
        if not self._budgets[finding.remedy].take():
            reason = (
                f"{finding.reason}; more than {self.config.max_restarts_per_minute} restarts "
                f"({kind}) within a minute"
            )
            log.error("ALARM watchdog: giving up, exiting for a fresh start", alarm="watchdog", reason=reason)
            self.fatal_reason = reason
            self.remedies.fatal(reason)
            return
        log.error(f"ALARM watchdog: {kind}", alarm=f"watchdog_{kind}", reason=finding.reason)
        if finding.remedy is Remedy.RESTART_SOURCE:
            # the source gets a full timeout to deliver its first frame before it is judged again
            self._source_grace_until = self._clock()
            self.remedies.restart_source()
        else:
            self.remedies.restart_engine(finding.reason)


class SystemdWatchdog:
    """Feeds systemd from the processing loop: READY=1 once, WATCHDOG=1 at most once per ``min_gap_s``."""

    def __init__(
        self,
        notifier: SystemdNotifier,
        healthy: Callable[[], bool],
        *,
        min_gap_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.healthy = healthy
        self.min_gap_s = min_gap_s
        self._clock = clock
        self._last_ping = float("-inf")
        self._ready = False

    def ready(self, status: str) -> None:
        """READY=1 (once): after the first processed frame, or at start (``watchdog.ready_on``)."""
        if not self._ready:
            self._ready = True
            self.notifier.ready(status)

    def tick(self) -> None:
        """From the processing loop: WATCHDOG=1, unless the in-process watchdog is dead or gave up."""
        now = self._clock()
        if now - self._last_ping < self.min_gap_s or not self.healthy():
            return
        self._last_ping = now
        self.notifier.watchdog()
