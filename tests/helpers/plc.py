"""The line's PLC, played by a pymodbus client over real TCP: the handshake as a PLC program runs it."""

from __future__ import annotations

import time
from dataclasses import dataclass

from pymodbus.client import ModbusTcpClient

from edge_inspect.plc.registers import (
    COUNTER,
    DEFECTS,
    ERROR_CODE,
    HEARTBEAT,
    RESULT_PART_ID,
    STATION_REGISTERS,
    STATUS,
    TIME_HIGH,
    TIME_LOW,
    VERDICT,
    Control,
    PlcVerdict,
    Status,
    decode_part_id,
    encode_part_id,
    join_uint32,
)

UNIT = 1


@dataclass(frozen=True)
class Reading:
    """Registers 100-117 at one moment."""

    status: Status
    counter: int
    verdict: PlcVerdict
    defects: int
    words: tuple[int, ...]
    heartbeat: int
    error: int
    elapsed_ms: int

    @property
    def part_id(self) -> str | None:
        return decode_part_id(self.words)


class Plc:
    """A PLC polling the station every ``poll_s``."""

    def __init__(self, port: int, *, base: int = 0, poll_s: float = 0.002) -> None:
        self.base = base
        self.poll_s = poll_s
        self.client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        self.control = Control(0)

    def connect(self, timeout: float = 60.0) -> Plc:
        deadline = time.monotonic() + timeout
        while not self.client.connect():  # type: ignore[no-untyped-call]
            if time.monotonic() > deadline:
                msg = "the station's Modbus server did not accept a connection"
                raise AssertionError(msg)
            time.sleep(0.1)
        return self

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]

    def read(self) -> Reading:
        response = self.client.read_holding_registers(
            self.base + STATUS, count=STATION_REGISTERS, device_id=UNIT
        )
        if response.isError():
            msg = f"read of the station registers answered {response}"
            raise AssertionError(msg)
        r = response.registers

        def at(offset: int) -> int:
            return int(r[offset - STATUS])

        return Reading(
            status=Status(at(STATUS)),
            counter=at(COUNTER),
            verdict=PlcVerdict(at(VERDICT)),
            defects=at(DEFECTS),
            words=tuple(r[RESULT_PART_ID - STATUS : RESULT_PART_ID - STATUS + 10]),
            heartbeat=at(HEARTBEAT),
            error=at(ERROR_CODE),
            elapsed_ms=join_uint32(at(TIME_HIGH), at(TIME_LOW)),
        )

    def set(self, control: Control) -> None:
        self.control = control
        response = self.client.write_register(self.base, int(control), device_id=UNIT)
        assert not response.isError(), response

    def write_id(self, part_id: str | None = None, words: list[int] | None = None) -> None:
        values = words if words is not None else encode_part_id(part_id or "")
        response = self.client.write_registers(self.base + 1, values, device_id=UNIT)
        assert not response.isError(), response

    def wait(self, until: Status, *, clear: bool = False, timeout: float = 10.0) -> Reading:
        """Poll until every bit of ``until`` is set (``clear``: until all are clear)."""
        deadline = time.monotonic() + timeout
        while True:
            reading = self.read()
            bits = reading.status & until
            if (not bits) if clear else (bits == until):
                return reading
            if time.monotonic() > deadline:
                state = "clear" if clear else "set"
                msg = f"timed out waiting for {until!r} {state}: {reading}"
                raise AssertionError(msg)
            time.sleep(self.poll_s)

    def inspect(self, part_id: str, timeout: float = 10.0) -> tuple[Reading, Reading]:
        """One part through the whole handshake: (the reading at RESULT_VALID, the one before TRIGGER)."""
        before = self.wait(Status.READY, timeout=timeout)
        assert Status.RESULT_VALID not in before.status, before
        self.write_id(part_id)
        self.set(Control.TRIGGER)
        self.wait(Status.TRIGGER_ACK, timeout=timeout)
        valid = self.wait(Status.RESULT_VALID, timeout=timeout)
        self.set(Control.TRIGGER | Control.RESULT_ACK)
        self.wait(Status.RESULT_VALID, clear=True, timeout=timeout)
        self.set(Control(0))
        self.wait(Status.TRIGGER_ACK, clear=True, timeout=timeout)
        return valid, before
