"""Camera faults as data: counters, pylon error text, "in use" detection, and the reconnect back-off."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, fields

IN_USE = "camera controlled by another application"
_IN_USE_PHRASES = (
    "controlled by another application",
    "currently in use",
    "in use by another",
    "exclusive access",
    "control access denied",
    "access denied",
)


@dataclass
class Counters:
    """What the source counts; read from other threads through :meth:`snapshot`."""

    grabbed: int = 0
    """Images delivered as frames."""
    dropped: int = 0
    """Free-run images never delivered: skipped for a newer one, or failed buffers."""
    failed_buffers: int = 0
    """Incompletely grabbed buffers (each is an ERROR result when triggered, a drop in free-run)."""
    timeouts: int = 0
    """Grab timeouts: no image within grab_timeout_s (free-run) or of a software trigger."""
    reconnects: int = 0
    """Times a removed or failed camera was opened again."""
    triggers: int = 0
    """Software triggers fired."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: int) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


def grab_error(code: int, description: str) -> str:
    """A failed grab as published in an ERROR result: pylon's error code (hex, as Basler documents it)
    and its description, e.g. ``'pylon grab failed (0x0): The buffer was incompletely grabbed.'``."""
    text = description.strip() or "no description"
    return f"pylon grab failed (0x{code & 0xFFFFFFFF:x}): {text}"


def is_in_use(message: str) -> bool:
    """True when an open error means another application holds the camera (GigE control access, USB)."""
    lowered = message.lower()
    return any(phrase in lowered for phrase in _IN_USE_PHRASES)


def backoff(first_s: float, longest_s: float) -> Iterator[float]:
    """Delays between reconnect attempts: ``first_s``, doubling, capped at ``longest_s``, forever."""
    delay = first_s
    while True:
        yield delay
        delay = min(delay * 2.0, longest_s)


def pylon_message(exc: BaseException) -> str:
    """A pylon / GenICam exception's description without the C++ source location pylon appends
    (``'... : OutOfRangeException thrown in node 'Width' ... (file 'IntegerT.h', line 81)'``)."""
    text = str(exc).strip()
    marker = text.rfind(" : ")
    if marker > 0 and " thrown" in text[marker:]:
        text = text[:marker].strip()
    return text or type(exc).__name__
