"""Fault data: pylon error text, "in use" detection, reconnect back-off and the counters."""

from __future__ import annotations

import itertools
import threading

from edge_inspect.sources.pylon.faults import Counters, backoff, grab_error, is_in_use, pylon_message


def test_given_a_failed_grab_when_described_then_code_is_hex_and_description_kept() -> None:
    assert grab_error(0xE1000014, "The buffer was incompletely grabbed. ") == (
        "pylon grab failed (0xe1000014): The buffer was incompletely grabbed."
    )
    assert grab_error(-520093676, "") == "pylon grab failed (0xe1000014): no description"


def test_given_open_errors_when_classified_then_only_access_conflicts_mean_in_use() -> None:
    assert is_in_use("The device is controlled by another application. Err: Control access denied")
    assert is_in_use("Failed to open device '40112233': the device is currently in use")
    assert not is_in_use("No device is available or no device contains the provided device info properties.")


def test_given_a_pylon_exception_text_when_cleaned_then_the_cpp_location_is_gone() -> None:
    raw = (
        "Value = 99999 must be equal or smaller than Max = 4096. : OutOfRangeException thrown in node "
        "'Width' while calling 'Width.SetValue()' (file 'IntegerT.h', line 81)"
    )

    assert pylon_message(RuntimeError(raw)) == "Value = 99999 must be equal or smaller than Max = 4096."
    assert pylon_message(RuntimeError("plain : text")) == "plain : text"
    assert pylon_message(RuntimeError("")) == "RuntimeError"


def test_given_a_back_off_when_iterated_then_it_doubles_up_to_the_cap() -> None:
    assert list(itertools.islice(backoff(0.5, 5.0), 7)) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_given_counters_added_from_threads_when_snapshot_then_nothing_is_lost() -> None:
    counters = Counters()

    def work() -> None:
        for _ in range(1000):
            counters.add(grabbed=1, dropped=2)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    snapshot = counters.snapshot()
    assert snapshot == {
        "grabbed": 4000, "dropped": 8000, "failed_buffers": 0, "timeouts": 0, "reconnects": 0, "triggers": 0,
    }  # fmt: skip
    snapshot["grabbed"] = 0
    assert counters.snapshot()["grabbed"] == 4000
