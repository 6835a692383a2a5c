"""The contract every engine passes (the Engine Protocol in edge_inspect/types.py), on every case in CASES.

Each case opens a real engine through ``open_engine`` on a real package: the tiny test models, and the
shipped models/dagm-unet (each variant) once it exists. Nothing here knows which backend it is testing.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_inspect.errors import EngineError
from edge_inspect.model.manifest import InputSpec
from edge_inspect.types import Engine, FloatArray, Pending
from tests.contract.cases import OPENVINO, EngineCase, Opened, open_case, tiles
from tests.contract.compare import PROBABILITY_TOLERANCE, Infers, assert_engines_agree

pytestmark = pytest.mark.timeout(600)


class Recorder:
    """An engine callback that records every call, thread-safely, by frame key."""

    def __init__(self) -> None:
        self.calls: dict[Any, list[tuple[FloatArray | None, BaseException | None]]] = {}
        self._lock = threading.Lock()

    def callback(self, key: Any) -> Any:
        def record(outputs: FloatArray | None, error: BaseException | None) -> None:
            with self._lock:
                self.calls.setdefault(key, []).append((outputs, error))

        return record


class HostNormalised:
    """An engine of float input fed 8-bit pixels, normalised as the manifest says, ``infer`` only."""

    def __init__(self, engine: Engine, spec: InputSpec) -> None:
        self.engine = engine
        shape = (1, -1, 1, 1) if spec.layout == "NCHW" else (1, 1, 1, -1)
        self._gain = (1.0 / (255.0 * np.asarray(spec.std, dtype=np.float32))).reshape(shape)
        self._offset = (-np.asarray(spec.mean, dtype=np.float32) / np.asarray(spec.std)).reshape(shape)

    def infer(self, pixels: Any) -> FloatArray:
        normalised = (pixels.astype(np.float32) * self._gain + self._offset).astype(np.float32)
        return self.engine.infer(normalised)


def frame(engine: Engine, n: int, seed: int = 0) -> Any:
    spec = engine.input_spec
    return tiles(spec.shape, spec.dtype, n * spec.shape[0], seed)


# ----------------------------------------------------------------------------------------------- specs


def test_input_spec_matches_the_manifest(opened: Opened) -> None:
    # Given an engine on a package, when its input spec is read from the loaded model
    spec, manifest = opened.engine.input_spec, opened.package.manifest.input
    # then it is the manifest's input (name, dtype, layout and tile size), or for an engine that
    # normalises inside the model, the same in 8-bit pixels
    size: tuple[int, ...] = (manifest.channels, manifest.height, manifest.width)
    if manifest.layout == "NHWC":
        size = (manifest.height, manifest.width, manifest.channels)
    pixels = getattr(opened.case.config, "normalise_in_model", False)
    assert (spec.name, spec.dtype, spec.layout, spec.shape[1:]) == (
        manifest.name,
        "uint8" if pixels else manifest.dtype,
        manifest.layout,
        size,
    )
    assert spec.shape[0] >= 1


def test_outputs_have_one_row_per_tile_in_the_manifest_shape(opened: Opened) -> None:
    output, model_input = opened.package.manifest.output, opened.package.manifest.input
    channels = len(output.classes) + (1 if output.activation == "softmax" else 0)
    row = (
        (channels, model_input.height // output.stride, model_input.width // output.stride)
        if output.kind == "segmentation"
        else (channels,)
    )
    assert opened.engine.output_spec.shape[1:] == row
    for n in (1, 3):
        # Given a frame of n tiles, when it is inferred
        outputs = opened.engine.infer(frame(opened.engine, n))
        # then the outputs are n finite float32 rows of the manifest's shape
        assert outputs.shape == (n * opened.engine.input_spec.shape[0], *row)
        assert outputs.dtype == np.float32
        assert np.isfinite(outputs).all()


# ------------------------------------------------------------------------------------------ submitting


def test_infer_and_submit_give_the_same_outputs(opened: Opened) -> None:
    engine = opened.engine
    tensor = frame(engine, 2, seed=1)
    recorder = Recorder()
    # Given the same frame, when it is run synchronously and asynchronously
    synchronous = engine.infer(tensor)
    engine.submit(tensor, recorder.callback("frame"))
    engine.wait_all()
    # then the one callback carries the same outputs
    [(outputs, error)] = recorder.calls["frame"]
    assert error is None
    assert outputs is not None
    np.testing.assert_allclose(outputs, synchronous, rtol=0, atol=1e-5)


def test_a_frame_of_n_tiles_calls_back_once_with_rows_in_tile_order(opened: Opened) -> None:
    engine = opened.engine
    per_request = engine.input_spec.shape[0]
    tensor = frame(engine, 5, seed=2)
    singles = [engine.infer(tensor[i : i + per_request]) for i in range(0, len(tensor), per_request)]
    expected = np.concatenate(singles)
    # (the tiles give different outputs, so an order mix-up cannot pass unseen)
    flat = expected.reshape(len(expected), -1)
    assert min(np.abs(flat[i] - flat[j]).max() for i in range(len(flat)) for j in range(i)) > 1e-3
    recorder = Recorder()
    # When the frame is submitted as one call
    engine.submit(tensor, recorder.callback("frame"))
    engine.wait_all()
    # then the callback fires once, with row i the output of tile i
    [(outputs, error)] = recorder.calls["frame"]
    assert error is None
    assert outputs is not None
    np.testing.assert_allclose(outputs, expected, rtol=0, atol=1e-5)


def test_concurrent_submits_each_call_back_exactly_once_with_their_own_rows(opened: Opened) -> None:
    engine = opened.engine
    per_request = engine.input_spec.shape[0]
    pool = frame(engine, 4, seed=3)
    reference = engine.infer(pool)
    threads, frames_per_thread, tiles_per_frame = 3, 4, 2

    def rows(k: int) -> list[int]:
        return [(k + j) % 4 for j in range(tiles_per_frame)]

    def frame_tensor(k: int) -> Any:
        return np.concatenate([pool[r * per_request : (r + 1) * per_request] for r in rows(k)])

    recorder = Recorder()

    def producer(t: int) -> None:
        for k in range(t * frames_per_thread, (t + 1) * frames_per_thread):
            engine.submit(frame_tensor(k), recorder.callback(k))

    # Given several threads submitting frames at once (more than the engine has requests)
    workers = [threading.Thread(target=producer, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    engine.wait_all()
    # then every frame called back exactly once, with its own tiles' outputs
    assert sorted(recorder.calls) == list(range(threads * frames_per_thread))
    for k, calls in recorder.calls.items():
        assert len(calls) == 1, f"frame {k} called back {len(calls)} times"
        outputs, error = calls[0]
        assert error is None
        assert outputs is not None
        expected = np.concatenate([reference[r * per_request : (r + 1) * per_request] for r in rows(k)])
        np.testing.assert_allclose(outputs, expected, rtol=0, atol=1e-5)


def wrong_tensors(engine: Engine) -> dict[str, Any]:
    spec = engine.input_spec
    good = frame(engine, 1)
    taller = list(good.shape)
    taller[2] += 1
    return {
        "one row too many in height": np.zeros(taller, dtype=good.dtype),
        "no batch dimension": good[0],
        "float64": good.astype(np.float64),
        "zero tiles": good[:0],
        "a list, not an array": good.tolist(),
        "partial request": good[:1] if spec.shape[0] > 1 else np.zeros((1, 2, 3), dtype=good.dtype),
    }


def test_a_wrong_tensor_is_an_engine_error_and_the_engine_keeps_working(opened: Opened) -> None:
    engine = opened.engine
    recorder = Recorder()
    for what, tensor in wrong_tensors(engine).items():
        # Given a tensor that does not fit the input, when it is submitted, then it is an EngineError
        with pytest.raises(EngineError, match=engine.input_spec.name):
            engine.submit(tensor, recorder.callback(what))
        with pytest.raises(EngineError):
            engine.infer(tensor)
    engine.wait_all()
    # the callback was never called, and the next good frame runs
    assert recorder.calls == {}
    assert engine.infer(frame(engine, 1)).shape[0] == engine.input_spec.shape[0]


def test_close_finishes_in_flight_frames_and_refuses_new_ones(case: EngineCase, tmp_path: Path) -> None:
    opened = open_case(case, tmp_path)
    engine = opened.engine
    recorder = Recorder()
    # Given frames in flight
    for k in range(6):
        engine.submit(frame(engine, 2, seed=k), recorder.callback(k))
    # when the engine is closed (twice)
    engine.close()
    engine.close()
    # then every frame had its one callback before close returned, and new frames are refused
    assert sorted(recorder.calls) == list(range(6))
    assert all(len(calls) == 1 and calls[0][1] is None for calls in recorder.calls.values())
    with pytest.raises(EngineError, match="closed"):
        engine.submit(frame(engine, 1), recorder.callback("late"))
    engine.wait_all()


def test_start_gives_infers_rows_for_frames_of_one_and_of_several_requests(opened: Opened) -> None:
    engine = opened.engine
    for n, seed in ((1, 11), (3, 12)):
        tensor = frame(engine, n, seed=seed)
        expected = engine.infer(tensor)
        # Given a frame started on the pull path, when its Pending is waited on
        pending = engine.start(tensor)
        try:
            outputs = pending.wait(timeout=60)
            # then it carries infer's rows, in tile order
            assert outputs is not None
            np.testing.assert_allclose(outputs, expected, rtol=0, atol=1e-5)
            assert pending.done()
        finally:
            pending.release()
        pending.release()  # a second release does nothing


def test_frames_started_together_each_get_their_own_rows(opened: Opened) -> None:
    engine = opened.engine
    tensors = [frame(engine, 1, seed=20 + k) for k in range(6)]
    expected = [engine.infer(t) for t in tensors]
    started: queue.Queue[Pending] = queue.Queue()
    results: list[Any] = []
    failures: list[BaseException] = []

    def consume() -> None:  # the pipeline's deciding thread: in order, one at a time
        try:
            for _ in tensors:
                pending = started.get(timeout=60)
                outputs = pending.wait(timeout=60)
                results.append(None if outputs is None else np.array(outputs, copy=True))
                pending.release()
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    reader = threading.Thread(target=consume)
    reader.start()
    # Given more frames than the engine has requests, started by one thread and read by another
    for tensor in tensors:
        started.put(engine.start(tensor))  # blocks while every request is held: back-pressure
    reader.join(timeout=120)
    # then every frame's rows are its own
    assert not failures
    assert len(results) == len(tensors)
    for rows, want in zip(results, expected, strict=True):
        np.testing.assert_allclose(rows, want, rtol=0, atol=1e-5)


def test_start_refuses_a_wrong_tensor_and_a_closed_engine(case: EngineCase, tmp_path: Path) -> None:
    opened = open_case(case, tmp_path)
    engine = opened.engine
    spec = engine.input_spec
    with pytest.raises(EngineError, match=spec.name):
        engine.start(np.zeros((spec.shape[0], *spec.shape[1:-1], spec.shape[-1] + 1), dtype=spec.dtype))
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.start(frame(engine, 1))


# --------------------------------------------------------------------------------------- cross-checks


def test_probabilities_match_openvino_fp32_on_the_same_tensors(
    opened: Opened, tmp_path_factory: pytest.TempPathFactory
) -> None:
    variant, artifact = opened.package.artifact(opened.case.variant)
    if opened.case.config == OPENVINO and variant == "fp32":
        pytest.skip("this case is the reference")
    precision = opened.case.compute or artifact.precision
    if precision not in PROBABILITY_TOLERANCE:
        pytest.skip(f"{precision} is judged on verdicts over the sample set, not on probabilities")
    scratch = tmp_path_factory.mktemp("reference")
    with_fp32 = EngineCase(lambda _: opened.package.root, "fp32", OPENVINO)
    reference = open_case(with_fp32, scratch).engine
    baseline: Infers = reference
    try:
        if opened.engine.input_spec.dtype == "uint8" != reference.input_spec.dtype:
            # 8-bit pixels for an engine that normalises inside; the reference gets them normalised here
            baseline = HostNormalised(reference, opened.package.manifest.input)
        tensors = [frame(opened.engine, 2, seed=10 + i) for i in range(3)]
        assert_engines_agree(
            baseline,
            opened.engine,
            tensors,
            opened.package.manifest.output,
            PROBABILITY_TOLERANCE[precision],
        )
    finally:
        reference.close()
