"""The sender: one thread that moves results from the outbox to the broker, in order, and settles each
one only on its PUBACK.

At most ``window`` results are handed to the MQTT client at a time, and only while it is connected, so
during an outage the backlog waits on disk (bounded, counted) and not in the client's memory. The client
keeps the few it holds across a reconnect and re-sends them itself (with DUP). Rows stored by an earlier
run are re-sent with ``replayed: true`` in the payload; their ``result_id`` and timestamp are unchanged.

After a lost connection, rows acknowledged within ``keep_acked_s`` before the loss are sent again
(``resent: true``), because a broker killed before its next save has lost them. They are picked the
moment the loss is seen (not at the reconnect, which may come after the window has passed), and they go
out after the client's own re-sends, so a subscriber may see them out of order: results carry ``seq`` and
``timestamp``, and a subscriber de-duplicates on ``result_id`` (delivery is at least once).

Re-sends are bounded, so a broker that drops more often than every ``keep_acked_s`` cannot start a storm:
a row's window starts at its first PUBACK and a re-send's PUBACK does not restart it; a row is queued at
most once per outage and at most ``max_resends`` times in a run; and kept rows past their window are
purged even while re-sends wait (the queued rows themselves stay until sent, so a daemon that dies first
still finds them). Each outage then re-sends about (result rate x ``keep_acked_s``) rows. At a clean stop
the kept rows are deleted: the next start would not re-send them.

Threads: ``acked`` runs on the MQTT client's network thread while the client holds its own message lock,
so it only appends to a list under a lock that the sender never holds while calling the client; the
sender does the bookkeeping (and the SQLite writes) on its own thread.
"""

from __future__ import annotations

import collections
import functools
import threading
import time
from collections.abc import Callable

import structlog

from edge_inspect.errors import PublishError
from edge_inspect.publish.alarm import Alarm
from edge_inspect.publish.outbox import Outbox, OutboxEntry
from edge_inspect.publish.outbox.records import replayed_payload

log = structlog.get_logger(__name__)

PublishFn = Callable[[str, bytes], int | None]
"""(topic, payload) -> the MQTT message id, or None when the client did not take the message."""
CountFn = Callable[[str, int], None]
"""(counter name, n): where the sender reports what it did (stats counters)."""

_HOUSEKEEPING_S = 1.0
_LOGGED_DROPS = 20


class OutboxSender:
    """Sends the outbox's rows through ``publish``; :meth:`acked` (from the client's PUBACK) settles them."""

    def __init__(
        self,
        outbox: Outbox,
        publish: PublishFn,
        connected: Callable[[], bool],
        *,
        window: int,
        keep_acked_s: float = 0.0,
        max_resends: int = 1,
        count: CountFn | None = None,
        mark_replayed: Callable[[bytes], bytes] = replayed_payload,
        clock: Callable[[], float] = time.time,
        on_acked: Callable[[str], None] | None = None,
        thread_init: Callable[[], object] = lambda: None,
    ) -> None:
        if window < 1:
            msg = "window must be >= 1"
            raise ValueError(msg)
        self.outbox = outbox
        self._publish = publish
        self._on_acked = on_acked
        """Told each acknowledged row's key (the result id), on the sender's thread."""
        self._connected = connected
        self.window = window
        self.keep_acked_s = keep_acked_s
        self.max_resends = max_resends
        self._resends: dict[int, int] = {}
        """row id -> times queued for a re-send in this run; only kept rows (pruned with them)."""
        self._count: CountFn = count or (lambda _name, _n: None)
        self._mark_replayed = mark_replayed
        self._clock = clock
        self._thread_init = thread_init
        """Called first on the sender's thread (runtime.scheduling)."""
        self._cv = threading.Condition()
        self._acks: list[tuple[int, bool]] = []
        self._wakes = 0
        self._stopping = False
        self._lost: float | None = None
        """Wall-clock time of the first connection loss not yet answered with re-sends."""
        self._inflight: dict[int, OutboxEntry] = {}
        """message id -> row; touched by the sender thread only."""
        self._inflight_n = 0
        self._resend: collections.deque[OutboxEntry] = collections.deque()
        self._last_sent = 0
        self._unsettled: list[int] = []
        """Acknowledged rows whose update failed (a full disk); retried at every turn."""
        self._io_alarm = Alarm("outbox_io")
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.acknowledged = 0
        self.replayed = 0
        self.resent = 0
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
        if self.outbox.crashed_last_ack is not None:
            # the earlier run ended abruptly: treat its end as a lost connection
            self._queue_resends(
                self.outbox.crashed_last_ack,
                "re-sending results acknowledged just before the earlier run ended abruptly",
            )
        self._thread = threading.Thread(target=self._run, name="outbox-sender", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread; when it ended cleanly, delete the kept rows (no later start re-sends them)."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                return
        if self.keep_acked_s > 0 and not self._resend:
            try:
                self.outbox.purge_acked(-1.0)
            except PublishError as exc:
                log.warning("kept rows not purged at stop", error=str(exc))

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

    def connection_lost(self) -> None:
        """The connection dropped (not by us): what the broker acknowledged just before may be lost."""
        now = self._clock()
        with self._cv:
            self._lost = now if self._lost is None else self._lost
            self._cv.notify_all()

    def inflight(self) -> int:
        with self._cv:
            return self._inflight_n

    def queued_resends(self) -> int:
        """Rows queued for a re-send and not yet handed to the client."""
        with self._cv:
            return len(self._resend)

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no row waits and nothing is in flight; False if ``timeout`` ran out."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._inflight_n or self._acks or self._resend or self.outbox.depth() > self.refused:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cv.wait(min(remaining, 0.1))
            return True

    # --------------------------------------------------------------------------------------------- loop

    def _run(self) -> None:
        self._thread_init()
        next_housekeeping = 0.0
        seen = -1
        while True:
            with self._cv:
                self._cv.wait_for(functools.partial(self._has_work, seen), timeout=_HOUSEKEEPING_S)
                if self._stopping:
                    return
                acks, self._acks = self._acks, []
                lost, self._lost = self._lost, None
                seen = self._wakes
            try:
                self._settle(acks)  # first: rows acknowledged just before the loss are the most at risk
                if lost is not None:
                    self._queue_resends(lost)
                if time.monotonic() >= next_housekeeping:
                    next_housekeeping = time.monotonic() + _HOUSEKEEPING_S
                    self._housekeeping()
                self._send_more()
            except PublishError as exc:
                # the file is unreadable for now (an I/O error): say so, and try again shortly
                self._count("outbox.read_failed", 1)
                self._io_alarm.raise_("outbox unreadable; sending paused", error=str(exc))
                time.sleep(0.5)
            except Exception:
                # a bug must not silently stop delivery: log it in full and keep the loop alive
                self._count("outbox.sender_errors", 1)
                log.exception("outbox sender failed; continuing")
                time.sleep(0.5)
            with self._cv:
                self._inflight_n = len(self._inflight)
                self._cv.notify_all()

    def _has_work(self, seen: int) -> bool:
        """Called under ``_cv``: stop requested, acks to settle, or a wake since ``seen``."""
        return self._stopping or bool(self._acks) or self._lost is not None or self._wakes != seen

    def _settle(self, acks: list[tuple[int, bool]]) -> None:
        for mid, accepted in acks:
            entry = self._inflight.pop(mid, None)
            if entry is None:
                continue
            if accepted:
                self._unsettled.append(entry.row_id)
                self.acknowledged += 1
                if self._on_acked is not None:
                    self._on_acked(entry.key)
            else:
                self.refused += 1
                self._count("outbox.refused", 1)
                log.error("broker refused a result; kept for the next start", result_id=entry.key)
        if not self._unsettled:
            return
        try:
            self.outbox.ack(self._unsettled, keep=self.keep_acked_s > 0)
        except PublishError as exc:
            # kept and retried: until settled they would only be re-sent after a restart (a duplicate)
            self._count("outbox.ack_failed", 1)
            self._io_alarm.raise_(
                "outbox cannot settle acknowledged rows; retrying", rows=len(self._unsettled), error=str(exc)
            )
            return
        self._count("outbox.acked", len(self._unsettled))
        self._unsettled = []
        self._io_alarm.clear("the outbox is writable again")

    def _housekeeping(self) -> None:
        try:
            if self.outbox.recover():
                self._io_alarm.clear("the outbox is writable again")
            if self.keep_acked_s > 0:
                # rows queued for a re-send stay until sent: a daemon that dies first must find them again
                below = min((entry.row_id for entry in self._resend), default=None)
                if self.outbox.purge_acked(self.keep_acked_s, below_id=below) and self._resends:
                    kept = self.outbox.kept_ids()
                    self._resends = {k: n for k, n in self._resends.items() if k in kept}
            expired = self.outbox.expire()
        except PublishError as exc:
            self._io_alarm.raise_("outbox cannot expire or purge old rows", error=str(exc))
            return
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

    def _queue_resends(
        self, lost_at: float, why: str = "re-sending results acknowledged just before the connection was lost"
    ) -> None:
        """Queue every row acknowledged since ``keep_acked_s`` before the loss for sending again (those
        settled after the loss too: their PUBACK came in just before it)."""
        if self.keep_acked_s <= 0:
            return
        queued = {entry.row_id for entry in self._resend}
        queued.update(entry.row_id for entry in self._inflight.values())
        again: list[OutboxEntry] = []
        spent = 0
        for entry in self.outbox.acked_since(lost_at - self.keep_acked_s):
            if entry.row_id in queued:
                continue  # once per outage
            if self._resends.get(entry.row_id, 0) >= self.max_resends:
                spent += 1
                continue
            self._resends[entry.row_id] = self._resends.get(entry.row_id, 0) + 1
            again.append(entry)
        if spent:
            self._count("outbox.resends_spent", spent)
        if again or spent:
            log.warning(why, rows=len(again), already_resent=spent, max_resends=self.max_resends)
            self._resend.extend(again)

    def _send_more(self) -> None:
        while self._connected() and len(self._inflight) < self.window:
            room = self.window - len(self._inflight)
            entries = [self._resend.popleft() for _ in range(min(room, len(self._resend)))]
            if not entries:
                entries = self.outbox.peek(self._last_sent, room)
            if not entries:
                return
            for entry in entries:
                if not self._send(entry):
                    return
            with self._cv:
                self._inflight_n = len(self._inflight)
                if self._acks:
                    return  # settle first: keeps the window moving and the writes small

    def _send(self, entry: OutboxEntry) -> bool:
        payload = self._mark_replayed(entry.payload) if entry.replayed else entry.payload
        resend = entry.row_id <= self._last_sent
        try:
            mid = self._publish(entry.topic, payload)
        except (ValueError, TypeError) as exc:
            # the client refuses this message for good (e.g. too large): keeping it would block the rest
            log.error("result cannot be published; dropped", result_id=entry.key, error=str(exc))
            self._count("outbox.unsendable", 1)
            self.outbox.delete([entry.row_id])
            self._last_sent = max(self._last_sent, entry.row_id)
            return True
        if mid is None:
            if resend:
                self._resend.appendleft(entry)
            return False
        self._inflight[mid] = entry
        self._last_sent = max(self._last_sent, entry.row_id)
        self.sent += 1
        if resend:
            self.resent += 1
            self._count("outbox.resent", 1)
        elif entry.replayed:
            self.replayed += 1
            self._count("outbox.replayed", 1)
        return True
