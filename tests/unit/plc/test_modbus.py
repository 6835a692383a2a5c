"""The Modbus TCP server of the handshake, on real TCP with a pymodbus client: what each request gets."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pymodbus.client import ModbusTcpClient

from edge_inspect.config.plc import PlcConfig
from edge_inspect.errors import PlcError
from edge_inspect.plc.handshake import Handshake
from edge_inspect.plc.modbus import ModbusPlcServer
from edge_inspect.plc.registers import Control, ErrorCode, Status, encode_part_id
from edge_inspect.types import PartTag

BASE = 200


class Served:
    def __init__(self) -> None:
        self.started: list[str | None] = []
        self.handshake = Handshake(
            max_pending=4,
            deadline_ms=60_000,
            heartbeat_ms=50,
            start_part=self._start,
            refuse_part=lambda reason, _meta: PartTag(999, "refused"),
        )
        self.server = ModbusPlcServer(PlcConfig(type="modbus", port=0, unit=7, base=BASE), self.handshake)

    def _start(self, part_id: str | None, _meta: object) -> PartTag:
        self.started.append(part_id)
        return PartTag(len(self.started), part_id or "auto")


@pytest.fixture
def served() -> Iterator[Served]:
    made = Served()
    made.handshake.set_ready(True)
    made.handshake.start()
    made.server.start()
    yield made
    made.server.close()
    made.handshake.close()


@pytest.fixture
def client(served: Served) -> Iterator[ModbusTcpClient]:
    made = ModbusTcpClient("127.0.0.1", port=served.server.port, timeout=1, retries=0)
    assert made.connect()  # type: ignore[no-untyped-call]
    yield made
    made.close()  # type: ignore[no-untyped-call]


def test_the_map_is_served_at_its_base_for_its_unit(served: Served, client: ModbusTcpClient) -> None:
    # one write of the control word and the id together: the id is read at the trigger's edge
    assert not client.write_registers(
        BASE, [int(Control.TRIGGER), *encode_part_id("AB-1")], device_id=7
    ).isError()
    assert served.started == ["AB-1"]
    status = client.read_holding_registers(BASE + 100, count=18, device_id=7)
    assert Status(status.registers[0]) == Status.READY | Status.BUSY | Status.TRIGGER_ACK
    back = client.read_holding_registers(BASE, count=12, device_id=7)
    assert back.registers[0] == int(Control.TRIGGER)


def test_requests_outside_the_map_get_the_modbus_exceptions(served: Served, client: ModbusTcpClient) -> None:
    gap = client.read_holding_registers(BASE + 50, count=1, device_id=7)
    assert gap.isError()
    assert gap.exception_code == 2  # ILLEGAL DATA ADDRESS
    coils = client.read_coils(BASE, count=1, device_id=7)
    assert coils.isError()
    assert coils.exception_code == 1  # ILLEGAL FUNCTION
    station = client.write_register(BASE + 101, 5, device_id=7)
    assert station.isError()
    assert station.exception_code == 2
    read = client.read_holding_registers(BASE + 100, count=18, device_id=7).registers
    assert read[1] == 0  # the counter was not written
    assert read[15] == ErrorCode.STATION_REGISTER_WRITE
    # a request across both blocks is refused whole: no PLC register was written either
    across = client.write_registers(BASE + 11, [1] * 95, device_id=7)
    assert across.isError()
    assert client.read_holding_registers(BASE + 11, count=1, device_id=7).registers == [0]


def test_another_unit_id_gets_no_answer(served: Served, client: ModbusTcpClient) -> None:
    from pymodbus.exceptions import ModbusIOException

    try:
        answer = client.read_holding_registers(BASE + 100, count=1, device_id=8)
    except ModbusIOException:
        return
    assert answer.isError()


def test_an_address_in_use_is_a_clear_error(served: Served) -> None:
    other = ModbusPlcServer(PlcConfig(type="modbus", port=served.server.port), served.handshake)
    with pytest.raises(PlcError, match=f"cannot serve Modbus TCP on 127.0.0.1:{served.server.port}"):
        other.start()
