"""Bounded stage queues: named drop policies, counted drops, clean close."""

from __future__ import annotations

import threading

import pytest

from edge_inspect.runtime.queues import Closed, StageQueue


def test_given_drop_oldest_when_full_then_the_oldest_is_dropped_and_counted() -> None:
    q: StageQueue[int] = StageQueue("q", 2, "drop_oldest")
    assert q.put(1) is None
    assert q.put(2) is None
    assert q.put(3) == 1
    assert q.dropped == 1
    assert [q.get(), q.get()] == [2, 3]


def test_given_drop_newest_when_full_then_the_new_item_is_dropped_and_counted() -> None:
    q: StageQueue[int] = StageQueue("q", 1, "drop_newest")
    q.put(1)
    assert q.put(2) == 2
    assert q.dropped == 1
    assert q.get() == 1


def test_given_block_when_full_then_put_waits_until_room() -> None:
    q: StageQueue[int] = StageQueue("q", 1, "block")
    q.put(1)
    with pytest.raises(TimeoutError):
        q.put(2, timeout=0.05)
    threading.Timer(0.05, q.get).start()
    assert q.put(2, timeout=2) is None
    assert q.dropped == 0


def test_given_a_closed_queue_when_drained_then_get_raises_closed() -> None:
    q: StageQueue[int] = StageQueue("q", 3)
    q.put(1)
    q.close()
    assert q.get() == 1
    with pytest.raises(Closed):
        q.get()
    with pytest.raises(Closed):
        q.put(2)


def test_given_a_blocked_getter_when_closed_then_it_wakes() -> None:
    q: StageQueue[int] = StageQueue("q", 3)
    errors: list[BaseException] = []

    def getter() -> None:
        try:
            q.get(timeout=5)
        except Closed as exc:
            errors.append(exc)

    thread = threading.Thread(target=getter)
    thread.start()
    q.close()
    thread.join(2)
    assert len(errors) == 1
