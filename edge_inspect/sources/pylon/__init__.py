"""The Basler camera source (pypylon): free-run or triggered frames, faults counted, removals survived.

- Free-run: pylon keeps only the latest image (``drop_oldest``; skipped images are counted as drops) or
  queues every image (``block``). A failed buffer is a drop; a grab timeout is counted and logged.
- Triggered (hardware line or software): images are grabbed one by one and never dropped. A failed
  buffer becomes a frame with ``error`` set (an ERROR result). Every software trigger gives exactly one
  frame: the image, or an error frame (no image in time, camera gone, source stopped first).
- Software triggers come from the source's own timer (``trigger.software_interval_s``, optionally for a
  fixed ``software_count``) or from :meth:`PylonSource.trigger`, which any thread may call (e.g. a command
  handler); a trigger asked for while the camera is away gets an error frame at once.
- A removed or failed camera is destroyed and re-created from its serial number with back-off; the whole
  configuration is applied again, and frames resume without restarting the daemon. States go to the
  status listener: ``online``, ``reconnecting``, ``offline`` (no image for ``no_frame_timeout_s``, or closed).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import structlog

from edge_inspect.config.sources import PylonSourceConfig
from edge_inspect.errors import SourceError
from edge_inspect.sources.pylon.camera import CameraSession, Grab
from edge_inspect.sources.pylon.faults import Counters, backoff
from edge_inspect.sources.pylon.frames import FrameStamper
from edge_inspect.sources.pylon.sdk import load_pylon
from edge_inspect.sources.pylon.triggers import TriggerSchedule
from edge_inspect.types import Frame, SourceState, StatusListener

log = structlog.get_logger(__name__)

POLL_S = 0.1
"""Longest wait inside ``frames()`` before it looks at ``stop()`` and the no-frame alarm again."""


class PylonSource:
    """FrameSource for one Basler camera. ``frames()`` runs in one thread; ``trigger``, ``stop`` and
    ``stats`` may be called from any other."""

    def __init__(self, config: PylonSourceConfig, camera: str, status: StatusListener) -> None:
        load_pylon()  # a missing 'pylon' extra is a clear error at start-up, not at the first frame
        self.config = config
        self.camera = camera
        self._status = status
        self._session: CameraSession | None = None
        self._serial: str | None = None
        self._counters = Counters()
        self._frames = FrameStamper(camera)
        self._state: tuple[SourceState, str | None] | None = None
        self._stop = threading.Event()
        self._running = threading.Event()
        trigger = config.trigger
        self._schedule = TriggerSchedule(trigger.software_interval_s, trigger.software_count)
        self._last_image = time.monotonic()
        self._lost_at: float | None = None
        self._commands: queue.SimpleQueue[str] = queue.SimpleQueue()

    # ------------------------------------------------------------------------------------ public API

    @property
    def serial(self) -> str | None:
        """Serial number of the opened camera (the one a reconnect looks for)."""
        return self._serial

    @property
    def state(self) -> SourceState | None:
        """The last state reported to the status listener."""
        return None if self._state is None else self._state[0]

    def stats(self) -> dict[str, int]:
        """Counters: grabbed, dropped, failed_buffers, timeouts, reconnects, triggers (a copy)."""
        return self._counters.snapshot()

    def open(self) -> None:
        """Find, open and configure the camera and start grabbing; raises :class:`SourceError` on failure."""
        self._set_state(SourceState.STARTING, None)
        try:
            self._session = CameraSession.open(self.config)
        except SourceError as exc:
            self._set_state(SourceState.OFFLINE, str(exc))
            raise
        info = self._session.info
        self._serial = self._frames.serial = info.serial
        log.info(
            "camera open", camera=self.camera, serial=info.serial, model=info.model, interface=info.interface
        )
        self._set_state(SourceState.ONLINE, f"{info.label()} opened")

    def trigger(self) -> None:
        """Ask for one software-triggered frame (thread-safe). Needs ``trigger.mode: software``."""
        mode = self.config.trigger.mode
        if mode != "software":
            msg = f"camera {self.camera}: trigger() needs trigger.mode 'software', not {mode!r}"
            raise SourceError(msg)
        self._schedule.request()

    @property
    def software_triggered(self) -> bool:
        """Whether the station fires this camera: software trigger without the source's own timer."""
        trigger = self.config.trigger
        return trigger.mode == "software" and trigger.software_interval_s is None

    def fire(self) -> None:
        """One part trigger for this camera (:meth:`trigger`); the station calls it per part."""
        self.trigger()

    def execute(self, command: str) -> None:
        """Run a GenICam command feature on the camera soon, from the grabbing thread (thread-safe), e.g.
        ``'TimestampReset'``; on pylon's emulator ``'FirePnPCallback'`` unplugs the camera."""
        self._commands.put(command)

    def stop(self) -> None:
        """Ask ``frames()`` to end soon (a software trigger already fired still gets its frame)."""
        self._stop.set()
        self._schedule.stop()

    def close(self) -> None:
        """Stop, wait for ``frames()`` to leave the camera alone, then close it and report ``offline``."""
        self.stop()
        deadline = time.monotonic() + self.config.grab_timeout_s + 1.0
        while self._running.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        if self._session is not None:
            self._session.close()
            self._session = None
        self._set_state(SourceState.OFFLINE, "closed")

    def frames(self) -> Iterator[Frame]:
        """Frames until :meth:`stop` (or, with ``trigger.software_count``, after that many triggers)."""
        if self._serial is None:
            msg = f"camera {self.camera}: frames() before open()"
            raise SourceError(msg)
        self._running.set()
        try:
            self._last_image = time.monotonic()
            if self.config.trigger.mode == "software":
                yield from self._software_frames()
            else:
                yield from self._streamed_frames()
            yield from self._refuse_requests("the source stopped before the trigger was fired")
        finally:
            self._running.clear()

    # ------------------------------------------------------------------------ free-run and hardware

    def _streamed_frames(self) -> Iterator[Frame]:
        """Images as the camera sends them: free-run, or one per hardware trigger."""
        free_run = self.config.trigger.mode == "off"
        waited_since = time.monotonic()
        while not self._stop.is_set():
            if self._session is None:
                yield from self._reconnect()
                waited_since = time.monotonic()
                continue
            self._run_commands(self._session)
            grab = self._session.retrieve(POLL_S)
            if grab.kind == "image":
                waited_since = time.monotonic()
                yield self._image_frame(grab)
            elif grab.kind == "failed":
                waited_since = time.monotonic()
                if free_run:
                    self._count_failed_buffer(grab, dropped=True)
                else:
                    yield self._failed_buffer_frame(grab)
            elif grab.kind == "lost":
                self._lose(grab.error or "camera lost")
            elif free_run and time.monotonic() - waited_since >= self.config.grab_timeout_s:
                waited_since = time.monotonic()
                self._counters.add(timeouts=1)
                log.warning(
                    "grab timeout",
                    camera=self.camera,
                    serial=self._serial,
                    error=f"no image within {self.config.grab_timeout_s:g} s",
                )
            self._check_no_frame()

    # ------------------------------------------------------------------------------ software trigger

    def _software_frames(self) -> Iterator[Frame]:
        """One frame per software trigger: the source's own timer and/or :meth:`trigger` requests."""
        schedule = self._schedule
        while not self._stop.is_set() and not schedule.timer_done:
            if self._session is None:
                yield from self._reconnect()
                schedule.restart_timer()
                continue
            self._run_commands(self._session)
            if schedule.next(POLL_S) is None:
                continue  # no_frame_timeout_s does not apply: each trigger has its own grab timeout
            yield self._fire_and_grab(self._session)
        if schedule.timer_done:
            log.info("software trigger count reached", camera=self.camera, triggers=schedule.ticks)

    def _fire_and_grab(self, session: CameraSession) -> Frame:
        """Fire one software trigger and wait for its image: always exactly one frame back."""
        error = session.fire_trigger(self.config.grab_timeout_s)
        if error is not None:
            if session.removed:
                self._lose("camera removed")
            return self._error_frame(error)
        self._counters.add(triggers=1)
        grab = session.retrieve(self.config.grab_timeout_s)
        if grab.kind == "image":
            return self._image_frame(grab)
        if grab.kind == "failed":
            return self._failed_buffer_frame(grab)
        if grab.kind == "lost":
            self._lose(grab.error or "camera lost")
            return self._error_frame(f"no image for the software trigger: {grab.error}")
        self._counters.add(timeouts=1)
        text = f"grab timeout: no image within {self.config.grab_timeout_s:g} s of the software trigger"
        log.warning("grab timeout", camera=self.camera, serial=self._serial, error=text)
        return self._error_frame(text)

    def _run_commands(self, session: CameraSession) -> None:
        while not self._commands.empty():
            command = self._commands.get_nowait()
            error = session.execute(command)
            log.info("camera command", camera=self.camera, command=command, error=error)

    def _refuse_requests(self, why: str) -> Iterator[Frame]:
        """An error frame for every trigger asked for that cannot be fired (camera away, or stopping)."""
        for _ in range(self._schedule.take_requests()):
            yield self._error_frame(f"software trigger not fired: {why}")

    # ------------------------------------------------------------------------- faults and reconnects

    def _count_failed_buffer(self, grab: Grab, *, dropped: bool) -> None:
        self._counters.add(failed_buffers=1, dropped=1 if dropped else 0)
        log.warning(
            "failed buffer",
            camera=self.camera,
            serial=self._serial,
            block_id=grab.block_id,
            error=grab.error,
            counted_as="drop" if dropped else "error result",
        )

    def _failed_buffer_frame(self, grab: Grab) -> Frame:
        self._count_failed_buffer(grab, dropped=False)
        return self._error_frame(grab.error or "failed buffer", grab)

    def _lose(self, reason: str) -> None:
        """The camera is gone: destroy the session and report ``reconnecting``."""
        self._lost_at = time.monotonic()
        log.warning("camera lost", camera=self.camera, serial=self._serial, reason=reason)
        if self._session is not None:
            self._session.close()
            self._session = None
        self._set_state(SourceState.RECONNECTING, reason)

    def _reconnect(self) -> Iterator[Frame]:
        """Re-create the camera from its serial number with back-off until it is back or the source stops.

        Triggers asked for meanwhile get error frames at once: nobody waits on a camera that is away.
        """
        delays = backoff(self.config.reconnect_min_s, self.config.reconnect_max_s)
        for attempts, delay in enumerate(delays, start=1):
            if self._stop.is_set():
                return
            try:
                self._session = CameraSession.open(self.config, serial=self._serial)
            except SourceError as exc:
                log.info(
                    "reconnect failed", camera=self.camera, attempt=attempts, error=str(exc), retry_in_s=delay
                )
                self._set_state(SourceState.RECONNECTING, str(exc))
            else:
                took = time.monotonic() - (self._lost_at or time.monotonic())
                self._counters.add(reconnects=1)
                self._last_image = time.monotonic()
                log.info(
                    "camera reconnected",
                    camera=self.camera,
                    serial=self._serial,
                    attempts=attempts,
                    took_s=round(took, 3),
                )
                self._set_state(SourceState.ONLINE, f"reconnected after {took:.2f} s")
                return
            deadline = time.monotonic() + delay
            while not self._stop.is_set() and time.monotonic() < deadline:
                yield from self._refuse_requests("camera offline (reconnecting)")
                self._schedule.wait(min(POLL_S, deadline - time.monotonic()))

    def _check_no_frame(self) -> None:
        """Raise the alarm (state ``offline``) when no image came for ``no_frame_timeout_s``."""
        limit = self.config.no_frame_timeout_s
        if limit is None or self._state is None or self._state[0] is not SourceState.ONLINE:
            return
        if time.monotonic() - self._last_image >= limit:
            log.error("no image from the camera", camera=self.camera, serial=self._serial, timeout_s=limit)
            self._set_state(SourceState.OFFLINE, f"no image for {limit:g} s")

    def _set_state(self, state: SourceState, reason: str | None) -> None:
        if self._state == (state, reason):
            return
        self._state = (state, reason)
        self._status.source_state(self.camera, state, reason)

    # ---------------------------------------------------------------------------------------- frames

    def _image_frame(self, grab: Grab) -> Frame:
        self._counters.add(grabbed=1, dropped=grab.skipped)
        self._last_image = time.monotonic()
        if self._state is not None and self._state[0] is SourceState.OFFLINE:
            self._set_state(SourceState.ONLINE, "images again")
        return self._frames.stamp(grab.image, grab)

    def _error_frame(self, error: str, grab: Grab | None = None) -> Frame:
        return self._frames.stamp(None, grab, error=error)
