"""The PLC link of a station: the handshake, the Modbus TCP server serving it, and the reject output.

Started once the station inspects (READY rises then) and closed after the last part is decided, so the
PLC is answered for every trigger it was acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable

import structlog

from edge_inspect.config.plc import PlcConfig
from edge_inspect.parts.book import PartResult
from edge_inspect.plc.handshake import PLC_COUNTERS, Handshake, RefusePart, StartPart
from edge_inspect.plc.modbus import ModbusPlcServer
from edge_inspect.plc.reject import REJECT_COUNTERS, RejectOutput
from edge_inspect.runtime.stats import Stats

log = structlog.get_logger(__name__)


class PlcLink:
    """One station's PLC handshake over Modbus TCP (``plc.type: modbus``)."""

    def __init__(
        self,
        config: PlcConfig,
        *,
        start_part: StartPart,
        refuse_part: RefusePart,
        stats: Stats,
        on_link: Callable[[bool], None] | None = None,
        cameras_online: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config
        stats.declare(*PLC_COUNTERS)
        self.reject = RejectOutput(config.reject_output, stats.count) if config.reject_output else None
        if self.reject is not None:
            stats.declare(*REJECT_COUNTERS)
        reject = self.reject
        self.handshake = Handshake(
            max_pending=config.max_pending,
            deadline_ms=config.result_deadline_ms,
            heartbeat_ms=config.heartbeat_ms,
            start_part=start_part,
            refuse_part=refuse_part,
            count=stats.count,
            latency=stats.latency,
            answered=reject.answered if reject is not None else None,
            on_link=on_link,
            cameras_online=cameras_online,
        )
        stats.gauges.update(self.handshake.gauges())
        self.server = ModbusPlcServer(config, self.handshake)

    def decided(self, result: PartResult) -> PartResult:
        """A part's verdict, before MQTT: the PLC's answer (the result comes back marked when late)."""
        return self.handshake.decided(result)

    def start(self) -> None:
        """Serve the registers, READY low (raises PlcError when the address cannot be bound)."""
        if self.reject is not None:
            self.reject.start()
        self.handshake.start()
        self.server.start()

    def ready(self, ready: bool) -> None:
        """READY rises once the station inspects; it falls when it stops (triggers then are not taken,
        and answered on MQTT)."""
        self.handshake.set_ready(ready)

    def close(self) -> None:
        """After the last part is decided: stop serving, send the reject pulses still queued."""
        self.server.close()
        self.handshake.close()
        if self.reject is not None:
            self.reject.close()
