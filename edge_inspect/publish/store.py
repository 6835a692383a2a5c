"""The outbox as the publisher uses it: store one result, and account for anything a bound or a failure
made it give up, with a count and an alarm, never silently.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

import structlog

from edge_inspect.errors import PublishError
from edge_inspect.publish.alarm import Alarm
from edge_inspect.publish.outbox import Outbox, PutResult

log = structlog.get_logger(__name__)

_LOGGED_KEYS = 20


class Stored(str, enum.Enum):
    """What became of a result handed to :meth:`ResultStore.store`."""

    STORED = "stored"
    """Committed: it survives a crash and the sender will deliver it."""
    GIVEN_UP = "given_up"
    """Refused by a bound (``reject_new``, or larger than ``max_bytes``): counted in outbox.dropped."""
    FAILED = "failed"
    """Not stored (disk full, I/O error): counted in outbox.store_failed; the caller sends it directly."""


class ResultStore:
    """An :class:`Outbox` with its counters and two alarms: ``outbox_full``, ``outbox_store_failed``."""

    def __init__(self, outbox: Outbox, count: Callable[[str, int], None]) -> None:
        self.outbox = outbox
        self._count = count
        self.full_alarm = Alarm("outbox_full")
        self.store_alarm = Alarm("outbox_store_failed")

    def store(self, key: str, topic: str, payload: bytes) -> Stored:
        try:
            outcome = self.outbox.put(key, topic, payload)
        except PublishError as exc:
            self._count("outbox.store_failed", 1)
            self.store_alarm.raise_(
                "outbox cannot store results; publishing them directly (not durable)",
                error=str(exc),
                result_id=key,
            )
            return Stored.FAILED
        self.store_alarm.clear("the outbox stores results again", path=str(self.outbox.path))
        self._account(key, outcome)
        return Stored.STORED if outcome.stored else Stored.GIVEN_UP

    def _account(self, key: str, outcome: PutResult) -> None:
        lost = list(outcome.evicted) if outcome.stored else [key]
        if not lost:
            if not self.outbox.full():
                self.full_alarm.clear("the outbox is below its bounds again")
            return
        how = "evicted" if outcome.stored else "rejected"
        self._count("outbox.dropped", len(lost))
        self._count(f"outbox.dropped.{how}", len(lost))
        self.full_alarm.raise_(
            f"outbox full: results {how} unsent",
            reason=outcome.reason,
            policy=self.outbox.limits.when_full,
            result_ids=lost[:_LOGGED_KEYS],
            count=len(lost),
        )
