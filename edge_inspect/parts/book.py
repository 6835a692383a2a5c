"""The station's open parts: triggers in, frames tied to them, one verdict per part out, in trigger order.

A trigger (:meth:`PartBook.trigger`) opens a part, queues one entry per expected shot on each camera
and fires the cameras that wait for a software trigger. Each frame a camera grabs is tied to that
camera's oldest entry (:meth:`PartBook.tag`, on the camera's source thread): a camera gives one frame per
trigger, in order, whether it is fired by the station or by a hardware line. Entries of parts already
decided stay queued, so a late frame is still tied to its own part (published with its id, counted
``parts.late_frames``) and does not shift the frames after it onto the wrong part.

Each frame result reaches :meth:`PartBook.handle` (a ResultSink behind the publisher); a part is
decided when its last shot is in, or by its deadline (``part.timeout_ms``, watched by one thread), and
parts are published strictly in trigger order. A trigger while ``part.max_pending`` parts are open is
an ERROR part at once (``parts.overflow``); a ``part_id`` seen recently is inspected as usual and
flagged ``duplicate`` (``parts.duplicates``).
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from edge_inspect.parts.verdict import part_verdict
from edge_inspect.types import Frame, InspectionResult, ModelIdentity, PartTag, Verdict

log = structlog.get_logger(__name__)

Count = Callable[[str, int], None]
Identity = Callable[[], tuple[ModelIdentity, str]]
"""The station's current model identity and recipe hash (for a part decided without any frame)."""

_RECENT_IDS = 10_000
"""Part ids remembered for the duplicate check."""
_LATE_LOGGED = 20


@dataclass(frozen=True)
class PartResult:
    """One part's verdict and what it was decided from; published on ``{prefix}/{station}/part``."""

    seq: int
    part_id: str
    verdict: Verdict
    reasons: tuple[str, ...]
    triggered_at: float
    """Wall clock, seconds since the epoch."""
    decided_at: float
    latency_ms: float
    """Trigger to verdict."""
    frames: tuple[InspectionResult, ...]
    expected: Mapping[str, int]
    meta: Mapping[str, Any]
    duplicate: bool
    model: ModelIdentity
    recipe_hash: str
    late: bool = False
    """Decided after the PLC's deadline: the PLC was answered TIMEOUT for it (``plc.result_deadline_ms``)."""


@dataclass
class _Open:
    seq: int
    part_id: str
    meta: Mapping[str, Any]
    triggered_at: float
    triggered: float
    deadline: float
    expected: dict[str, int]
    duplicate: bool
    frames: list[InspectionResult] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lost: collections.Counter[str] = field(default_factory=collections.Counter)
    """Shots per camera that will never arrive (dropped from a full queue)."""
    result: PartResult | None = None

    def complete(self) -> bool:
        arrived = collections.Counter(frame.camera for frame in self.frames)
        return all(arrived[c] + self.lost[c] >= n for c, n in self.expected.items())


@dataclass(frozen=True)
class _Entry:
    """One shot a camera owes: the part it is for."""

    tag: PartTag
    deadline: float


class PartBook:
    """Open parts of one station (thread-safe); ``publish`` is called once per part, in trigger order."""

    name = "parts"

    def __init__(
        self,
        shots: Mapping[str, int],
        *,
        timeout_ms: int,
        max_pending: int,
        publish: Callable[[PartResult], None],
        identity: Identity,
        fire: Mapping[str, Callable[[], None]] | None = None,
        count: Count | None = None,
        latency: Callable[[str, float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shots = dict(shots)
        self.timeout_ms = timeout_ms
        self.max_pending = max_pending
        self._publish = publish
        self._identity = identity
        self._fire = dict(fire or {})
        self._count: Count = count or (lambda _name, _n: None)
        self._latency = latency or (lambda _name, _ms: None)
        self._clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._emit_lock = threading.Lock()
        self._seq = itertools.count(1)
        self._auto = itertools.count(1)
        self._open: dict[int, _Open] = {}
        self._order: collections.deque[_Open] = collections.deque()
        """Every part not yet published, in trigger order (decided ones wait for those before them)."""
        self._owed: dict[str, collections.deque[_Entry]] = {camera: collections.deque() for camera in shots}
        self._recent: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._late = 0
        self._stopped = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the deadline thread."""
        self._thread = threading.Thread(target=self._deadlines, name="parts-deadline", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        """Decide every part still open as ERROR ('the station stopped') and publish it; stop the thread."""
        with self._lock:
            self._stopped = True
            now = self._clock()
            for part in list(self._open.values()):
                self._decide(part, now, failure="the station stopped before the part was complete")
            self._changed.notify_all()
        self._emit()
        if self._thread is not None:
            self._thread.join(timeout)

    def pending(self) -> int:
        """Parts triggered and not yet decided."""
        with self._lock:
            return len(self._open)

    # -------------------------------------------------------------------------------------- triggers

    def trigger(self, part_id: str | None = None, meta: Mapping[str, Any] | None = None) -> PartTag:
        """Open a part and fire the cameras; over ``max_pending`` the part is an ERROR at once."""
        fired: list[Callable[[], None]] = []
        with self._lock:
            part = self._new(part_id, meta)
            self._count("parts.triggered", 1)
            if self._stopped:
                self._refuse(part, "the station is stopping: the part was not taken")
            elif len(self._open) >= self.max_pending:
                self._count("parts.overflow", 1)
                self._refuse(
                    part,
                    f"trigger queue full: {self.max_pending} parts already open (part.max_pending); "
                    "no camera was fired",
                )
            else:
                self._open[part.seq] = part
                for camera, shots in part.expected.items():
                    owed = self._owed[camera]
                    self._forget_expired(owed, part.triggered)
                    for shot in range(1, shots + 1):
                        owed.append(_Entry(PartTag(part.seq, part.part_id, shot), part.deadline))
                    if camera in self._fire:
                        fired.extend([self._fire[camera]] * shots)
                self._changed.notify_all()
        for fire in fired:
            try:
                fire()
            except Exception as exc:  # the part's deadline names the camera that gave nothing
                log.error("camera trigger failed", error=str(exc))
        self._emit()
        return PartTag(part.seq, part.part_id)

    def refuse(self, reason: str, meta: Mapping[str, Any] | None = None) -> PartTag:
        """A trigger that could not be read or taken: an ERROR part (with ``reason``), no camera fired."""
        with self._lock:
            part = self._new(None, meta)
            self._count("parts.triggered", 1)
            self._count("parts.bad_triggers", 1)
            self._refuse(part, f"trigger refused: {reason}")
        self._emit()
        return PartTag(part.seq, part.part_id)

    def _new(self, part_id: str | None, meta: Mapping[str, Any] | None) -> _Open:
        seq = next(self._seq)
        if part_id is None:
            part_id = f"auto-{next(self._auto)}"
        duplicate = part_id in self._recent
        if duplicate:
            self._count("parts.duplicates", 1)
            log.warning("duplicate part id: inspected, and flagged in its part message", part_id=part_id)
            self._recent.move_to_end(part_id)
        else:
            self._recent[part_id] = None
            if len(self._recent) > _RECENT_IDS:
                self._recent.popitem(last=False)
        now = self._clock()
        part = _Open(
            seq=seq,
            part_id=part_id,
            meta=dict(meta or {}),
            triggered_at=time.time(),
            triggered=now,
            deadline=now + self.timeout_ms / 1000.0,
            expected=dict(self.shots),
            duplicate=duplicate,
        )
        self._order.append(part)
        return part

    def _forget_expired(self, owed: collections.deque[_Entry], now: float) -> None:
        """Keep a camera's queue bounded: entries of long-expired parts go once it holds too many."""
        while len(owed) > self.max_pending * 64 and owed[0].deadline < now:
            owed.popleft()

    # ------------------------------------------------------------------------------ frames and results

    def tag(self, frame: Frame) -> Frame:
        """``frame`` tied to its camera's oldest owed shot; untouched (counted) when none is owed."""
        with self._lock:
            owed = self._owed.get(frame.camera)
            entry = owed.popleft() if owed else None
        if entry is None:
            self._count("parts.untriggered_frames", 1)
            return frame
        return _with_part(frame, entry.tag)

    def dropped(self, frame: Frame) -> None:
        """A tagged frame was dropped from a full queue: its part is told now, not at the deadline."""
        if frame.part is None:
            return
        with self._lock:
            part = self._open.get(frame.part.seq)
            if part is None:
                return
            part.failures.append(
                f"camera {frame.camera} shot {frame.part.shot}: dropped, the frame queue was full"
            )
            part.lost[frame.camera] += 1
            if part.complete():
                self._decide(part, self._clock())
        self._emit()

    def handle(self, result: InspectionResult) -> None:
        """A frame result (after the publisher has it): the part is decided once its last shot is in."""
        if result.part is None:
            return
        with self._lock:
            part = self._open.get(result.part.seq)
            if part is None:
                self._late += 1
                late = self._late
            else:
                late = 0
                part.frames.append(result)
                if part.complete():
                    self._decide(part, self._clock())
        if late:
            self._count("parts.late_frames", 1)
            if late <= _LATE_LOGGED:
                log.warning(
                    "frame arrived after its part was decided",
                    part_id=result.part.part_id,
                    camera=result.camera,
                    verdict=result.verdict.value,
                )
            return
        self._emit()

    # ----------------------------------------------------------------------------------- deciding

    def _deadlines(self) -> None:
        with self._lock:
            while not self._stopped:
                now = self._clock()
                due = [part for part in self._open.values() if part.deadline <= now]
                for part in due:
                    self._count("parts.timeouts", 1)
                    self._decide(part, now, timed_out=True)
                if due:
                    self._lock.release()
                    try:
                        self._emit()
                    finally:
                        self._lock.acquire()
                    continue
                nearest = min((part.deadline for part in self._open.values()), default=now + 1.0)
                self._changed.wait(max(0.001, nearest - now))

    def _refuse(self, part: _Open, reason: str) -> None:
        """A part not taken (no camera fired; lock held): ERROR with ``reason`` alone."""
        part.lost.update(part.expected)
        self._decide(part, part.triggered, failure=reason)

    def _decide(
        self, part: _Open, now: float, *, failure: str | None = None, timed_out: bool = False
    ) -> None:
        """Settle ``part`` (lock held); it is published by :meth:`_emit`, in order."""
        if failure is not None:
            part.failures.append(failure)
        self._open.pop(part.seq, None)
        verdict, reasons = part_verdict(
            part.expected,
            part.frames,
            part.failures,
            lost=part.lost,
            timed_out_ms=self.timeout_ms if timed_out else None,
        )
        if part.frames:
            model, recipe = part.frames[0].model, part.frames[0].recipe_hash
        else:
            model, recipe = self._identity()
        latency_ms = (now - part.triggered) * 1000.0
        part.result = PartResult(
            seq=part.seq,
            part_id=part.part_id,
            verdict=verdict,
            reasons=tuple(reasons),
            triggered_at=part.triggered_at,
            decided_at=part.triggered_at + (now - part.triggered),
            latency_ms=latency_ms,
            frames=tuple(sorted(part.frames, key=lambda r: (r.camera, r.part.shot if r.part else 0))),
            expected=part.expected,
            meta=part.meta,
            duplicate=part.duplicate,
            model=model,
            recipe_hash=recipe,
        )
        self._count(f"parts.verdict.{verdict.value}", 1)
        self._latency("part", latency_ms)

    def _emit(self) -> None:
        """Publish the decided parts at the head of the trigger order (one thread at a time, in order)."""
        with self._emit_lock:
            while True:
                with self._lock:
                    result = self._order[0].result if self._order else None
                    if result is None:
                        return
                    self._order.popleft()
                try:
                    self._publish(result)
                except Exception as exc:  # the publisher counts and logs its own failures
                    self._count("parts.publish_failed", 1)
                    log.error("part not published", part_id=result.part_id, error=str(exc))


def _with_part(frame: Frame, tag: PartTag) -> Frame:
    return dataclasses.replace(frame, part=tag)
