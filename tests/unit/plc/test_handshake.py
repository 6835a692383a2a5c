"""The handshake's state machine against a real part book: trigger, answer, acknowledge, in order."""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest

from edge_inspect.parts.book import PartBook, PartResult
from edge_inspect.plc.handshake import Answer, Handshake
from edge_inspect.plc.registers import (
    COUNTER,
    ERROR_CODE,
    HEARTBEAT,
    RESULT_PART_ID,
    STATUS,
    TIME_HIGH,
    TIME_LOW,
    VERDICT,
    Control,
    ErrorCode,
    PlcVerdict,
    Status,
    decode_part_id,
    encode_part_id,
    join_uint32,
)
from edge_inspect.types import Frame, SourceInfo, Verdict
from tests.helpers.results import MODEL, result
from tests.helpers.waiting import wait_or_fail

CAMERA = "top"


class Station:
    """A part book and the handshake wired as the daemon wires them; the camera is driven by hand."""

    def __init__(self, *, deadline_ms: int = 60_000, max_pending: int = 4) -> None:
        self.online = True
        self.published: list[PartResult] = []
        self.answers: list[Answer] = []
        self.counts: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()
        self.book = PartBook(
            {CAMERA: 1},
            timeout_ms=60_000,
            max_pending=64,
            publish=self._publish,
            identity=lambda: (MODEL, "cafe"),
            count=self.count,
        )
        self.handshake = Handshake(
            max_pending=max_pending,
            deadline_ms=deadline_ms,
            heartbeat_ms=10,
            start_part=self.book.trigger,
            refuse_part=self.book.refuse,
            count=self.count,
            answered=self.answers.append,
            cameras_online=lambda: self.online,
        )
        self.plc = [0] * 12
        self.frames = 0

    def _publish(self, part: PartResult) -> None:
        part = self.handshake.decided(part)
        with self.lock:
            self.published.append(part)

    def count(self, name: str, n: int) -> None:
        with self.lock:
            self.counts[name] += n

    def reg(self, offset: int) -> int:
        return self.handshake.station_registers()[offset - STATUS]

    def status(self) -> Status:
        return Status(self.reg(STATUS))

    def write(self, control: Control, part_id: str | None = None, words: list[int] | None = None) -> None:
        if part_id is not None or words is not None:
            self.plc[1:11] = words if words is not None else encode_part_id(part_id or "")
        self.plc[0] = int(control)
        self.handshake.plc_wrote(self.plc)

    def shot(self, verdict: Verdict) -> None:
        """The camera's next frame, inspected with ``verdict``."""
        self.frames += 1
        frame = Frame(
            seq=self.frames,
            camera=CAMERA,
            captured_at=time.time(),
            monotonic=time.monotonic(),
            image=np.zeros((4, 4), np.uint8),
            source=SourceInfo(kind="replay", path=f"/{self.frames}.png", index=self.frames),
        )
        tagged = self.book.tag(frame)
        self.book.handle(
            dataclasses.replace(result(verdict, camera=CAMERA, seq=self.frames), part=tagged.part)
        )

    def answered(self) -> tuple[int, PlcVerdict, str | None]:
        regs = self.handshake.station_registers()
        words = regs[RESULT_PART_ID - STATUS : RESULT_PART_ID - STATUS + 10]
        return regs[COUNTER - STATUS], PlcVerdict(regs[VERDICT - STATUS]), decode_part_id(words)


@pytest.fixture
def station() -> Iterator[Station]:
    made = Station()
    made.handshake.set_ready(True)
    made.handshake.start()
    yield made
    made.handshake.close()


def test_the_full_handshake_for_one_part(station: Station) -> None:
    assert station.status() == Status.READY
    # the PLC writes the id and raises TRIGGER: the station answers TRIGGER_ACK and BUSY
    station.write(Control.TRIGGER, "P-0001")
    assert station.status() == Status.READY | Status.BUSY | Status.TRIGGER_ACK
    assert station.answered() == (0, PlcVerdict.NONE, None)
    # the verdict exists: written with the part id, the counter +1, RESULT_VALID
    station.shot(Verdict.NG)
    assert station.status() == Status.READY | Status.RESULT_VALID | Status.TRIGGER_ACK
    assert station.answered() == (1, PlcVerdict.NG, "P-0001")
    assert station.published[0].part_id == "P-0001"
    assert station.published[0].late is False
    # RESULT_ACK: RESULT_VALID drops; the PLC drops ACK and TRIGGER
    station.write(Control.TRIGGER | Control.RESULT_ACK)
    assert Status.RESULT_VALID not in station.status()
    station.write(Control(0))
    assert station.status() == Status.READY
    assert station.answered() == (1, PlcVerdict.NG, "P-0001")  # the last answer stays readable, not valid
    assert [a.verdict for a in station.answers] == [PlcVerdict.NG]


def test_pipelined_triggers_are_answered_in_order_and_never_while_ack_is_still_high(station: Station) -> None:
    for n in (1, 2, 3):
        station.write(Control.TRIGGER, f"P-{n}")
        station.write(Control(0))
    assert Status.BUSY in station.status()
    station.shot(Verdict.PASS)
    station.shot(Verdict.NG)
    station.shot(Verdict.PASS)
    seen = []
    for _ in range(3):
        assert Status.RESULT_VALID in station.status()
        seen.append(station.answered())
        station.write(Control.RESULT_ACK)
        # the next answer waits until the PLC has dropped ACK: a still-high ACK cannot acknowledge it
        assert Status.RESULT_VALID not in station.status()
        station.write(Control(0))
    assert seen == [(1, PlcVerdict.PASS, "P-1"), (2, PlcVerdict.NG, "P-2"), (3, PlcVerdict.PASS, "P-3")]
    assert Status.BUSY not in station.status()


def test_a_part_past_its_deadline_is_answered_timeout_in_its_turn_and_its_verdict_is_marked_late() -> None:
    station = Station(deadline_ms=50)
    station.handshake.set_ready(True)
    station.handshake.start()
    try:
        station.write(Control.TRIGGER, "SLOW-1")
        started = time.monotonic()
        wait_or_fail(lambda: Status.RESULT_VALID in station.status(), 5, "the TIMEOUT answer")
        assert time.monotonic() - started >= 0.05
        assert station.answered() == (1, PlcVerdict.TIMEOUT, "SLOW-1")
        regs = station.handshake.station_registers()
        assert join_uint32(regs[TIME_HIGH - STATUS], regs[TIME_LOW - STATUS]) == 50
        # the verdict arrives later: it goes on (to MQTT) marked late, and the PLC sees nothing new
        station.shot(Verdict.PASS)
        assert station.published[0].late is True
        assert station.answered()[0] == 1
        assert station.counts["plc.timeouts"] == 1
        assert station.counts["plc.late_verdicts"] == 1
        assert [a.verdict for a in station.answers] == [PlcVerdict.TIMEOUT]
    finally:
        station.handshake.close()


def test_a_trigger_beyond_max_pending_is_not_taken_sets_overrun_and_is_an_error_part() -> None:
    station = Station(max_pending=2)
    station.handshake.set_ready(True)
    for n in (1, 2):
        station.write(Control.TRIGGER, f"P-{n}")
        station.write(Control(0))
    assert Status.READY not in station.status()  # full: the PLC should wait
    station.write(Control.TRIGGER, "P-3")
    status = station.status()
    assert Status.TRIGGER_ACK not in status
    assert Status.ERROR in status
    assert station.reg(ERROR_CODE) == ErrorCode.OVERRUN
    assert station.counts["plc.overruns"] == 1
    # the two taken parts are answered; the third went to MQTT as an ERROR part, not to the PLC's answers
    station.write(Control(0))
    station.shot(Verdict.PASS)
    station.shot(Verdict.PASS)
    assert [p.part_id for p in station.published][:2] == ["P-1", "P-2"]
    refused = station.published[2]
    assert refused.verdict is Verdict.ERROR
    assert any("overrun" in reason for reason in refused.reasons)
    assert station.answered() == (1, PlcVerdict.PASS, "P-1")
    # RESET clears the error bit and code
    station.write(Control.RESET)
    assert Status.ERROR not in station.status()
    assert station.reg(ERROR_CODE) == ErrorCode.NONE


def test_garbage_id_bytes_are_answered_error_echoing_the_registers_with_the_documented_code(
    station: Station,
) -> None:
    garbage = [0x41FF, 0x0042] + [0] * 8
    station.write(Control.TRIGGER, words=garbage)
    assert Status.TRIGGER_ACK in station.status()
    assert station.reg(ERROR_CODE) == ErrorCode.BAD_PART_ID
    wait_or_fail(lambda: Status.RESULT_VALID in station.status(), 5, "the ERROR answer")
    regs = station.handshake.station_registers()
    assert PlcVerdict(regs[VERDICT - STATUS]) is PlcVerdict.ERROR
    assert regs[RESULT_PART_ID - STATUS : RESULT_PART_ID - STATUS + 10] == garbage
    assert station.published[0].verdict is Verdict.ERROR
    assert any("register 1 byte 1: 0xff" in r for r in station.published[0].reasons)


def test_ack_without_a_result_not_ready_and_a_lost_link_set_their_codes(station: Station) -> None:
    station.write(Control.RESULT_ACK)
    assert station.reg(ERROR_CODE) == ErrorCode.ACK_WITHOUT_RESULT
    station.write(Control.RESET)
    station.write(Control(0))
    station.handshake.set_ready(False)
    station.write(Control.TRIGGER, "P-9")
    assert Status.TRIGGER_ACK not in station.status()
    assert station.reg(ERROR_CODE) == ErrorCode.NOT_READY
    assert station.published[-1].verdict is Verdict.ERROR  # refused, still on MQTT
    station.handshake.set_ready(True)
    station.write(Control.RESET)
    station.write(Control.TRIGGER, "P-10")
    station.handshake.link(up=True)
    station.handshake.link(up=False)
    assert station.reg(ERROR_CODE) == ErrorCode.LINK_LOST
    # the part is still answered for the PLC when it comes back
    station.shot(Verdict.PASS)
    assert station.answered() == (1, PlcVerdict.PASS, "P-10")


def test_the_heartbeat_counts_while_the_station_runs(station: Station) -> None:
    first = station.reg(HEARTBEAT)
    wait_or_fail(lambda: station.reg(HEARTBEAT) >= first + 5, 5, "five heartbeats")


def test_a_camera_not_online_drops_ready_and_a_trigger_then_is_not_taken(station: Station) -> None:
    # given a camera that goes offline (reconnecting, removed)
    station.online = False
    assert Status.READY not in station.status()
    # when the PLC triggers anyway: not taken, code 4, and the part is on MQTT as an ERROR
    station.write(Control.TRIGGER, "P-1")
    assert Status.TRIGGER_ACK not in station.status()
    assert station.reg(ERROR_CODE) == ErrorCode.NOT_READY
    assert station.published[-1].verdict is Verdict.ERROR
    assert any("a camera not online" in r for r in station.published[-1].reasons)
    # then, with the camera back, READY returns and parts flow
    station.write(Control.RESET)
    station.online = True
    assert Status.READY in station.status()
    station.write(Control.TRIGGER, "P-2")
    station.shot(Verdict.PASS)
    assert station.answered() == (1, PlcVerdict.PASS, "P-2")
