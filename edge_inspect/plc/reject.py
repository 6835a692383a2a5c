"""The reject output: a coil on a Modbus TCP I/O module, pulsed once per part the line must reject.

The station is the client here. Each NG, ERROR or TIMEOUT answer queues one pulse (coil on for
``pulse_ms``, then off), sent in order from one thread, so the handshake never waits on the module. A
module that cannot be reached is retried at the next pulse; each failed pulse is counted and logged.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import structlog

from edge_inspect.config.plc import RejectOutputConfig
from edge_inspect.errors import MissingDependencyError
from edge_inspect.plc.handshake import Answer
from edge_inspect.plc.registers import PlcVerdict

log = structlog.get_logger(__name__)

REJECT_COUNTERS = ("plc.reject_pulses", "plc.reject_failures", "plc.reject_dropped")
_REJECTS = frozenset({PlcVerdict.NG, PlcVerdict.ERROR, PlcVerdict.TIMEOUT})
_STOP = object()


def _client_class() -> Any:
    try:
        from pymodbus.client import ModbusTcpClient  # noqa: PLC0415 - an optional extra, imported when used
    except ImportError as exc:
        raise MissingDependencyError("pymodbus", "plc", "The reject output (plc.reject_output)") from exc
    return ModbusTcpClient


class RejectOutput:
    """Pulses ``coil`` on the module for each rejected answer (call :meth:`answered` with every answer)."""

    def __init__(self, config: RejectOutputConfig, count: Callable[[str, int], None] | None = None) -> None:
        self.config = config
        self._count = count or (lambda _name, _n: None)
        self._client = _client_class()(config.host, port=config.port, timeout=config.timeout_s, retries=0)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=config.max_queued)
        self._thread = threading.Thread(target=self._run, name="plc-reject", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def answered(self, answer: Answer) -> None:
        """One answer to the PLC: a pulse is queued when it is a reject."""
        if answer.verdict not in _REJECTS:
            return
        try:
            self._queue.put_nowait(answer)
        except queue.Full:
            self._count("plc.reject_dropped", 1)
            log.error("reject pulse dropped: the I/O module is too far behind", queued=self.config.max_queued)

    def close(self, timeout: float = 2.0) -> None:
        """Send the pulses still queued (within ``timeout``), then disconnect."""
        with contextlib.suppress(queue.Full):
            self._queue.put(_STOP, timeout=timeout)
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._client.close()

    def _run(self) -> None:
        while self._queue.get() is not _STOP:
            try:
                self._pulse()
            except Exception as exc:  # a module away: counted and logged, retried at the next pulse
                self._count("plc.reject_failures", 1)
                log.error("reject pulse failed", host=self.config.host, coil=self.config.coil, error=str(exc))
                self._client.close()
            else:
                self._count("plc.reject_pulses", 1)

    def _pulse(self) -> None:
        out = self.config
        if not self._client.connected and not self._client.connect():
            msg = f"cannot connect to {out.host}:{out.port}"
            raise ConnectionError(msg)
        self._write(True)
        time.sleep(out.pulse_ms / 1000.0)
        self._write(False)

    def _write(self, on: bool) -> None:
        response = self._client.write_coil(self.config.coil, on, device_id=self.config.unit)
        if response.isError():
            msg = f"coil {self.config.coil} write answered {response}"
            raise ConnectionError(msg)
