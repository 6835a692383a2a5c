"""The MQTT publisher against a real mosquitto: durable through the outbox, direct without one.

Every test talks to a real broker on loopback; outages are real (the broker process is killed).
"""

from __future__ import annotations

import collections
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from edge_inspect.config.mqtt import MqttConfig
from edge_inspect.config.outbox import OutboxConfig
from edge_inspect.publish.mqtt import MqttPublisher
from edge_inspect.publish.outbox import Limits, Outbox
from edge_inspect.publish.topics import Topics
from edge_inspect.types import Decision, InspectionResult, ModelIdentity, SourceInfo, SourceState, Verdict
from tests.helpers.broker import Mosquitto, Subscriber, free_port
from tests.helpers.waiting import wait_until

TOPICS = Topics("edge-inspect", "st1", "cam1")
ROOMY = Limits(max_rows=100_000, max_bytes=1 << 26, max_age_s=None, when_full="drop_oldest")


def persistent_broker(workdir: Path) -> Mosquitto:
    """mosquitto with persistence on. As root it would drop to the 'mosquitto' user, which cannot reach a
    pytest temporary folder (mode 0700): keep it root so that its persistence file can be written."""
    return Mosquitto(workdir, persistence=True)


def make_result(seq: int) -> InspectionResult:
    return InspectionResult(
        result_id=uuid.uuid4().hex,
        seq=seq,
        station="st1",
        camera="cam1",
        captured_at=1_700_000_000.0 + seq,
        verdict=Verdict.PASS,
        decision=Decision(Verdict.PASS, (), score=0.01),
        source=SourceInfo(kind="replay", path=f"/data/{seq:04d}.png", index=seq),
        model=ModelIdentity(name="m", version="1", sha256="ab" * 32, variant="fp32"),
        thresholds={"defect": 0.5},
        recipe_hash="r1",
        timings_ms={"total": 1.0},
    )


class Counts:
    """Collects the publisher's counters, as the daemon's Stats would."""

    def __init__(self) -> None:
        self.values: collections.Counter[str] = collections.Counter()

    def __call__(self, name: str, n: int) -> None:
        self.values[name] += n


def publisher(
    port: int,
    outbox: Outbox | None = None,
    counts: Counts | None = None,
    keep_acked_s: float = 0.0,
    thread_init: Callable[[], object] = lambda: None,
    *,
    session: int = 0,
    **mqtt: Any,
) -> MqttPublisher:
    config = MqttConfig(port=port, reconnect_min_s=0.5, reconnect_max_s=1.0, **mqtt)
    return MqttPublisher(
        config,
        TOPICS,
        station="st1",
        client_id=f"pub-{uuid.uuid4().hex[:6]}",
        version="test",
        outbox=outbox,
        count=counts,
        delivery=OutboxConfig(keep_acked_s=keep_acked_s),
        thread_init=thread_init,
        session=session,
    )


def results_of(sub: Subscriber) -> list[dict[str, Any]]:
    return [m.json() for m in sub.on("/result")]


def wait_results(sub: Subscriber, n: int, timeout: float = 20.0) -> list[dict[str, Any]]:
    assert sub.wait_for(lambda _m: len(sub.on("/result")) >= n, timeout=timeout), (
        f"{len(sub.on('/result'))} of {n} results arrived"
    )
    return results_of(sub)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "state" / "outbox.sqlite3", ROOMY)
    yield box
    box.close()


def test_given_no_outbox_when_results_are_handled_then_they_arrive_and_status_goes_online_then_offline(
    broker: Mosquitto,
) -> None:
    with Subscriber(broker.port, "edge-inspect/#") as sub:
        pub = publisher(broker.port)
        pub.start()
        assert pub.wait_connected(10)
        sent = [make_result(i) for i in range(50)]
        for result in sent:
            pub.handle(result)
        assert pub.flush(10)
        pub.close()
        got = wait_results(sub, 50)
        assert sub.wait_for(lambda _m: len(sub.on("/status")) >= 2, timeout=5)

    assert [r["result_id"] for r in got] == [r.result_id for r in sent]
    assert [m.json()["state"] for m in sub.on("/status")] == ["online", "offline"]
    assert pub.pending() == 0


@pytest.mark.parametrize("with_outbox", [False, True])
def test_given_messages_published_while_the_socket_opens_when_connected_then_connect_goes_first(
    broker: Mosquitto, tmp_path: Path, with_outbox: bool
) -> None:
    # paho opens the socket, calls on_socket_open, then queues CONNECT: what another thread publishes in
    # that window went out before CONNECT, and the broker dropped the connection (seen with amqtt under
    # load). Publish from inside the window, as a camera-state change or a result would.
    box = Outbox(tmp_path / "outbox.sqlite3", ROOMY) if with_outbox else None
    with Subscriber(broker.port, "edge-inspect/#") as sub:
        counts = Counts()
        pub = publisher(broker.port, outbox=box, counts=counts)
        early = [make_result(i) for i in range(3)]

        def in_the_window(*_args: object) -> None:
            if early:
                pub.source_state("cam1", SourceState.ONLINE)
                for result in early:
                    pub.handle(result)
                early.clear()

        pub.client.on_socket_open = in_the_window
        pub.start()
        assert pub.wait_connected(10)
        assert pub.flush(10)
        got = wait_results(sub, 3)
        assert sub.wait_for(lambda _m: len(sub.on("/camera")) >= 1, timeout=5)
        pub.close()
    assert [r["seq"] for r in got] == [0, 1, 2]
    assert pub.pending() == 0
    # the first attempt held: nothing went out ahead of CONNECT, so the broker did not drop it
    assert counts.values["mqtt.connect_failures"] == 0, counts.values


def test_given_a_lost_connection_when_its_will_arrives_then_it_orders_after_that_online_and_before_the_next(
    broker: Mosquitto,
) -> None:
    # the will is registered at connect time, so its timestamp is older than the online sent just after:
    # a consumer must be able to order them by (session, sequence) alone
    with Subscriber(broker.port, "edge-inspect/st1/status") as sub:
        pub = publisher(broker.port, session=7)
        pub.start()
        assert pub.wait_connected(10)
        assert sub.wait_for(lambda m: len(m) >= 1, timeout=5)
        sock = pub.client.socket()
        assert sock is not None
        sock.close()  # the connection dies without DISCONNECT: the broker sends the will
        assert sub.wait_for(
            lambda m: [x.json()["state"] for x in m][-2:] == ["offline", "online"], timeout=15
        )
        pub.close()
        assert sub.wait_for(lambda m: len(m) >= 4, timeout=5)
        got = [m.json() for m in sub.messages]

    assert [(m["state"], m["reason"]) for m in got] == [
        ("online", None),
        ("offline", "connection lost"),
        ("online", None),
        ("offline", "shutdown"),
    ]
    assert got[1]["timestamp"] <= got[0]["timestamp"]  # why the timestamp cannot order them
    assert {m["session"] for m in got} == {7}
    order = [m["sequence"] for m in got]
    assert order == sorted(order)
    assert len(set(order)) == len(order)
    newest = max(got[:3], key=lambda m: (m["session"], m["sequence"]))
    assert newest["state"] == "online"


def test_given_an_outbox_when_results_are_handled_then_they_arrive_in_order_and_the_outbox_empties(
    broker: Mosquitto, outbox: Outbox
) -> None:
    counts = Counts()
    with Subscriber(broker.port, "edge-inspect/+/+/result") as sub:
        pub = publisher(broker.port, outbox, counts)
        pub.start()
        sent = [make_result(i) for i in range(300)]
        for result in sent:
            pub.handle(result)
        assert pub.flush(20)
        got = wait_results(sub, 300)
        pub.close()

    assert [r["result_id"] for r in got] == [r.result_id for r in sent]
    assert not any(r["resent"] for r in got)
    assert outbox.depth() == 0
    assert counts.values["outbox.acked"] == 300


def test_given_the_broker_down_at_start_when_it_comes_up_then_the_backlog_drains_in_order(
    tmp_path: Path, outbox: Outbox
) -> None:
    broker = persistent_broker(tmp_path / "broker")
    with broker, Subscriber(broker.port, "edge-inspect/+/+/result", session=True, client_id="mes-1"):
        pass  # the MES has a persistent session: what is published while it is away waits for it
    pub = publisher(broker.port, outbox)
    pub.start()
    sent = [make_result(i) for i in range(200)]
    started = time.monotonic()
    for result in sent:
        pub.handle(result)
    handle_s = time.monotonic() - started

    assert not pub.connected
    assert outbox.depth() == 200  # every result is on disk, none only in memory
    assert handle_s < 5.0  # handing results over never waits for the broker

    with broker:
        assert pub.wait_connected(15)
        assert pub.flush(20)
        pub.close()
        with Subscriber(broker.port, "edge-inspect/+/+/result", session=True, client_id="mes-1") as sub:
            got = wait_results(sub, 200)

    assert [r["result_id"] for r in got] == [r.result_id for r in sent]
    assert outbox.depth() == 0


def test_given_a_broker_killed_mid_stream_when_restarted_then_every_result_arrives(
    tmp_path: Path, outbox: Outbox
) -> None:
    """mosquitto saves its state once a second here: a SIGKILL loses what it acknowledged since, which the
    publisher sends again (``keep_acked_s``), so the persistent subscriber still gets every result."""
    counts = Counts()
    broker = persistent_broker(tmp_path / "broker").start()
    try:
        with Subscriber(broker.port, "edge-inspect/+/+/result", session=True, client_id="mes-1") as sub:
            time.sleep(1.5)  # the broker has saved the subscriber's session
            pub = publisher(broker.port, outbox, counts, keep_acked_s=3.0)
            pub.start()
            assert pub.wait_connected(10)
            sent = [make_result(i) for i in range(600)]
            for i, result in enumerate(sent):
                pub.handle(result)
                time.sleep(0.002)
                if i in (150, 400):
                    broker.kill()
                    broker.start()
            assert pub.flush(30), f"{pub.pending()} results still pending"
            ids = {r.result_id for r in sent}
            arrived = sub.wait_for(lambda _m: ids <= {r["result_id"] for r in results_of(sub)}, timeout=30)
            pub.close()
    finally:
        broker.stop()

    got = [r["result_id"] for r in results_of(sub)]
    assert arrived, f"lost: {len(ids - set(got))} of {len(ids)}"
    assert set(got) == ids
    assert outbox.depth() == 0
    assert counts.values["outbox.resent"] > 0
    duplicates = len(got) - len(set(got))
    resent = counts.values["outbox.resent"]
    print(f"results {len(ids)}, received {len(got)}, duplicates {duplicates}, resent {resent}")


def test_given_rows_left_by_a_crashed_run_when_started_then_they_are_resent_replayed_first(
    broker: Mosquitto, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.sqlite3"
    earlier = Outbox(path, ROOMY)
    crashed = publisher(broker.port, earlier)  # never started: as if killed before any PUBACK
    left = [make_result(i) for i in range(5)]
    for result in left:
        crashed.handle(result)
    earlier.close()

    box = Outbox(path, ROOMY)
    with Subscriber(broker.port, "edge-inspect/+/+/result") as sub:
        pub = publisher(broker.port, box)
        pub.start()
        fresh = make_result(99)
        pub.handle(fresh)
        got = wait_results(sub, 6)
        assert pub.flush(10)
        pub.close()

    assert [r["result_id"] for r in got] == [r.result_id for r in [*left, fresh]]
    assert [r["resent"] for r in got] == [True] * 5 + [False]
    assert [r["timestamp"] for r in got[:5]] == [json.loads(crashed_payload(r))["timestamp"] for r in left]
    assert pub.sender is not None
    assert pub.sender.replayed == 5


def crashed_payload(result: InspectionResult) -> bytes:
    from edge_inspect.publish.payload import encode, result_payload

    return encode(result_payload(result))


def test_given_an_outage_longer_than_the_outbox_when_drop_oldest_then_the_newest_arrive_and_drops_are_counted(
    tmp_path: Path,
) -> None:
    counts = Counts()
    box = Outbox(tmp_path / "o.sqlite3", Limits(50, 1 << 20, None, "drop_oldest"))
    port = free_port()
    pub = publisher(port, box, counts)
    pub.start()
    sent = [make_result(i) for i in range(80)]
    for result in sent:
        pub.handle(result)

    assert counts.values["outbox.dropped"] == 30
    assert counts.values["outbox.dropped.evicted"] == 30
    assert pub.store is not None
    assert pub.store.full_alarm.active
    with Mosquitto(tmp_path / "broker", port=port), Subscriber(port, "edge-inspect/+/+/result") as sub:
        assert pub.wait_connected(15)
        got = wait_results(sub, 50)
        pub.close()
    assert [r["result_id"] for r in got] == [r.result_id for r in sent[30:]]
    box.close()


def test_given_reject_new_when_full_then_the_backlog_is_kept_and_new_results_are_counted(
    tmp_path: Path,
) -> None:
    counts = Counts()
    box = Outbox(tmp_path / "o.sqlite3", Limits(10, 1 << 20, None, "reject_new"))
    pub = publisher(free_port(), box, counts)
    sent = [make_result(i) for i in range(15)]
    for result in sent:
        pub.handle(result)

    assert box.keys() == [r.result_id for r in sent[:10]]
    assert counts.values["outbox.dropped.rejected"] == 5
    assert pub.store is not None
    assert pub.store.full_alarm.active
    box.close()


def test_given_a_full_disk_when_results_come_then_inspection_goes_on_and_they_are_published_directly(
    broker: Mosquitto, tmp_path: Path
) -> None:
    counts = Counts()
    box = Outbox(tmp_path / "o.sqlite3", ROOMY, max_page_count=8)
    with Subscriber(broker.port, "edge-inspect/+/+/result") as sub:
        pub = publisher(broker.port, box, counts)
        pub.start()
        assert pub.wait_connected(10)
        sent = [make_result(i) for i in range(200)]
        for result in sent:
            pub.handle(result)  # never raises: the frame is done either way
        got = wait_results(sub, 200)
        assert pub.flush(10)
        pub.close()

    assert counts.values["outbox.store_failed"] > 0
    assert pub.store is not None
    assert pub.store.store_alarm.raised == counts.values["outbox.store_failed"]
    assert {r["result_id"] for r in got} == {r.result_id for r in sent}
    box.close()


def test_given_a_full_disk_and_no_broker_when_results_come_then_the_ones_beyond_memory_are_counted_lost(
    tmp_path: Path,
) -> None:
    counts = Counts()
    box = Outbox(tmp_path / "o.sqlite3", ROOMY, max_page_count=8)
    pub = MqttPublisher(
        MqttConfig(port=free_port()),
        TOPICS,
        station="st1",
        client_id="pub-lost",
        version="test",
        outbox=box,
        count=counts,
        delivery=OutboxConfig(fallback_max_pending=5, keep_acked_s=0),
    )
    with capture_logs() as logs:
        for i in range(100):
            pub.handle(make_result(i))

    stored = box.depth()
    failed = counts.values["outbox.store_failed"]
    assert stored + failed == 100
    assert failed > 5
    assert counts.values["outbox.lost"] == failed - 5  # five wait in memory for the broker
    # counted one by one, logged once (then once a minute with the count), not a line per result
    lost_lines = [e for e in logs if "results lost" in e["event"]]
    assert len(lost_lines) == 1
    assert pub.store is not None
    assert pub.store.store_alarm.active
    box.close()


def test_given_a_thread_init_when_connected_then_the_network_and_sender_threads_call_it(
    broker: Mosquitto, outbox: Outbox
) -> None:
    called: list[str] = []
    pub = publisher(broker.port, outbox, thread_init=lambda: called.append(threading.current_thread().name))
    pub.start()
    try:
        assert pub.wait_connected(10)
        assert wait_until(
            lambda: "outbox-sender" in called and any(n.startswith("paho") for n in called), timeout=5
        )
    finally:
        pub.close()

    assert "outbox-sender" in called
    network = [name for name in called if name != "outbox-sender"]
    assert network
    assert all(name.startswith("paho-mqtt-client") for name in network)
