"""When software triggers fire: requests from other threads first, the timer's ticks at its interval."""

from __future__ import annotations

import itertools
import threading
import time

from edge_inspect.sources.pylon.triggers import TriggerSchedule


def test_given_no_timer_when_nothing_is_requested_then_next_waits_the_poll_and_returns_none() -> None:
    schedule = TriggerSchedule()

    started = time.monotonic()
    reason = schedule.next(0.05)

    assert reason is None
    assert time.monotonic() - started >= 0.045


def test_given_requests_from_another_thread_when_waiting_then_each_is_handed_out_once() -> None:
    schedule = TriggerSchedule()

    def press_three_times() -> None:
        for _ in range(3):
            schedule.request()

    threading.Timer(0.02, press_three_times).start()

    reasons = [schedule.next(1.0) for _ in range(4)]

    assert reasons == ["request", "request", "request", None]


def test_given_a_timer_when_polled_then_ticks_come_at_the_interval_up_to_the_count() -> None:
    schedule = TriggerSchedule(interval_s=0.05, count=4)
    times = []

    while not schedule.timer_done:
        if schedule.next(0.2) == "timer":
            times.append(time.monotonic())

    assert schedule.ticks == 4
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(0.045 <= gap <= 0.2 for gap in gaps), gaps
    assert schedule.next(0.01) is None


def test_given_a_late_poller_when_the_timer_is_behind_then_it_does_not_burst() -> None:
    schedule = TriggerSchedule(interval_s=0.02)
    assert schedule.next(0.1) == "timer"
    time.sleep(0.1)  # five intervals missed

    assert schedule.next(0.0) == "timer"
    assert schedule.next(0.0) is None


def test_given_pending_requests_when_taken_then_they_are_gone_and_stop_wakes_the_waiter() -> None:
    schedule = TriggerSchedule()
    schedule.request()
    schedule.request()

    assert schedule.take_requests() == 2
    assert schedule.take_requests() == 0

    threading.Timer(0.05, schedule.stop).start()
    started = time.monotonic()
    assert schedule.next(5.0) is None
    assert time.monotonic() - started < 1.0
