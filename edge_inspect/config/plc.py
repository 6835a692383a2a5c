"""The PLC handshake (``plc:``): a Modbus TCP server the line's PLC talks to, and a reject output.

The register map (docs/plc.md) is a public contract: ``plc.base`` shifts all of it, nothing else does.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from edge_inspect.config.base import StrictModel
from edge_inspect.plc.registers import STATION_REGISTERS, STATUS

DEFAULT_PORT = 5020


class RejectOutputConfig(StrictModel):
    """A coil on a Modbus TCP I/O module pulsed for each part that must be rejected (the station is the
    client): for lines whose PLC program does not drive the reject gate itself."""

    host: str = Field(description="The I/O module's address.")
    port: int = Field(502, ge=1, le=65535, description="The I/O module's Modbus TCP port.")
    unit: int = Field(1, ge=0, le=255, description="The I/O module's unit (slave) id.")
    coil: int = Field(0, ge=0, le=65535, description="The coil driving the reject gate (0-based address).")
    pulse_ms: int = Field(
        200, ge=10, le=10_000, description="How long the coil is held on for one reject, milliseconds."
    )
    timeout_s: float = Field(
        1.0, gt=0, le=30, description="Connect and request timeout; a failed pulse is counted and logged."
    )
    max_queued: int = Field(
        64,
        ge=1,
        le=10_000,
        description="Pulses waiting for the module; beyond it a pulse is counted in plc.reject_dropped.",
    )


class PlcConfig(StrictModel):
    """The PLC handshake: the PLC (the client) triggers parts and reads one verdict per part."""

    type: Literal["modbus"] = Field(description="'modbus': serve the handshake registers over Modbus TCP.")
    host: str = Field(
        "127.0.0.1",
        description="Address to listen on: 127.0.0.1 for a PLC bridge on this PC; the PLC network's "
        "address (or 0.0.0.0, behind a firewall) for a PLC on the line.",
    )
    port: int = Field(DEFAULT_PORT, ge=0, le=65535, description="TCP port; 0 = any free port (tests).")
    unit: int = Field(1, ge=0, le=255, description="Unit (slave) id the station answers as.")
    base: int = Field(
        0,
        ge=0,
        le=65536 - STATUS - STATION_REGISTERS,
        description="Holding register of the control word; every register of the map shifts with it.",
    )
    heartbeat_ms: int = Field(
        100, ge=10, le=10_000, description="The heartbeat register counts up once per this many ms."
    )
    max_pending: int = Field(
        8,
        ge=1,
        le=1000,
        description="Triggers taken and not yet answered (pipelined, first in first out); a trigger beyond "
        "it is not taken: ERROR bit, error code 1 (overrun), and an ERROR part on MQTT.",
    )
    result_deadline_ms: int = Field(
        1000,
        ge=1,
        le=600_000,
        description="From trigger: a part without a verdict by then is answered TIMEOUT (a reject) in its "
        "turn; its late verdict still goes to MQTT, marked late.",
    )
    reject_output: RejectOutputConfig | None = Field(
        None, description="Pulse a coil on an I/O module for each NG, ERROR or TIMEOUT answer; null = none."
    )

    @model_validator(mode="after")
    def _not_itself(self) -> PlcConfig:
        out = self.reject_output
        if out is not None and out.port == self.port and out.host in {self.host, "localhost"}:
            msg = "reject_output: points at the station's own PLC server (host and port); name the I/O module"
            raise ValueError(msg)
        return self
