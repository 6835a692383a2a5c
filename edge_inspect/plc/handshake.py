"""The station's side of the PLC handshake, without any transport: PLC writes in, registers out.

The PLC waits for READY, writes the part id and raises TRIGGER; the station answers TRIGGER_ACK and
BUSY and starts the part. When the part's verdict exists (or ``plc.result_deadline_ms`` has passed:
TIMEOUT) and it is the oldest unanswered trigger, the station writes verdict, defect count, part id and
time, adds one to the counter and raises RESULT_VALID; the PLC raises RESULT_ACK; the station drops
RESULT_VALID; once the PLC drops RESULT_ACK the next answer may be presented. Triggers may run ahead of
answers up to ``plc.max_pending``; a trigger beyond that is not taken (no TRIGGER_ACK) and sets ERROR
with the overrun code, and its part still reaches MQTT as an ERROR part: nothing is dropped silently.

A verdict that comes after its deadline is answered TIMEOUT in its turn and goes to MQTT marked
``late``; a counter value and RESULT_VALID are only ever raised for an answer not presented before.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import structlog

from edge_inspect.errors import TriggerError
from edge_inspect.parts.book import PartResult
from edge_inspect.plc.registers import (
    PART_ID,
    PART_ID_WORDS,
    PLC_REGISTERS,
    RECIPE,
    WORD,
    Control,
    ErrorCode,
    PlcVerdict,
    Status,
    decode_part_id,
    split_uint32,
)
from edge_inspect.types import PartTag, Verdict

log = structlog.get_logger(__name__)

StartPart = Callable[[str | None, Mapping[str, Any]], PartTag]
RefusePart = Callable[[str, Mapping[str, Any]], PartTag]
Count = Callable[[str, int], None]

PLC_COUNTERS = (
    "plc.triggers",
    "plc.results",
    "plc.timeouts",
    "plc.late_verdicts",
    "plc.overruns",
    "plc.bad_part_ids",
    "plc.not_ready",
    "plc.station_writes_refused",
    "plc.ack_without_result",
    "plc.connections",
    "plc.link_lost",
)
"""Counters of the handshake, exported at 0 from the start."""

_VERDICTS = {Verdict.PASS: PlcVerdict.PASS, Verdict.NG: PlcVerdict.NG, Verdict.ERROR: PlcVerdict.ERROR}
_EARLY_KEPT = 1024
_LATENCIES_KEPT = 1024


@dataclass(frozen=True)
class Answer:
    """What the station registers show for one trigger."""

    verdict: PlcVerdict
    defects: int
    elapsed_ms: int
    words: tuple[int, ...]
    """The part id registers as the PLC wrote them at the trigger (echoed unchanged)."""


@dataclass
class _Waiting:
    """A trigger taken and not yet answered."""

    words: tuple[int, ...]
    triggered: float
    deadline: float
    seq: int | None = None
    answer: Answer | None = None
    timed_out: bool = False


class Handshake:
    """The handshake's state (thread-safe): the Modbus server feeds it writes and reads its registers."""

    def __init__(
        self,
        *,
        max_pending: int,
        deadline_ms: int,
        heartbeat_ms: int,
        start_part: StartPart,
        refuse_part: RefusePart,
        count: Count | None = None,
        latency: Callable[[str, float], None] | None = None,
        answered: Callable[[Answer], None] | None = None,
        on_link: Callable[[bool], None] | None = None,
        cameras_online: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_pending = max_pending
        self.deadline_ms = deadline_ms
        self.heartbeat_s = heartbeat_ms / 1000.0
        self._start_part = start_part
        self._refuse_part = refuse_part
        self._count: Count = count or (lambda _name, _n: None)
        self._latency = latency or (lambda _name, _ms: None)
        self._answered = answered or (lambda _answer: None)
        self._on_link = on_link or (lambda _up: None)
        self._cameras_online = cameras_online or (lambda: True)
        """READY (and a trigger taken) only while every camera is online: a part no camera can take
        is refused at the trigger, not answered ERROR at its deadline."""
        self._clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._plc = [0] * PLC_REGISTERS
        self._ready = False
        self._trigger_ack = False
        self._valid = False
        self._ack_held = False
        """RESULT_ACK still high after the station dropped RESULT_VALID: the next answer waits for it."""
        self._error = ErrorCode.NONE
        self._counter = 0
        self._heartbeat = 0
        self._shown = Answer(PlcVerdict.NONE, 0, 0, (0,) * PART_ID_WORDS)
        self._waiting: collections.deque[_Waiting] = collections.deque()
        self._by_seq: dict[int, _Waiting] = {}
        self._early: dict[int, PartResult] = {}
        """Verdicts published before their trigger's part number was known here (refused at once)."""
        self._untaken: set[int] = set()
        """Part numbers of triggers not taken: their ERROR parts go to MQTT only."""
        self._clients = 0
        self._latencies: collections.deque[float] = collections.deque(maxlen=_LATENCIES_KEPT)
        """Trigger to RESULT_VALID of the last answers, ms (the p50 / p99 gauges)."""
        self._stopped = False
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start the heartbeat and deadline thread."""
        self._thread = threading.Thread(target=self._run, name="plc-handshake", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            self._stopped = True
            self._ready = False
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def set_ready(self, ready: bool) -> None:
        """READY follows the station: up once it inspects, down when it stops."""
        with self._lock:
            self._ready = ready

    # ------------------------------------------------------------------------------------- PLC side

    def plc_wrote(self, registers: Sequence[int]) -> None:
        """The PLC's registers (0-11) after one write: act on the control word's edges."""
        with self._lock:
            before = Control(self._plc[0] & 0x7)
            self._plc = [int(v) & WORD for v in registers[:PLC_REGISTERS]]
            now_ = Control(self._plc[0] & 0x7)
            rising, falling = now_ & ~before, before & ~now_
            if Control.RESET in rising:
                self._error = ErrorCode.NONE
            if Control.RESULT_ACK in rising:
                if self._valid:
                    self._valid = False
                    self._ack_held = True
                else:
                    self._fault(ErrorCode.ACK_WITHOUT_RESULT, "plc.ack_without_result")
            if Control.RESULT_ACK in falling:
                self._ack_held = False
                self._advance(self._clock())
            if Control.TRIGGER in falling:
                self._trigger_ack = False
            trigger = Control.TRIGGER in rising
            words = tuple(self._plc[PART_ID : PART_ID + PART_ID_WORDS])
            recipe = self._plc[RECIPE]
        if trigger:
            self._triggered(words, recipe)

    def _triggered(self, words: tuple[int, ...], recipe: int) -> None:
        meta: dict[str, Any] = {"plc": {"recipe": recipe}} if recipe else {}
        with self._lock:
            self._count("plc.triggers", 1)
            now = self._clock()
            refused: str | None = None
            if not self._ready or not self._cameras_online():
                self._fault(ErrorCode.NOT_READY, "plc.not_ready")
                refused = (
                    "PLC trigger while the station was not READY (starting, stopping, or a camera not "
                    "online): not taken"
                )
            elif len(self._waiting) >= self.max_pending:
                self._fault(ErrorCode.OVERRUN, "plc.overruns")
                refused = (
                    f"PLC trigger overrun: {self.max_pending} triggers unanswered (plc.max_pending); "
                    "not taken, no camera fired"
                )
            if refused is not None:
                log.warning("PLC trigger not taken", reason=refused)
                waiting = None
            else:
                waiting = _Waiting(words, now, now + self.deadline_ms / 1000.0)
                self._waiting.append(waiting)
                self._trigger_ack = True
        if waiting is None:
            self._settled_number(self._refuse_part(refused or "", meta), None)
            return
        try:
            part_id = decode_part_id(words)
        except TriggerError as exc:
            with self._lock:
                self._fault(ErrorCode.BAD_PART_ID, "plc.bad_part_ids")
            log.warning("PLC part id unreadable: the part is answered ERROR", error=str(exc))
            tag = self._refuse_part(f"PLC part id unreadable: {exc}", meta)
        else:
            tag = self._start_part(part_id, meta)
        self._settled_number(tag, waiting)

    def _settled_number(self, tag: PartTag, waiting: _Waiting | None) -> None:
        """The part number of a trigger is known: tie it to its waiting answer (or mark it untaken)."""
        with self._lock:
            early = self._early.pop(tag.seq, None)
            if waiting is None:
                if early is None:
                    self._untaken.add(tag.seq)
                return
            waiting.seq = tag.seq
            if early is not None:
                self._settle(waiting, early)
            else:
                self._by_seq[tag.seq] = waiting

    def station_write_refused(self) -> None:
        """The PLC wrote into the station's registers (refused by the server)."""
        with self._lock:
            self._fault(ErrorCode.STATION_REGISTER_WRITE, "plc.station_writes_refused")

    def link(self, up: bool) -> None:
        """A PLC connection opened (True) or closed (False); ``on_link`` hears when the first opens or the
        last closes."""
        with self._lock:
            before = self._clients > 0
            if up:
                self._clients += 1
                self._count("plc.connections", 1)
            else:
                self._clients = max(0, self._clients - 1)
                if self._clients == 0 and (self._waiting or self._valid):
                    self._fault(ErrorCode.LINK_LOST, "plc.link_lost")
                    log.warning(
                        "PLC disconnected mid-handshake: answers are kept for it",
                        unanswered=len(self._waiting),
                        result_valid=self._valid,
                    )
            after = self._clients > 0
        if after != before:
            log.info("PLC connected" if after else "PLC disconnected")
            try:
                self._on_link(after)
            except Exception:
                log.exception("PLC link listener failed")

    def _fault(self, code: ErrorCode, counter: str) -> None:
        self._error = code
        self._count(counter, 1)

    # --------------------------------------------------------------------------------- station side

    def decided(self, result: PartResult) -> PartResult:
        """A part's verdict (before it goes to MQTT): the PLC's answer; returned marked late past the
        deadline."""
        with self._lock:
            if result.seq in self._untaken:
                self._untaken.discard(result.seq)
                return result
            waiting = self._by_seq.pop(result.seq, None)
            if waiting is None:
                self._early[result.seq] = result
                while len(self._early) > _EARLY_KEPT:
                    self._early.pop(next(iter(self._early)))
                return result
            return self._settle(waiting, result)

    def _settle(self, waiting: _Waiting, result: PartResult) -> PartResult:
        now = self._clock()
        late = waiting.timed_out or now > waiting.deadline
        if late:
            self._count("plc.late_verdicts", 1)
            if not waiting.timed_out:
                waiting.timed_out = True
                self._count("plc.timeouts", 1)
        else:
            defects = sum(
                len(frame.decision.defects) for frame in result.frames if frame.decision is not None
            )
            waiting.answer = Answer(
                _VERDICTS[result.verdict],
                min(defects, WORD),
                round((now - waiting.triggered) * 1000.0),
                waiting.words,
            )
        self._advance(now)
        return dataclasses.replace(result, late=True) if late else result

    def _advance(self, now: float) -> None:
        """Present the oldest trigger's answer when the registers are free for it (lock held)."""
        if self._valid or self._ack_held or not self._waiting:
            return
        head = self._waiting[0]
        if head.answer is None and not head.timed_out:
            if now < head.deadline:
                return
            head.timed_out = True
            self._count("plc.timeouts", 1)
        answer = head.answer
        if head.timed_out or answer is None:
            answer = Answer(PlcVerdict.TIMEOUT, 0, self.deadline_ms, head.words)
        self._waiting.popleft()
        self._shown = answer
        self._counter = (self._counter + 1) & WORD
        self._valid = True
        self._count("plc.results", 1)
        self._latency("plc", (now - head.triggered) * 1000.0)
        self._latencies.append((now - head.triggered) * 1000.0)
        self._changed.notify_all()
        try:
            self._answered(answer)
        except Exception:  # the reject output logs its own failures; the handshake goes on
            log.exception("reject output failed")

    def _run(self) -> None:
        beat = self._clock() + self.heartbeat_s
        with self._lock:
            while not self._stopped:
                now = self._clock()
                if now >= beat:
                    self._heartbeat = (self._heartbeat + 1) & WORD
                    beat += self.heartbeat_s
                    if beat < now:  # the host stalled: count on from now, not in a burst
                        beat = now + self.heartbeat_s
                self._advance(now)
                due = beat
                free = not self._valid and not self._ack_held  # else the PLC's next write wakes it
                if free and self._waiting and self._waiting[0].answer is None:
                    due = min(due, self._waiting[0].deadline)
                self._changed.wait(max(0.0005, due - now))

    # ------------------------------------------------------------------------------------ registers

    def status(self) -> Status:
        with self._lock:
            status = Status(0)
            taking = self._ready and not self._stopped and len(self._waiting) < self.max_pending
            if taking and self._cameras_online():
                status |= Status.READY
            if self._waiting:
                status |= Status.BUSY
            if self._valid:
                status |= Status.RESULT_VALID
            if self._error is not ErrorCode.NONE:
                status |= Status.ERROR
            if self._trigger_ack:
                status |= Status.TRIGGER_ACK
            return status

    def station_registers(self) -> list[int]:
        """Registers 100-117 as the PLC reads them now."""
        with self._lock:
            shown = self._shown
            high, low = split_uint32(shown.elapsed_ms)
            return [
                int(self.status()),
                self._counter,
                int(shown.verdict),
                shown.defects,
                *shown.words,
                self._heartbeat,
                int(self._error),
                high,
                low,
            ]

    def gauges(self) -> dict[str, Callable[[], float]]:
        """Gauges for stats and metrics: link, unanswered triggers, error code, counter."""

        def locked(read: Callable[[], float]) -> Callable[[], float]:
            def value() -> float:
                with self._lock:
                    return read()

            return value

        return {
            "plc.connected": locked(lambda: float(self._clients > 0)),
            "plc.unanswered": locked(lambda: float(len(self._waiting))),
            "plc.error_code": locked(lambda: float(self._error)),
            "plc.result_counter": locked(lambda: float(self._counter)),
            "plc.latency_p50_ms": locked(lambda: self._percentile(50)),
            "plc.latency_p99_ms": locked(lambda: self._percentile(99)),
        }

    def _percentile(self, q: float) -> float:
        """Of the last answers' trigger-to-RESULT_VALID times (lock held); 0 before the first."""
        return float(np.percentile(np.fromiter(self._latencies, float), q)) if self._latencies else 0.0
