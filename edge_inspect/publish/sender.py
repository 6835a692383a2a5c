"""The sender: one thread that moves results from the outbox to the broker, in order, and forgets each
one only on its PUBACK.

At most ``window`` results are handed to the MQTT client at a time, and only while it is connected, so
during an outage the backlog waits on disk (bounded, counted) and not in the client's memory. The client
keeps the few it holds across a reconnect and re-sends them itself (with DUP). Rows stored by an earlier
run are re-sent with ``replayed: true`` in the payload; their ``result_id`` and timestamp are unchanged.

Threads: ``acked`` runs on the MQTT client's network thread while the client holds its own message lock,
so it only appends to a list under a lock that the sender never holds while calling the client; the
sender does the bookkeeping (and the SQLite deletes) on its own thread.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable

import structlog

from edge_inspect.errors import PublishError
from edge_inspect.publish.outbox import Outbox, OutboxEntry
from edge_inspect.publish.payload import encode

log = structlog.get_logger(__name__)

PublishFn = Callable[[str, bytes], int | None]
"""(topic, payload) -> the MQTT message id, or None when the client did not take the message."""
CountFn = Callable[[str, int], None]
"""(counter name, n): where the sender reports what it did (stats counters)."""

_EXPIRE_EVERY_S = 5.0
_LOGGED_DROPS = 20


def replayed_payload(payload: bytes) -> bytes:
    """The stored JSON with ``"replayed": true``; anything else (not a JSON object) is sent unchanged."""
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return payload
    if not isinstance(data, dict) or data.get("replayed") is True:
        return payload
    data["replayed"] = True
    try:
        return encode(data)
    except PublishError:
        return payload


class OutboxSender:
    """Sends the outbox's rows through ``publish``; :meth:`acked` (from the client's PUBACK) deletes them."""

    def __init__(
        self,
        outbox: Outbox,
        publish: PublishFn,
        connected: Callable[[], bool],
        *,
        window: int,
        count: CountFn | None = None,
        mark_replayed: Callable[[bytes], bytes] = replayed_payload,
        expire_every_s: float = _EXPIRE_EVERY_S,
    ) -> None:
        if window < 1:
            msg = "window must be >= 1"
            raise ValueError(msg)
        self.outbox = outbox
        self._publish = publish
        self._connected = connected
        self.window = window
        self._count = count or (lambda _name, _n: None)
        self._mark_replayed = mark_replayed
        self._expire_every_s = expire_every_s
        self._cv = threading.Condition()
        self._acks: list[tuple[int, bool]] = []
        self._wakes = 0
        self._stopping = False
        self._inflight: dict[int, OutboxEntry] = {}
        """message id -> row, touched by the sender thread only."""
        self._inflight_n = 0
        self._last_sent = 0
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.acknowledged = 0
        self.replayed = 0
        self.expired = 0
        self.refused = 0

    # ------------------------------------------------------------------------------------------ control

    def start(self) -> None:
        if self.outbox.replay_rows:
            log.warning(
                "re-sending results left from an earlier run",
                rows=self.outbox.replay_rows,
                oldest_age_s=round(self.outbox.oldest_age_s(), 1),
            )
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def wake(self) -> None:
        """New rows were stored, or the client (re)connected: look at the outbox again."""
        with self._cv:
            self._wakes += 1
            self._cv.notify_all()

    def acked(self, mid: int, accepted: bool = True) -> None:
        """PUBACK for message ``mid`` (called on the client's network thread; never blocks for long).

        ``accepted`` False (an MQTT 5 failure reason code): the row is kept, not re-sent in this run,
        and sent again at the next start, so a broker that refuses results loses none of them.
        """
        with self._cv:
            self._acks.append((mid, accepted))
            self._cv.notify_all()

    def inflight(self) -> int:
        with self._cv:
            return self._inflight_n

    def wait_idle(self, timeout: float) -> bool:
        """Wait until the outbox is empty and nothing is in flight; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._inflight_n or self._acks or self.outbox.depth() > self.refused:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cv.wait(min(remaining, 0.1))
            return True

    # --------------------------------------------------------------------------------------------- loop

    def _run(self) -> None:
        next_expiry = 0.0
        seen = -1
        while True:
            with self._cv:
                self._cv.wait_for(functools.partial(self._has_work, seen), timeout=1.0)
                if self._stopping:
                    return
                acks, self._acks = self._acks, []
                seen = self._wakes
            try:
                self._settle(acks)
                now = time.monotonic()
                if now >= next_expiry:
                    next_expiry = now + self._expire_every_s
                    self._expire()
                self._send_more()
            except PublishError as exc:
                # the file is unreadable for now (I/O error): say so, and try again shortly
                self._count("outbox.read_failed", 1)
                log.error("outbox read failed", error=str(exc))
                time.sleep(0.5)
            with self._cv:
                self._cv.notify_all()

    def _has_work(self, seen: int) -> bool:
        """Called under ``_cv``: stop requested, acks to settle, or a wake since ``seen``."""
        return self._stopping or bool(self._acks) or self._wakes != seen

    def _settle(self, acks: list[tuple[int, bool]]) -> None:
        rows = []
        for mid, accepted in acks:
            entry = self._inflight.pop(mid, None)
            if entry is None:
                continue
            if accepted:
                rows.append(entry.row_id)
            else:
                self.refused += 1
                self._count("outbox.refused", 1)
                log.error("broker refused a result; kept for the next start", result_id=entry.key)
        if rows:
            try:
                self.outbox.delete(rows)
            except PublishError as exc:
                # the rows stay and are re-sent after a restart (at least once, never lost)
                self._count("outbox.delete_failed", len(rows))
                log.error("outbox delete failed", rows=len(rows), error=str(exc))
            self.acknowledged += len(rows)
            self._count("outbox.acked", len(rows))
        with self._cv:
            self._inflight_n = len(self._inflight)

    def _expire(self) -> None:
        expired = self.outbox.expire()
        if expired:
            self.expired += len(expired)
            self._count("outbox.dropped", len(expired))
            self._count("outbox.dropped.expired", len(expired))
            log.error(
                "ALARM outbox: results expired unsent",
                alarm="outbox_expired",
                count=len(expired),
                max_age_s=self.outbox.limits.max_age_s,
                result_ids=expired[:_LOGGED_DROPS],
            )

    def _send_more(self) -> None:
        while self._connected() and len(self._inflight) < self.window:
            entries = self.outbox.peek(self._last_sent, self.window - len(self._inflight))
            if not entries:
                return
            for entry in entries:
                if not self._send(entry):
                    return
            with self._cv:
                self._inflight_n = len(self._inflight)
                if self._acks:
                    return  # settle first: keeps the window moving and the deletes small

    def _send(self, entry: OutboxEntry) -> bool:
        payload = self._mark_replayed(entry.payload) if entry.replayed else entry.payload
        try:
            mid = self._publish(entry.topic, payload)
        except (ValueError, TypeError) as exc:
            # the client refuses this message for good (e.g. too large): keeping it would block the rest
            log.error("result cannot be published; dropped", result_id=entry.key, error=str(exc))
            self._count("outbox.unsendable", 1)
            self.outbox.delete([entry.row_id])
            self._last_sent = entry.row_id
            return True
        if mid is None:
            return False
        self._inflight[mid] = entry
        self._last_sent = entry.row_id
        self.sent += 1
        if entry.replayed:
            self.replayed += 1
            self._count("outbox.replayed", 1)
        return True
