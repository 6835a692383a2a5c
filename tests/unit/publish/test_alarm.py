"""Named alarms: loud when raised, quiet while they persist, cleared only after a calm spell."""

from __future__ import annotations

from structlog.testing import capture_logs

from edge_inspect.publish.alarm import Alarm
from tests.helpers.clock import ManualClock


def test_given_repeated_occurrences_then_one_log_per_minute_with_the_count_in_between() -> None:
    clock = ManualClock()
    alarm = Alarm("outbox_full", repeat_s=60, clock=clock)
    with capture_logs() as logs:
        for _ in range(100):
            alarm.raise_("outbox full", count=1)
            clock.now += 1

    assert alarm.active
    assert alarm.raised == 100
    assert [entry["occurrences"] for entry in logs] == [1, 60]
    assert all(entry["alarm"] == "outbox_full" and entry["log_level"] == "error" for entry in logs)


def test_given_a_condition_that_flaps_then_it_clears_only_after_hold_s_without_occurrence() -> None:
    clock = ManualClock()
    alarm = Alarm("outbox_store_failed", hold_s=10, clock=clock)
    alarm.raise_("disk full")
    with capture_logs() as logs:
        clock.now += 5
        alarm.clear("stores again")
        assert alarm.active
        clock.now += 6
        alarm.clear("stores again")

    assert not alarm.active
    assert [entry["event"] for entry in logs] == ["alarm cleared: stores again"]
