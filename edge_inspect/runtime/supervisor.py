"""Supervision of one pipeline: the in-process watchdog, its remedies, and systemd's notifications.

The composition root builds one :class:`Supervisor` per pipeline and hands it a way to open a fresh
engine (the runtime knows engines only by their Protocol). Everything here is wiring of
:mod:`edge_inspect.runtime.watchdog` and :mod:`edge_inspect.runtime.notify` onto the pipeline's hooks:

- ``pipeline.on_frame_done``  -> READY=1 after the first processed frame (``watchdog.ready_on``);
- ``pipeline.on_tick``        -> WATCHDOG=1 from the deciding loop, while the watchdog thread is alive;
- the watchdog's remedies     -> ``pipeline.request_source_restart`` / ``pipeline.restart_engine``;
- a budget that ran out       -> ``on_fatal`` (the daemon stops and exits with :data:`EXIT_WATCHDOG`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import structlog

from edge_inspect.config.watchdog import WatchdogConfig
from edge_inspect.runtime.notify import SystemdNotifier, watchdog_interval_s
from edge_inspect.runtime.pipeline import Pipeline
from edge_inspect.runtime.watchdog import EXIT_WATCHDOG, Probes, Remedies, SystemdWatchdog, Watchdog
from edge_inspect.types import Engine, InspectionResult

log = structlog.get_logger(__name__)

_ENGINE_CLOSE_WAIT_S = 5.0

__all__ = ["EXIT_WATCHDOG", "Supervisor"]


class Supervisor:
    """Watches ``pipeline``; :attr:`fatal_reason` is set when the daemon must exit for a fresh start."""

    def __init__(
        self,
        config: WatchdogConfig,
        pipeline: Pipeline,
        *,
        open_engine: Callable[[], Engine],
        on_fatal: Callable[[], None],
        notifier: SystemdNotifier | None = None,
        count: Callable[[str, int], None] | None = None,
    ) -> None:
        self.config = config
        self.pipeline = pipeline
        self._open_engine = open_engine
        self._on_fatal = on_fatal
        self.notifier = notifier if notifier is not None else SystemdNotifier.from_env()
        self.fatal_reason: str | None = None
        self.watchdog = Watchdog(
            config,
            Probes(self._last_frame, pipeline.oldest_inference),
            Remedies(self._restart_silent_sources, self._restart_engine, self._fatal),
            count=count,
        )
        interval = watchdog_interval_s()
        # a ping at most every second, and at least four per WatchdogSec: room for a slow frame or tick
        gap = min(1.0, interval / 4) if interval is not None else 1.0
        self.feeder = SystemdWatchdog(self.notifier, lambda: self.watchdog.alive, min_gap_s=gap)
        chained = pipeline.on_frame_done
        pipeline.on_frame_done = self._frame_done if chained is None else _both(chained, self._frame_done)
        pipeline.on_tick = self.feeder.tick
        if interval is not None and interval < 2 * config.tick_s:
            log.warning("WatchdogSec is short for watchdog.tick_s", watchdog_s=interval, tick_s=config.tick_s)

    def start(self) -> None:
        self.watchdog.start()
        if self.config.ready_on == "started":
            self.feeder.ready("started")

    def stopping(self) -> None:
        """STOPPING=1, and no more restarts: the daemon is on its way out."""
        self.notifier.stopping(self.fatal_reason or "shutting down")
        self.watchdog.stop()

    @property
    def exit_code(self) -> int:
        return EXIT_WATCHDOG if self.fatal_reason is not None else 0

    # --------------------------------------------------------------------------------------- remedies

    def _last_frame(self) -> float:
        return self.pipeline.last_frame()

    def _restart_silent_sources(self) -> None:
        """Re-open the cameras silent for ``no_frame_timeout_s``, not the ones still delivering."""
        limit = self.config.no_frame_timeout_s
        silent = self.pipeline.silent_cameras(time.monotonic() - limit) if limit is not None else []
        log.warning("restarting silent sources", cameras=[c for c in silent if c] or "all")
        self.pipeline.request_source_restart(silent or None)

    def _frame_done(self, result: InspectionResult) -> None:
        if self.config.ready_on == "first_frame":
            self.feeder.ready(f"first frame processed ({result.verdict.value})")

    def _restart_engine(self, reason: str) -> None:
        """Open a fresh engine from the package, swap it in, close the old one off-thread (it may hang)."""
        fresh = self._open_engine()
        old = self.pipeline.restart_engine(fresh, reason)
        closer = threading.Thread(target=_close_quietly, args=(old,), name="engine-close", daemon=True)
        closer.start()
        closer.join(_ENGINE_CLOSE_WAIT_S)
        if closer.is_alive():
            log.error("the old engine does not close; left behind", wait_s=_ENGINE_CLOSE_WAIT_S)

    def _fatal(self, reason: str) -> None:
        self.fatal_reason = reason
        self.notifier.status(f"watchdog: {reason}")
        self._on_fatal()


def _close_quietly(engine: Engine) -> None:
    try:
        engine.close()
    except Exception as exc:
        log.warning("closing the old engine failed", error=str(exc))


def _both(
    first: Callable[[InspectionResult], None], second: Callable[[InspectionResult], None]
) -> Callable[[InspectionResult], None]:
    def call(result: InspectionResult) -> None:
        first(result)
        second(result)

    return call
