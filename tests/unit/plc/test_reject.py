"""The reject output: one pulse per rejected answer; a module that cannot be reached is counted, not fatal."""

from __future__ import annotations

import collections

from edge_inspect.config.plc import RejectOutputConfig
from edge_inspect.net import free_loopback_port
from edge_inspect.plc.handshake import Answer
from edge_inspect.plc.registers import PlcVerdict
from edge_inspect.plc.reject import RejectOutput
from tests.helpers.waiting import wait_or_fail


def _answer(verdict: PlcVerdict) -> Answer:
    return Answer(verdict, 0, 1, (0,) * 10)


def test_a_module_away_counts_each_failed_pulse_and_a_pass_sends_none() -> None:
    counts: collections.Counter[str] = collections.Counter()
    port = free_loopback_port()  # nothing listens there
    out = RejectOutput(
        RejectOutputConfig(host="127.0.0.1", port=port, pulse_ms=10, timeout_s=0.2),
        count=lambda name, n: counts.update({name: n}),
    )
    out.start()
    try:
        out.answered(_answer(PlcVerdict.PASS))
        for verdict in (PlcVerdict.NG, PlcVerdict.ERROR, PlcVerdict.TIMEOUT):
            out.answered(_answer(verdict))
        wait_or_fail(lambda: counts["plc.reject_failures"] >= 3, 10, "three failed pulses")
    finally:
        out.close()
    assert counts["plc.reject_failures"] == 3
    assert counts["plc.reject_pulses"] == 0


def test_pulses_beyond_the_queue_are_counted_as_dropped() -> None:
    counts: collections.Counter[str] = collections.Counter()
    out = RejectOutput(
        RejectOutputConfig(host="127.0.0.1", port=free_loopback_port(), max_queued=2, timeout_s=0.2),
        count=lambda name, n: counts.update({name: n}),
    )  # not started: nothing drains the queue
    for _ in range(5):
        out.answered(_answer(PlcVerdict.NG))
    assert counts["plc.reject_dropped"] == 3
