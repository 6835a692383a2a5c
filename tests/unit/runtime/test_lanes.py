"""The station's frame queue: per-camera lanes served in turn, so a flooding camera starves nobody."""

from __future__ import annotations

import threading

import pytest

from edge_inspect.runtime.lanes import FairQueue
from edge_inspect.runtime.queues import Closed


def test_given_a_flooded_lane_when_a_slow_camera_puts_one_frame_then_it_is_served_next() -> None:
    queue: FairQueue[str] = FairQueue("frames", [("fast", 4, "drop_oldest"), ("slow", 4, "block")])
    for n in range(10):
        queue.put("fast", f"f{n}")
    queue.put("slow", "s0")

    served = [queue.get(timeout=1) for _ in range(3)]

    # the fast lane kept its newest 4 (the drops are its own); the slow frame waited behind one of them
    assert served[:2] == ["f6", "s0"]
    assert queue.dropped == 6


def test_lanes_are_served_in_turn_and_each_in_order() -> None:
    queue: FairQueue[str] = FairQueue("frames", [("a", 8, "block"), ("b", 8, "block"), ("c", 8, "block")])
    for n in range(3):
        queue.put("a", f"a{n}")
        queue.put("b", f"b{n}")
    queue.put("c", "c0")

    served = [queue.get(timeout=1) for _ in range(7)]

    assert served == ["a0", "b0", "c0", "a1", "b1", "a2", "b2"]


def test_a_drop_newest_lane_returns_the_refused_item_and_keeps_the_others() -> None:
    queue: FairQueue[int] = FairQueue("frames", [("a", 2, "drop_newest")])
    assert queue.put("a", 1) is None
    assert queue.put("a", 2) is None
    assert queue.put("a", 3) == 3
    assert [queue.get(timeout=1), queue.get(timeout=1)] == [1, 2]


def test_a_blocking_lane_waits_for_room_and_does_not_block_the_other_lanes() -> None:
    queue: FairQueue[str] = FairQueue("frames", [("a", 1, "block"), ("b", 1, "block")])
    queue.put("a", "a0")
    with pytest.raises(TimeoutError):
        queue.put("a", "a1", timeout=0.05)
    assert queue.put("b", "b0", timeout=0.05) is None
    put = threading.Thread(target=queue.put, args=("a", "a1"))
    put.start()
    assert queue.get(timeout=1) == "a0"
    put.join(2)
    assert not put.is_alive()
    assert sorted([queue.get(timeout=1), queue.get(timeout=1)]) == ["a1", "b0"]


def test_the_queue_closes_when_every_lane_has_closed_and_drained() -> None:
    queue: FairQueue[str] = FairQueue("frames", [("a", 2, "block"), ("b", 2, "block")])
    queue.put("a", "a0")
    queue.close_lane("b")
    with pytest.raises(Closed):
        queue.put("b", "late")
    assert queue.get(timeout=1) == "a0"
    with pytest.raises(TimeoutError):
        queue.get(timeout=0.05)  # lane a is still open: not closed yet
    queue.close_lane("a")
    with pytest.raises(Closed):
        queue.get(timeout=1)


def test_a_queue_without_lanes_or_room_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one lane"):
        FairQueue("frames", [])
    with pytest.raises(ValueError, match="capacity"):
        FairQueue("frames", [("a", 0, "block")])
