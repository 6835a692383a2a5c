"""OpenVINO's pull path (``OpenVINOEngine.start`` and its request pool), on real compiled models.

The failing request is real: the fragile model (tests/helpers/fragile_model.py) fails inside OpenVINO for
any pixel >= 1.0.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.engines.openvino import OpenVINOEngine
from edge_inspect.engines.openvino.load import load_model
from edge_inspect.engines.openvino.requests import RequestPool
from edge_inspect.errors import EngineError
from edge_inspect.model import ModelPackage
from tests.helpers.fragile_model import SIZE, good_frame
from tests.helpers.tiny_model import expected_logits


def config(**fields: Any) -> OpenVINOEngineConfig:
    return OpenVINOEngineConfig.model_validate({"type": "openvino", **fields})


def one_tile(seed: int) -> np.ndarray:
    return good_frame(seed)[:1]


def test_outputs_are_read_where_openvino_wrote_them_until_release(tiny: ModelPackage) -> None:
    with OpenVINOEngine(config(num_requests=1), tiny) as engine:
        # Given the only request, read and released
        first = engine.start(one_tile(0))
        rows = first.wait(timeout=10)
        assert rows is not None
        np.testing.assert_allclose(rows, expected_logits(one_tile(0), "segmentation"), atol=1e-5)
        first.release()
        # when the next frame runs on it
        second = engine.start(one_tile(1))
        again = second.wait(timeout=10)
        # then its rows are in the same memory: no copy was made, which is why release comes last
        assert again is not None
        assert np.shares_memory(rows, again)
        np.testing.assert_allclose(again, expected_logits(one_tile(1), "segmentation"), atol=1e-5)
        second.release()


def test_a_failed_inference_raises_from_wait_and_its_request_serves_the_next_frame(
    fragile: ModelPackage,
) -> None:
    bad = one_tile(0)
    bad[0, 0, 3, 3] = 1.5
    with OpenVINOEngine(config(num_requests=1), fragile) as engine:
        pending = engine.start(bad)
        with pytest.raises(EngineError, match="inference failed"):
            pending.wait(timeout=10)
        assert pending.done()
        pending.release()
        # the only request is free again, and works
        good = engine.start(one_tile(1))
        rows = good.wait(timeout=10)
        assert rows is not None
        np.testing.assert_allclose(rows, expected_logits(one_tile(1), "segmentation"), atol=1e-5)
        good.release()


def test_start_waits_without_the_gil_while_every_request_is_lent(tiny: ModelPackage) -> None:
    with OpenVINOEngine(config(num_requests=1), tiny) as engine:
        held = engine.start(one_tile(0))
        assert held.wait(timeout=10) is not None
        started: list[Any] = []
        second = threading.Thread(target=lambda: started.append(engine.start(one_tile(1))))
        second.start()
        # while the only request is lent, the second start waits, and Python threads keep running
        spins, until = 0, time.monotonic() + 0.3
        while time.monotonic() < until:
            spins += 1
        assert second.is_alive()
        assert not started
        assert spins > 1000
        # once it is released, the second frame starts
        held.release()
        second.join(timeout=10)
        assert len(started) == 1
        assert started[0].wait(timeout=10) is not None
        started[0].release()


def test_close_waits_for_outputs_being_read_and_refuses_new_frames(tiny: ModelPackage) -> None:
    engine = OpenVINOEngine(config(num_requests=2), tiny)
    reading = engine.start(one_tile(0))
    rows = reading.wait(timeout=10)
    assert rows is not None
    closer = threading.Thread(target=engine.close)
    closer.start()
    time.sleep(0.3)
    # Given a consumer still reading its rows, close waits for it
    assert closer.is_alive()
    with pytest.raises(EngineError, match="closed"):
        engine.start(one_tile(1))
    np.testing.assert_allclose(rows, expected_logits(one_tile(0), "segmentation"), atol=1e-5)
    # and returns once the rows are released
    reading.release()
    closer.join(timeout=10)
    assert not closer.is_alive()


def test_at_close_unread_outputs_are_reclaimed_after_the_grace_and_a_late_reader_is_told(
    tiny: ModelPackage, tmp_path: Path
) -> None:
    loaded = load_model(config(), tiny, None, None)
    pool = RequestPool(loaded.compiled, 2, loaded.input_port, loaded.output_index)
    unread = pool.start(one_tile(0))
    given_up = pool.start(one_tile(1))
    given_up.release()  # a frame given up (an engine restart) before its outputs were read
    # When the pool closes and nobody comes for the unread frame within the grace
    started = time.monotonic()
    pool.close(grace_s=0.2)
    # then close returned after about the grace, every request is back, and a late reader gets an error
    assert 0.15 <= time.monotonic() - started < 5
    assert pool.busy() == 0
    with pytest.raises(EngineError, match="closed before the outputs were read"):
        unread.wait(timeout=1)
    unread.release()
    pool.drop_requests()


def test_normalise_in_model_takes_8_bit_pixels_and_gives_the_float_paths_outputs(tiny: ModelPackage) -> None:
    pixels = (np.random.default_rng(5).random((1, 1, SIZE, SIZE)) * 255).astype(np.uint8)
    spec = tiny.manifest.input
    gain = np.float32(1.0 / (255.0 * spec.std[0]))
    offset = np.float32(-spec.mean[0] / spec.std[0])
    normalised = pixels.astype(np.float32) * gain + offset
    with (
        OpenVINOEngine(config(), tiny) as host,
        OpenVINOEngine(config(normalise_in_model=True), tiny) as inside,
    ):
        # Given the same pixels, normalised here for one engine and inside the model for the other
        assert host.input_spec.dtype == "float32"
        assert inside.input_spec.dtype == "uint8"
        # then both engines give the same outputs, up to float rounding
        np.testing.assert_allclose(inside.infer(pixels), host.infer(normalised), rtol=0, atol=1e-4)
        with pytest.raises(EngineError, match="uint8"):
            inside.infer(normalised)
