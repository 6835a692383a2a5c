"""The handshake's register map and its encodings: pure, so the public contract is tested on its own.

Offsets are from ``plc.base``. Written by the PLC: 0 control word, 1-10 part id, 11 recipe number.
Written by the station: 100 status word, 101 result counter, 102 verdict, 103 defect count, 104-113
part id of the result, 114 heartbeat, 115 error code, 116-117 trigger-to-verdict ms (uint32, high
word first). A part id is ASCII, two characters per register, high byte first, NUL padded.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence

from edge_inspect.errors import TriggerError

CONTROL = 0
PART_ID = 1
PART_ID_WORDS = 10
PART_ID_CHARS = 2 * PART_ID_WORDS
RECIPE = 11
PLC_REGISTERS = 12
"""Registers 0-11: what the PLC writes."""

STATUS = 100
COUNTER = 101
VERDICT = 102
DEFECTS = 103
RESULT_PART_ID = 104
HEARTBEAT = 114
ERROR_CODE = 115
TIME_HIGH = 116
TIME_LOW = 117
STATION_REGISTERS = 18
"""Registers 100-117: what the station writes (a PLC write there is refused)."""

WORD = 0xFFFF


class Control(enum.IntFlag):
    """Bits of the control word (register 0), written by the PLC."""

    TRIGGER = 1 << 0
    RESULT_ACK = 1 << 1
    RESET = 1 << 2


class Status(enum.IntFlag):
    """Bits of the status word (register 100), written by the station."""

    READY = 1 << 0
    BUSY = 1 << 1
    RESULT_VALID = 1 << 2
    ERROR = 1 << 3
    TRIGGER_ACK = 1 << 4


class PlcVerdict(enum.IntEnum):
    """Register 102. NG, ERROR and TIMEOUT are all rejects for the line."""

    NONE = 0
    PASS = 1
    NG = 2
    ERROR = 3
    TIMEOUT = 4


class ErrorCode(enum.IntEnum):
    """Register 115: the latest fault; the ERROR bit stays until the PLC raises RESET."""

    NONE = 0
    OVERRUN = 1
    """A trigger with ``plc.max_pending`` parts unanswered: not taken (no TRIGGER_ACK)."""
    BAD_PART_ID = 2
    """The part id registers are not printable ASCII, NUL padded: taken, answered ERROR."""
    STATION_REGISTER_WRITE = 3
    """A write to the station's registers (100-117): refused with Modbus exception 2."""
    NOT_READY = 4
    """A trigger while the station is starting or stopping, or a camera is not online: not taken."""
    LINK_LOST = 5
    """The PLC disconnected with parts unanswered or a result unacknowledged (both are kept)."""
    ACK_WITHOUT_RESULT = 6
    """RESULT_ACK raised while no result was valid: ignored."""


def encode_part_id(part_id: str) -> list[int]:
    """``part_id`` as the ten registers of the map (at most 20 ASCII characters; longer is cut)."""
    raw = part_id.encode("ascii", errors="replace")[:PART_ID_CHARS].ljust(PART_ID_CHARS, b"\0")
    return [(raw[i] << 8) | raw[i + 1] for i in range(0, PART_ID_CHARS, 2)]


def decode_part_id(words: Sequence[int]) -> str | None:
    """The part id in ``words`` (None when all NUL: the station numbers the part).

    Raises :class:`TriggerError` naming the register and byte when the id is not printable ASCII
    followed by NUL padding only.
    """
    raw = bytearray()
    for word in words:
        raw += bytes(((word >> 8) & 0xFF, word & 0xFF))
    end = raw.find(0)
    text, padding = (raw, b"") if end < 0 else (raw[:end], raw[end:])
    for at, byte in enumerate(text):
        if not 0x20 <= byte <= 0x7E:
            msg = f"part id register {PART_ID + at // 2} byte {at % 2}: 0x{byte:02x} is not printable ASCII"
            raise TriggerError(msg)
    if any(padding):
        at = end + next(i for i, b in enumerate(padding) if b)
        msg = f"part id register {PART_ID + at // 2} byte {at % 2}: 0x{raw[at]:02x} after the NUL padding"
        raise TriggerError(msg)
    return text.decode("ascii") or None


def split_uint32(value: int) -> tuple[int, int]:
    """(high word, low word) of ``value``, clamped to 0..2**32-1."""
    value = max(0, min(int(value), 0xFFFF_FFFF))
    return (value >> 16) & WORD, value & WORD


def join_uint32(high: int, low: int) -> int:
    return ((high & WORD) << 16) | (low & WORD)
