"""The outbox sender's re-send rules, driven step by step.

A real outbox file and the real sender thread; the MQTT client is replaced by a ``Wire`` that records what
was published and lets the test decide when PUBACKs come and when the connection drops, because those
orders of events are what a broker crash produces and a real broker cannot be made to produce them on
cue (the fault tests in ``tests/integration/faults`` do it with a real mosquitto, statistically).
"""

from __future__ import annotations

import functools
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_inspect.publish.outbox import Limits, Outbox
from edge_inspect.publish.sender import OutboxSender
from tests.helpers.clock import ManualClock
from tests.helpers.waiting import wait_until

TOPIC = "edge-inspect/s/c/result"
ROOMY = Limits(max_rows=1000, max_bytes=1 << 20, max_age_s=None, when_full="drop_oldest")
KEEP_S = 5.0
WAIT_S, POLL_S = 5.0, 0.01


class Wire:
    """Stands in for the MQTT client: takes messages while 'connected' and numbers them."""

    def __init__(self) -> None:
        self.up = True
        self.sent: list[tuple[int, dict[str, object]]] = []
        self._lock = threading.Lock()

    def publish(self, _topic: str, payload: bytes) -> int | None:
        with self._lock:
            if not self.up:
                return None
            mid = len(self.sent) + 1
            self.sent.append((mid, json.loads(payload)))
            return mid

    def connected(self) -> bool:
        return self.up

    def keys(self) -> list[tuple[str, bool]]:
        with self._lock:
            return [(str(m["result_id"]), bool(m["resent"])) for _mid, m in self.sent]

    def mids(self) -> list[int]:
        with self._lock:
            return [mid for mid, _m in self.sent]


def payload(key: str) -> bytes:
    return json.dumps({"result_id": key, "resent": False}).encode()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(1_700_000_000.0)


@pytest.fixture
def box(tmp_path: Path, clock: ManualClock) -> Iterator[Outbox]:
    outbox = Outbox(tmp_path / "o.sqlite3", ROOMY, clock=clock)
    yield outbox
    outbox.close()


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def sender(box: Outbox, wire: Wire, clock: ManualClock) -> Iterator[OutboxSender]:
    running = OutboxSender(box, wire.publish, wire.connected, window=8, keep_acked_s=KEEP_S, clock=clock)
    running.start()
    yield running
    running.stop()


def send_and_ack(box: Outbox, sender: OutboxSender, wire: Wire, keys: str) -> None:
    """Store ``keys``, let the sender publish them, acknowledge every message sent so far."""
    before = len(wire.sent)
    for key in keys:
        box.put(key, TOPIC, payload(key))
    sender.wake()
    assert wait_until(lambda: len(wire.sent) == before + len(keys), WAIT_S, POLL_S)
    for mid in wire.mids()[before:]:
        sender.acked(mid)
    assert wait_until(lambda: box.depth() == 0 and sender.inflight() == 0, WAIT_S, POLL_S)


def sent_count_is(wire: Wire, n: int) -> bool:
    return len(wire.sent) == n


def drop_connection(sender: OutboxSender, wire: Wire) -> None:
    wire.up = False
    sender.connection_lost()


def reconnect(sender: OutboxSender, wire: Wire) -> None:
    wire.up = True
    sender.wake()


def test_given_an_outage_longer_than_the_keep_window_when_reconnected_then_rows_acked_before_it_are_resent(
    box: Outbox, sender: OutboxSender, wire: Wire, clock: ManualClock
) -> None:
    send_and_ack(box, sender, wire, "ab")
    drop_connection(sender, wire)
    clock.now += 10 * KEEP_S  # the broker stays down (and the client backs off) well past the window
    time.sleep(1.5)  # the sender's housekeeping (purging old acknowledged rows) runs meanwhile

    reconnect(sender, wire)

    assert wait_until(lambda: len(wire.sent) == 4, WAIT_S, POLL_S)
    assert wire.keys()[2:] == [("a", True), ("b", True)]


def test_given_a_resent_row_acknowledged_again_when_its_first_window_has_passed_then_it_is_not_resent_again(
    box: Outbox, wire: Wire, clock: ManualClock
) -> None:
    # the window runs from the first PUBACK: a re-send's PUBACK does not restart it (no chaining)
    sender = OutboxSender(
        box, wire.publish, wire.connected, window=8, keep_acked_s=KEEP_S, max_resends=5, clock=clock
    )
    sender.start()
    try:
        send_and_ack(box, sender, wire, "a")
        clock.now += 1
        drop_connection(sender, wire)
        reconnect(sender, wire)
        assert wait_until(lambda: len(wire.sent) == 2, WAIT_S, POLL_S)
        clock.now += KEEP_S  # the re-send is acknowledged after the first window has ended
        sender.acked(wire.mids()[-1])
        assert wait_until(lambda: sender.inflight() == 0, WAIT_S, POLL_S)

        drop_connection(sender, wire)
        reconnect(sender, wire)
        time.sleep(0.3)
    finally:
        sender.stop()

    assert wire.keys() == [("a", False), ("a", True)]


@pytest.mark.parametrize("max_resends", [1, 3])
def test_given_outages_more_often_than_the_keep_window_then_a_row_is_resent_at_most_max_resends_times(
    box: Outbox, wire: Wire, clock: ManualClock, max_resends: int
) -> None:
    sender = OutboxSender(
        box, wire.publish, wire.connected, window=8, keep_acked_s=KEEP_S, max_resends=max_resends, clock=clock
    )
    sender.start()
    try:
        send_and_ack(box, sender, wire, "a")
        for outage in range(4):  # four outages within the row's window, each re-send acknowledged
            clock.now += 0.5
            drop_connection(sender, wire)
            drop_connection(sender, wire)  # seen twice (paho and a watchdog): still one outage's re-send
            reconnect(sender, wire)
            expected = 1 + min(outage + 1, max_resends)
            assert wait_until(functools.partial(sent_count_is, wire, expected), WAIT_S, POLL_S)
            time.sleep(0.1)
            for mid in wire.mids()[1:]:
                sender.acked(mid)
            assert wait_until(lambda: sender.inflight() == 0, WAIT_S, POLL_S)
        time.sleep(0.3)
    finally:
        sender.stop()

    assert wire.keys() == [("a", False)] + [("a", True)] * max_resends


def test_given_resends_waiting_when_housekeeping_runs_then_rows_past_their_window_are_purged_all_the_same(
    box: Outbox, sender: OutboxSender, wire: Wire, clock: ManualClock
) -> None:
    send_and_ack(box, sender, wire, "ab")
    clock.now += 3 * KEEP_S
    send_and_ack(box, sender, wire, "c")
    drop_connection(sender, wire)  # "c" is queued for a re-send; the broker stays down
    assert wait_until(lambda: sender.queued_resends() == 1, WAIT_S, POLL_S)

    clock.now += 3 * KEEP_S
    time.sleep(1.5)  # housekeeping: "a" and "b" go, "c" (queued) stays until sent

    assert box.kept_ids() == {3}
    reconnect(sender, wire)
    assert wait_until(lambda: len(wire.sent) == 4, WAIT_S, POLL_S)
    assert wire.keys()[-1] == ("c", True)


def test_given_kept_rows_when_the_sender_stops_cleanly_then_they_are_deleted(
    box: Outbox, sender: OutboxSender, wire: Wire
) -> None:
    send_and_ack(box, sender, wire, "abc")
    assert len(box.kept_ids()) == 3

    sender.stop()

    assert box.kept_ids() == set()
    assert box.depth() == 0


def test_given_rows_acked_outside_the_window_when_the_connection_drops_then_only_recent_ones_are_resent(
    box: Outbox, sender: OutboxSender, wire: Wire, clock: ManualClock
) -> None:
    send_and_ack(box, sender, wire, "a")
    clock.now += 3 * KEEP_S
    send_and_ack(box, sender, wire, "b")

    drop_connection(sender, wire)
    reconnect(sender, wire)

    assert wait_until(lambda: len(wire.sent) == 3, WAIT_S, POLL_S)
    time.sleep(0.3)
    assert wire.keys() == [("a", False), ("b", False), ("b", True)]


CRASHING_RUN = """
import os, sys, json
from pathlib import Path
from edge_inspect.publish.outbox import Limits, Outbox
now = [1_700_000_000.0]
box = Outbox(Path(sys.argv[1]), Limits(1000, 1 << 20, None, "drop_oldest"), clock=lambda: now[0])
for key, at in (("old", 0.0), ("recent", 100.0), ("last", 103.0)):
    now[0] = 1_700_000_000.0 + at
    box.put(key, "t", json.dumps({"result_id": key, "resent": False}).encode())
    box.ack([box.peek(0, 1)[0].row_id], keep=True)
if sys.argv[2] == "close":
    box.close()
else:
    os.kill(os.getpid(), 9)
"""


@pytest.mark.parametrize(("ending", "resent"), [("crash", ["recent", "last"]), ("close", [])])
def test_given_an_earlier_run_when_started_then_its_last_acknowledged_rows_are_resent_only_after_a_crash(
    tmp_path: Path, wire: Wire, ending: str, resent: list[str]
) -> None:
    path = tmp_path / "o.sqlite3"
    done = subprocess.run(
        [sys.executable, "-c", CRASHING_RUN, str(path), ending], cwd=Path(__file__).parents[3], check=False
    )
    assert done.returncode == (-signal.SIGKILL if ending == "crash" else 0)
    clock = ManualClock(1_700_000_000.0 + 200)  # restarted later: the window is measured from the last ack
    box = Outbox(path, ROOMY, clock=clock)
    sender = OutboxSender(box, wire.publish, wire.connected, window=8, keep_acked_s=KEEP_S, clock=clock)
    sender.start()
    try:
        assert wait_until(lambda: len(wire.sent) == len(resent), WAIT_S, POLL_S)
        time.sleep(0.3)
        assert wire.keys() == [(key, True) for key in resent]
    finally:
        sender.stop()
        box.close()
