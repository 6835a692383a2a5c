"""Matching PUBACKs to published messages, including an ack that arrives before its registration."""

from __future__ import annotations

import threading

from edge_inspect.publish.acks import AckTracker


def test_given_a_registered_message_when_acked_then_its_callback_runs_once_and_pending_drops() -> None:
    tracker = AckTracker()
    seen: list[tuple[int, bool]] = []
    tracker.register(7, lambda mid, ok: seen.append((mid, ok)), counted=True)
    assert tracker.pending() == 1

    tracker.acked(7)
    tracker.acked(7)  # a second ack for the same id finds nothing waiting

    assert seen == [(7, True)]
    assert tracker.pending() == 0
    assert tracker.wait_settled(0.1)


def test_given_an_ack_before_the_registration_when_registered_then_it_is_settled_at_once() -> None:
    """The client may get the PUBACK before ``publish`` has returned the message id to us."""
    tracker = AckTracker()
    seen: list[tuple[int, bool]] = []

    tracker.acked(3, accepted=False)
    tracker.register(3, lambda mid, ok: seen.append((mid, ok)), counted=True)

    assert seen == [(3, False)]
    assert tracker.pending() == 0


def test_given_uncounted_messages_then_only_counted_ones_are_pending() -> None:
    tracker = AckTracker()
    tracker.register(1)  # a status message
    tracker.register(2, counted=True)  # a result

    assert tracker.pending() == 1
    assert not tracker.wait_settled(0.05)
    threading.Timer(0.05, tracker.acked, args=(2,)).start()
    assert tracker.wait_settled(2.0)


def test_given_a_held_message_when_registered_and_acked_then_it_is_pending_until_the_ack_only() -> None:
    tracker = AckTracker()
    tracker.hold()
    assert tracker.pending() == 1  # kept back before CONNACK: already awaiting its ack
    tracker.register(7, counted=True, held=True)
    assert tracker.pending() == 1  # not counted twice
    tracker.acked(7)
    assert tracker.pending() == 0
    assert tracker.wait_settled(0.1)


def test_given_a_held_message_whose_ack_came_first_when_registered_then_nothing_stays_pending() -> None:
    tracker = AckTracker()
    tracker.hold()
    tracker.acked(9)  # paho may settle it before our registration
    tracker.register(9, counted=True, held=True)
    assert tracker.pending() == 0
