"""Inferences in flight: each answered exactly once, by its callback or by an engine restart."""

from __future__ import annotations

import threading

from edge_inspect.runtime.inflight import Inflight
from tests.helpers.clock import ManualClock


def test_given_submissions_then_the_oldest_start_is_reported_until_answered() -> None:
    clock = ManualClock(10.0)
    flights: Inflight[str] = Inflight(clock)
    first = flights.begin("a")
    clock.now = 12.0
    flights.begin("b")

    assert flights.oldest_start() == 10.0
    assert flights.claim(first)
    flights.released()
    assert flights.oldest_start() == 12.0
    assert len(flights) == 1


def test_given_an_abandon_then_late_callbacks_cannot_answer_again() -> None:
    flights: Inflight[str] = Inflight()
    tokens = [flights.begin(name) for name in "abc"]

    abandoned = flights.abandon()

    assert sorted(item for item, _start in abandoned) == ["a", "b", "c"]
    assert not any(flights.claim(token) for token in tokens)
    assert not flights.wait_idle(0.05)  # the abandoned answers are not queued yet
    flights.released(len(abandoned))
    assert flights.wait_idle(0.05)
    assert flights.oldest_start() is None


def test_given_a_claimed_answer_then_wait_idle_waits_until_it_is_released() -> None:
    flights: Inflight[str] = Inflight()
    token = flights.begin("a")
    assert flights.claim(token)

    threading.Timer(0.05, flights.released).start()

    assert flights.wait_idle(2.0)


def test_given_finished_frames_then_a_restart_abandons_only_the_running_ones() -> None:
    clock = ManualClock(1.0)
    flights: Inflight[str] = Inflight(clock)
    running = flights.begin("running")
    clock.now = 2.0
    finished = flights.begin("finished")

    # the watchdog looks only at what still runs
    assert flights.oldest_start(unless=lambda name: name == "finished") == 1.0
    abandoned = flights.abandon(keep=lambda name: name == "finished")
    flights.released(len(abandoned))

    assert [name for name, _start in abandoned] == ["running"]
    assert not flights.holds(running)
    assert flights.holds(finished)
    assert flights.oldest_start(unless=lambda name: name == "finished") is None
    # the kept frame is answered as usual, once
    assert flights.take(finished)
    assert not flights.take(finished)
    assert not flights.take(running)
    assert flights.wait_idle(timeout=0)
