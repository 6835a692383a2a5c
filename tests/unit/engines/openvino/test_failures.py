"""OpenVINOEngine under failure and load: a failing request, a raising callback, back-pressure.

The failing request is real: a model whose output shape depends on its input fails inside OpenVINO at
run time for any pixel >= 1.0. OpenVINO reports such a failure to nobody (no callback) and leaves its
AsyncInferQueue unusable; the engine must turn it into one error for that frame and carry on.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
from structlog.testing import capture_logs

from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.engines.openvino import OpenVINOEngine
from edge_inspect.errors import EngineError
from edge_inspect.model import ModelPackage
from tests.helpers.fragile_model import SIZE, good_frame
from tests.helpers.tiny_model import (
    expected_logits,
)


def config(**fields: Any) -> OpenVINOEngineConfig:
    return OpenVINOEngineConfig.model_validate({"type": "openvino", **fields})


class Recorder:
    def __init__(self) -> None:
        self.calls: dict[int, list[tuple[Any, BaseException | None]]] = {}
        self.lock = threading.Lock()

    def callback(self, key: int) -> Any:
        def record(outputs: Any, error: BaseException | None) -> None:
            with self.lock:
                self.calls.setdefault(key, []).append((outputs, error))

        return record


def test_a_request_that_fails_in_openvino_costs_its_frame_only(fragile: ModelPackage) -> None:
    recorder = Recorder()
    frames = {k: good_frame(k) for k in range(12)}
    for k in (4, 9):
        frames[k][1, 0, 5, 5] = 2.0  # tile 1 of these frames fails inside OpenVINO
    with OpenVINOEngine(config(num_requests=2), fragile) as engine:
        # When good and failing frames are submitted back to back
        with capture_logs() as logs:
            for k, tensor in frames.items():
                engine.submit(tensor, recorder.callback(k))
            engine.wait_all()
        # then every frame called back once: the failing ones with an error naming the tile,
        assert sorted(recorder.calls) == list(frames)
        for k, calls in recorder.calls.items():
            assert len(calls) == 1, f"frame {k}: {len(calls)} callbacks"
            outputs, error = calls[0]
            if k in (4, 9):
                assert outputs is None
                assert isinstance(error, EngineError)
                assert "inference of tile 1 failed" in str(error)
                assert "reshape" in str(error)
            else:
                assert error is None
                np.testing.assert_allclose(outputs, expected_logits(frames[k], "segmentation"), atol=1e-5)
        # the two failed requests were logged (one queue replacement may cover both), and the engine runs on
        replaced = [entry for entry in logs if entry["event"] == "infer request failed; queue replaced"]
        assert sum(entry["failed"] for entry in replaced) == 2
        np.testing.assert_allclose(
            engine.infer(frames[0]), expected_logits(frames[0], "segmentation"), atol=1e-5
        )


def test_infer_raises_the_frames_error_and_the_engine_carries_on(fragile: ModelPackage) -> None:
    bad = good_frame(0)
    bad[0, 0, 0, 0] = 1.5
    with OpenVINOEngine(config(num_requests=1), fragile) as engine:
        with pytest.raises(EngineError, match="inference of tile 0 failed"):
            engine.infer(bad)
        assert engine.infer(good_frame(1)).shape == (3, 1, SIZE, SIZE)


def test_a_callback_that_raises_is_logged_and_never_stops_the_engine(tiny: ModelPackage) -> None:
    recorder = Recorder()

    def explode(outputs: Any, error: BaseException | None) -> None:
        raise RuntimeError("sink exploded")

    with OpenVINOEngine(config(num_requests=2), tiny) as engine, capture_logs() as logs:
        for k in range(6):
            engine.submit(good_frame(k), explode if k % 2 else recorder.callback(k))
        engine.wait_all()
        assert sorted(recorder.calls) == [0, 2, 4]
        assert all(calls[0][1] is None for calls in recorder.calls.values())
    assert sum("callback raised" in entry["event"] for entry in logs) == 3


def test_submit_blocks_while_every_request_is_busy_without_holding_the_gil(tiny: ModelPackage) -> None:
    release = threading.Event()
    recorder = Recorder()

    def hold(outputs: Any, error: BaseException | None) -> None:
        release.wait(10)  # keeps the only infer request busy

    with OpenVINOEngine(config(num_requests=1), tiny) as engine:
        # Given the only request held by a slow consumer
        engine.submit(good_frame(0)[:1], hold)
        second = threading.Thread(target=engine.submit, args=(good_frame(1)[:1], recorder.callback(1)))
        second.start()
        # when another frame is submitted, then it waits, while Python threads keep running
        spins, until = 0, time.monotonic() + 0.5
        while time.monotonic() < until:
            spins += 1
        assert second.is_alive()
        assert spins > 10_000
        # and it goes through once the request is free again
        release.set()
        second.join(10)
        assert not second.is_alive()
        engine.wait_all()
    assert len(recorder.calls[1]) == 1
