"""Match the MQTT client's PUBACKs to the messages we published, without a lock-order deadlock.

paho calls ``on_publish`` on its network thread while holding its own message lock, and ``publish``
takes that same lock: so a lock of ours must never be held across ``publish`` if the callback takes it.
We publish first, then :meth:`AckTracker.register` the message id; an ack that arrives before the
registration is parked in ``_early`` and settled by the registration. Every message the publisher sends
is registered, so nothing parks for ever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

OnAck = Callable[[int, bool], None]
"""Called with (message id, accepted) once the broker has answered (or, for QoS 0, once it was sent).
``accepted`` is False when an MQTT 5 PUBACK carries a failure reason code (e.g. not authorized)."""


class AckTracker:
    """Message id -> what to do on its ack; :meth:`pending` counts the ones tagged ``counted``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._waiting: dict[int, tuple[OnAck | None, bool]] = {}
        self._early: dict[int, bool] = {}
        self._counted = 0

    def hold(self) -> None:
        """A ``counted`` message kept back before it is published: pending now, registered later with
        ``held=True``."""
        with self._cond:
            self._counted += 1

    def register(
        self, mid: int, on_ack: OnAck | None = None, *, counted: bool = False, held: bool = False
    ) -> None:
        """Call after ``publish`` returned ``mid``; ``on_ack`` runs on the thread that settles it.
        ``held``: a counted message already counted by :meth:`hold`."""
        with self._cond:
            accepted = self._early.pop(mid, None)
            if accepted is None:
                self._waiting[mid] = (on_ack, counted)
                self._counted += counted and not held
                return
            if counted and held:
                self._counted -= 1
                self._cond.notify_all()
        if on_ack is not None:
            on_ack(mid, accepted)

    def acked(self, mid: int, accepted: bool = True) -> None:
        """From the client's ``on_publish``: settle ``mid`` (or park it until it is registered)."""
        with self._cond:
            entry = self._waiting.pop(mid, None)
            if entry is None:
                self._early[mid] = accepted
                return
            on_ack, counted = entry
            self._counted -= counted
            self._cond.notify_all()
        if on_ack is not None:
            on_ack(mid, accepted)

    def pending(self) -> int:
        """Messages tagged ``counted`` (results) that still await their ack."""
        with self._cond:
            return self._counted

    def wait_settled(self, timeout: float) -> bool:
        """Wait until no ``counted`` message awaits its ack; False if ``timeout`` ran out."""
        with self._cond:
            return self._cond.wait_for(lambda: self._counted == 0, timeout)
