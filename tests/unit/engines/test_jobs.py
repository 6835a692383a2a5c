"""FrameJob: tiles finish in any order, on any thread; the frame's callback fires exactly once."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
from structlog.testing import capture_logs

from edge_inspect.engines.jobs import FrameJob, InFlight
from edge_inspect.errors import EngineError, EngineOutputError


class Calls(InFlight):
    """The frame's callback and the in-flight counter, recording what they are told."""

    def __init__(self) -> None:
        super().__init__()
        self.results: list[tuple[Any, BaseException | None]] = []
        self.added = self.finished_count = 0

    def callback(self, outputs: Any, error: BaseException | None) -> None:
        self.results.append((outputs, error))

    def add(self) -> None:
        super().add()
        self.added += 1

    def finished(self) -> None:
        super().finished()
        self.finished_count += 1


def rows(value: float, n: int = 1) -> np.ndarray:
    return np.full((n, 2, 4, 4), value, dtype=np.float32)


def test_rows_land_in_tile_order_whatever_order_requests_finish_in() -> None:
    calls = Calls()
    job = FrameJob(3, 1, (2, 4, 4), calls.callback, calls)
    for chunk in (2, 0, 1):
        job.put(chunk, rows(float(chunk)))
    [(outputs, error)] = calls.results
    assert error is None
    assert [float(outputs[i].mean()) for i in range(3)] == [0.0, 1.0, 2.0]
    assert (calls.added, calls.finished_count) == (1, 1)
    assert job.done


def test_rows_are_copied_so_the_request_memory_can_be_reused() -> None:
    calls = Calls()
    job = FrameJob(2, 2, (2, 4, 4), calls.callback, calls)
    buffer = rows(7.0, 2)
    job.put(0, buffer)
    buffer[:] = -1.0  # the request is reused for the next tile
    job.put(1, buffer)
    outputs = calls.results[0][0]
    assert outputs.shape == (4, 2, 4, 4)
    assert float(outputs[:2].min()) == 7.0


def test_the_first_failure_ends_the_frame_and_later_rows_are_ignored() -> None:
    calls = Calls()
    job = FrameJob(3, 1, (2, 4, 4), calls.callback, calls)
    job.put(0, rows(0.0))
    job.fail(EngineError("tile 1 failed"))
    job.put(1, rows(1.0))
    job.put(2, rows(2.0))
    job.fail(EngineError("again"))
    assert len(calls.results) == 1
    assert calls.results[0][0] is None
    assert str(calls.results[0][1]) == "tile 1 failed"
    assert (calls.added, calls.finished_count) == (1, 1)


def test_rows_of_the_wrong_shape_fail_the_frame() -> None:
    calls = Calls()
    job = FrameJob(1, 1, (2, 4, 4), calls.callback, calls)
    job.put(0, np.zeros((1, 2, 4, 5), np.float32))
    [(outputs, error)] = calls.results
    assert outputs is None
    assert isinstance(error, EngineOutputError)
    assert "[1, 2, 4, 5], expected [1, 2, 4, 4]" in str(error)


def test_a_callback_that_raises_is_logged_and_the_frame_still_counts_as_finished() -> None:
    calls = Calls()

    def broken(outputs: Any, error: BaseException | None) -> None:
        raise RuntimeError("sink exploded")

    job = FrameJob(1, 1, (2, 4, 4), broken, calls)
    with capture_logs() as logs:
        job.put(0, rows(0.0))
    calls.wait_idle()
    assert calls.finished_count == 1
    assert any(entry["log_level"] == "error" and "callback raised" in entry["event"] for entry in logs)


@pytest.mark.parametrize("threads", [8])
def test_tiles_finishing_on_many_threads_call_back_once(threads: int) -> None:
    calls = Calls()
    job = FrameJob(threads, 1, (2, 4, 4), calls.callback, calls)
    start = threading.Barrier(threads)

    def finish(chunk: int) -> None:
        start.wait()
        job.put(chunk, rows(float(chunk)))

    workers = [threading.Thread(target=finish, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(calls.results) == 1
    assert (calls.added, calls.finished_count) == (1, 1)
    np.testing.assert_array_equal(calls.results[0][0][:, 0, 0, 0], np.arange(threads, dtype=np.float32))


def test_a_finished_job_lets_go_of_the_callback_and_the_rows() -> None:
    # (stale jobs stay referenced by OpenVINO's queue until a request is reused)
    calls = Calls()
    job = FrameJob(1, 1, (2, 4, 4), calls.callback, calls)
    job.put(0, rows(1.0))
    assert (job._callback, job._outputs) == (None, None)
    assert calls.results[0][0] is not None


def test_in_flight_waits_until_every_frame_has_finished() -> None:
    in_flight = InFlight()
    ended: list[int] = []

    def finish(k: int) -> None:
        ended.append(k)
        in_flight.finished()

    for _ in range(3):
        in_flight.add()
    timers = [threading.Timer(0.05 * (k + 1), finish, args=(k,)) for k in range(3)]
    for timer in timers:
        timer.start()
    in_flight.wait_idle()
    assert sorted(ended) == [0, 1, 2]
