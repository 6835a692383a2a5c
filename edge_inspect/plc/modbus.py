"""The handshake served over Modbus TCP (pymodbus, extra ``plc``): the PLC is the client.

Holding registers ``plc.base`` + 0-11 are the PLC's (read and write); ``plc.base`` + 100-117 are the
station's (read only: a write there is refused with exception 2, ILLEGAL DATA ADDRESS, and sets error
code 3); every other address answers exception 2. Function codes 3, 6, 16 and 23 are served; others
answer exception 1. A request for another unit id gets no answer, as from a device that is not there.
The server runs its own event loop on one thread; it only reads and writes the :class:`Handshake`,
which never waits on the broker, the engine or the disk.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import structlog

from edge_inspect.config.plc import PlcConfig
from edge_inspect.errors import MissingDependencyError, PlcError
from edge_inspect.plc.handshake import Handshake
from edge_inspect.plc.registers import PLC_REGISTERS, STATION_REGISTERS, STATUS

log = structlog.get_logger(__name__)

_READ = 3
_WRITE_ONE = 6
_WRITE_MANY = 16
_READ_WRITE = 23
_SERVED = frozenset({_READ, _WRITE_ONE, _WRITE_MANY, _READ_WRITE})
_START_TIMEOUT_S = 10.0


def _pymodbus() -> Any:
    try:
        from pymodbus import server, simulator  # noqa: PLC0415 - an optional extra, imported when used
        from pymodbus.constants import ExcCodes  # noqa: PLC0415 - as above
    except ImportError as exc:
        raise MissingDependencyError("pymodbus", "plc", "The PLC handshake (plc.type: modbus)") from exc
    return server, simulator, ExcCodes


class ModbusPlcServer:
    """A Modbus TCP server at ``plc.host``:``plc.port`` answering as ``plc.unit``."""

    def __init__(self, config: PlcConfig, handshake: Handshake) -> None:
        self.config = config
        self.handshake = handshake
        self._server_module, self._simulator, self._exc = _pymodbus()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self.port = config.port
        """The port listened on (the bound one when ``plc.port`` is 0), known after :meth:`start`."""

    def _device(self) -> Any:
        sim = self._simulator
        base = self.config.base
        return sim.SimDevice(
            id=self.config.unit,
            simdata=[
                sim.SimData(base, count=PLC_REGISTERS, values=0, datatype=sim.DataType.REGISTERS),
                sim.SimData(
                    base + STATUS, count=STATION_REGISTERS, values=0, datatype=sim.DataType.REGISTERS
                ),
            ],
            action=self._action,
        )

    async def _action(  # noqa: PLR0917 - pymodbus calls it with these six, positionally
        self,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        values: Sequence[int] | None,
    ) -> Any:
        """Every request, before pymodbus reads or writes ``registers`` (the block from ``start_address``)."""
        if function_code not in _SERVED:
            return self._exc.ILLEGAL_FUNCTION
        base = self.config.base
        station = base + STATUS
        if values is not None:
            if address + len(values) > station:
                self.handshake.station_write_refused()
                return self._exc.ILLEGAL_ADDRESS
            plc = list(registers[base - start_address : base - start_address + PLC_REGISTERS])
            for i, value in enumerate(values):
                plc[address - base + i] = int(value)
            self.handshake.plc_wrote(plc)
            return None
        if address + count > station:
            at = station - start_address
            registers[at : at + STATION_REGISTERS] = self.handshake.station_registers()
        return None

    def start(self) -> None:
        """Listen (raises :class:`PlcError` when the address cannot be bound) and serve on a thread."""
        self._thread = threading.Thread(target=self._serve, name="plc-modbus", daemon=True)
        self._thread.start()
        if not self._started.wait(_START_TIMEOUT_S) or self._failure is not None:
            where = f"{self.config.host}:{self.config.port}"
            reason = self._failure or "the server did not start in time"
            msg = f"plc: cannot serve Modbus TCP on {where}: {reason}"
            raise PlcError(msg)
        log.info("PLC handshake served", host=self.config.host, port=self.port, unit=self.config.unit)

    def _serve(self) -> None:
        loop = self._loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # reported by start(); nothing else runs on this thread
            self._failure = exc
            self._started.set()
            return
        self._started.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _listen(self) -> None:
        self._server = self._server_module.ModbusTcpServer(
            self._device(),
            address=(self.config.host, self.config.port),
            trace_connect=self.handshake.link,
            ignore_missing_devices=True,  # another unit id gets no answer, as from an absent device
        )
        try:
            await self._server.serve_forever(background=True)
        except RuntimeError:
            msg = "the address is in use or not available"
            raise OSError(msg) from None
        sockets = getattr(self._server.transport, "sockets", None) or ()
        if sockets:
            self.port = int(sockets[0].getsockname()[1])

    def close(self, timeout: float = 2.0) -> None:
        """Stop listening and drop the PLC's connections."""
        loop, server = self._loop, self._server
        if loop is None or server is None or loop.is_closed():
            return
        try:
            asyncio.run_coroutine_threadsafe(server.shutdown(), loop).result(timeout)
        except Exception as exc:
            log.warning("PLC server did not stop cleanly", error=str(exc))
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout)
