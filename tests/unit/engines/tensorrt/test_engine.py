"""The TensorRT engine's orchestration: plan cache, slots, threads, ordering, errors and clean-up.

FAKE TensorRT and pycuda (``trt_fakes``): no NVIDIA GPU here. The fakes keep what matters for these
checks faithful (asynchronous streams that read host memory when they run, real device-memory addresses,
a context check on every CUDA call, plans tied to GPU and version), and the model's numbers come from its
real ONNX file run by OpenVINO. The real TensorRT path is ``tests/gpu/test_tensorrt_engine.py``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from structlog.testing import capture_logs

from edge_inspect.config.engines import TensorRTEngineConfig
from edge_inspect.engines.tensorrt import TensorRTEngine, plan_cache_dir
from edge_inspect.errors import EngineError, MissingDependencyError
from edge_inspect.model import load_package
from edge_inspect.model.package import ModelPackage
from tests.helpers.tiny_model import expected_logits, write_tiny_manifest
from tests.unit.engines.trt_fakes import PLAN_MAGIC, FakeCuda, FakeTensorRT, install, make_calibrated_package

SIZE = 32
ATOL = 1e-4


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FakeTensorRT, FakeCuda]]:
    trt, cuda = install(monkeypatch)
    yield trt, cuda
    assert cuda.violations == [], "CUDA calls without a current context"


@pytest.fixture
def package(tmp_path: Path) -> ModelPackage:
    return load_package(make_calibrated_package(tmp_path / "pkg", size=SIZE, images=3, image_size=48))


def config(**fields: Any) -> TensorRTEngineConfig:
    return TensorRTEngineConfig.model_validate({"type": "tensorrt", "max_batch": 8, **fields})


def tiles(n: int, seed: int) -> npt.NDArray[np.float32]:
    return np.random.default_rng(seed).random((n, 1, SIZE, SIZE), dtype=np.float32)


def test_given_a_package_when_opened_then_outputs_are_the_models_for_any_tile_count(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    trt, cuda = fakes
    engine = TensorRTEngine(config(), package, None, tmp_path / "cache")
    try:
        assert engine.input_spec.name == "image"
        assert engine.input_spec.shape == (1, 1, SIZE, SIZE)  # dynamic batch: any N up to max_batch
        assert engine.input_spec.dtype == "float32"
        assert engine.output_spec.shape == (1, 1, SIZE, SIZE)
        for n in (1, 3, 8):
            batch = tiles(n, seed=n)
            out = engine.infer(batch)
            assert out.shape == (n, 1, SIZE, SIZE)
            assert out.dtype == np.float32
            np.testing.assert_allclose(out, expected_logits(batch, "segmentation"), atol=ATOL)
    finally:
        engine.close()
    assert len(trt.builds) == 1
    assert [p.suffix for p in sorted((tmp_path / "cache" / "tensorrt").iterdir())] == [".json", ".plan"]
    assert cuda.live_allocations() == 0
    assert cuda.contexts_detached == 1


def test_given_a_cached_plan_when_opened_again_then_it_is_loaded_not_built(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    trt, _cuda = fakes
    TensorRTEngine(config(), package, None, tmp_path / "cache").close()
    with capture_logs() as logs:
        engine = TensorRTEngine(config(), package, None, tmp_path / "cache")
    engine.close()
    assert len(trt.builds) == 1
    assert "tensorrt plan loaded from the cache" in [e["event"] for e in logs]


def test_given_a_cached_plan_that_will_not_deserialize_here_when_opened_then_rebuilt_with_reason_and_time(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    trt, _cuda = fakes
    TensorRTEngine(config(), package, None, tmp_path / "cache").close()
    plan_file = next((tmp_path / "cache" / "tensorrt").glob("*.plan"))
    plan_file.write_bytes(plan_file.read_bytes().replace(b'"gpu": "Fake T4"', b'"gpu": "Tesla V100"'))
    with capture_logs() as logs:
        engine = TensorRTEngine(config(), package, None, tmp_path / "cache")
    try:
        batch = tiles(2, seed=7)
        np.testing.assert_allclose(engine.infer(batch), expected_logits(batch, "segmentation"), atol=ATOL)
    finally:
        engine.close()
    assert len(trt.builds) == 2
    built = next(e for e in logs if e["event"] == "tensorrt plan built")
    assert "does not load on this GPU / TensorRT" in built["reason"]
    assert (
        "not compatible with this version of TensorRT or this GPU (built by 10.3.0 on Tesla V100)"
        in built["reason"]
    )
    assert built["build_seconds"] >= 0
    assert b"Fake T4" in plan_file.read_bytes()


def test_given_frames_faster_than_the_gpu_when_submitted_then_k_in_flight_in_order_each_with_its_outputs(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    _trt, cuda = fakes
    engine = TensorRTEngine(config(num_contexts=2), package, None, tmp_path / "cache")
    cuda.kernel_seconds = 0.2
    results: list[tuple[int, npt.NDArray[np.float32] | None, BaseException | None]] = []
    lock = threading.Lock()
    frames = 6
    reused = np.empty((2, 1, SIZE, SIZE), dtype=np.float32)  # one caller array, refilled for every frame
    expected = []
    submit_seconds = []
    try:
        started = time.monotonic()
        for seq in range(frames):
            reused[:] = tiles(2, seed=100 + seq)
            expected.append(expected_logits(reused, "segmentation"))

            def callback(out: Any, error: BaseException | None, seq: int = seq) -> None:
                with lock:
                    results.append((seq, out, error))

            before = time.monotonic()
            engine.submit(reused, callback)
            submit_seconds.append(time.monotonic() - before)
        engine.wait_all()
        elapsed = time.monotonic() - started
    finally:
        engine.close()
    assert [seq for seq, _out, _err in results] == list(range(frames))
    for seq, out, error in results:
        assert error is None
        assert out is not None
        np.testing.assert_allclose(out, expected[seq], atol=ATOL)
    assert max(submit_seconds[:2]) < 0.1, "the first K submits must not wait"
    assert submit_seconds[2] > 0.05, "with both slots busy, submit waits for a free one (back-pressure)"
    assert elapsed < frames * 0.2 * 0.8, f"two contexts should overlap: {elapsed:.2f} s for {frames} frames"


def test_given_a_bad_tensor_when_submitted_then_it_is_refused_at_once_and_the_engine_goes_on(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    engine = TensorRTEngine(config(max_batch=4), package, None, tmp_path / "cache")
    called: list[Any] = []
    try:
        with pytest.raises(EngineError, match=r"takes \[N, 1, 32, 32\] float32"):
            engine.submit(np.zeros((2, 3, SIZE, SIZE), np.float32), lambda *a: called.append(a))
        with pytest.raises(EngineError, match="float64"):
            engine.submit(np.zeros((2, 1, SIZE, SIZE), np.float64), lambda *a: called.append(a))
        with pytest.raises(
            EngineError, match=r"'image': frame has 6 tiles; engine\.max_batch is 4: raise it to at least 6"
        ):
            engine.submit(np.zeros((6, 1, SIZE, SIZE), np.float32), lambda *a: called.append(a))
        batch = tiles(4, seed=3)
        np.testing.assert_allclose(engine.infer(batch), expected_logits(batch, "segmentation"), atol=ATOL)
    finally:
        engine.close()
    assert called == []


def test_given_an_enqueue_that_fails_when_run_then_that_frame_errors_and_the_next_one_runs(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    trt, _cuda = fakes
    engine = TensorRTEngine(config(), package, None, tmp_path / "cache")
    try:
        trt.fail_execute = True
        with pytest.raises(EngineError, match="execute_async_v3 failed on context"):
            engine.infer(tiles(1, seed=1))
        trt.fail_execute = False
        batch = tiles(1, seed=2)
        np.testing.assert_allclose(engine.infer(batch), expected_logits(batch, "segmentation"), atol=ATOL)
    finally:
        engine.close()


def test_given_a_callback_that_raises_when_called_then_the_engine_goes_on(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    engine = TensorRTEngine(config(), package, None, tmp_path / "cache")

    def broken(_out: Any, _err: BaseException | None) -> None:
        raise ValueError("a caller's bug")

    try:
        with capture_logs() as logs:
            engine.submit(tiles(1, seed=1), broken)
            engine.wait_all()
        batch = tiles(1, seed=2)
        np.testing.assert_allclose(engine.infer(batch), expected_logits(batch, "segmentation"), atol=ATOL)
    finally:
        engine.close()
    assert any(e["event"] == "engine callback failed" for e in logs)


def test_given_int8_when_built_then_calibration_images_are_fed_and_their_cache_reused_by_the_next_build(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    trt, _cuda = fakes
    cache = tmp_path / "cache"
    engine = TensorRTEngine(config(precision="int8", calibration_batch=4), package, None, cache)
    batch = tiles(3, seed=5)
    try:
        np.testing.assert_allclose(engine.infer(batch), expected_logits(batch, "segmentation"), atol=ATOL)
    finally:
        engine.close()
    assert trt.builds[0]["batches"] == 3  # 3 images x 4 tiles, in batches of 4
    means = [round(float(b.mean()) * 255) for b in trt.calibration_batches]
    assert means == [40, 80, 120]  # preprocessed as the daemon does: pixel / 255
    calibration_caches = list((cache / "tensorrt").glob("*-int8-calibration-*.cache"))
    assert len(calibration_caches) == 1

    for plan in (cache / "tensorrt").glob("*.plan"):
        plan.unlink()
    TensorRTEngine(config(precision="int8", calibration_batch=4), package, None, cache).close()
    assert len(trt.builds) == 2
    assert trt.builds[1]["batches"] == 0  # the calibration cache was used


def test_given_a_static_batch_onnx_when_run_then_frames_are_enqueued_in_chunks_of_that_batch(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    import onnx

    path = package.root / "onnx" / "model.onnx"
    model = onnx.load(str(path))
    for value in (model.graph.input[0], model.graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_value = 2
    onnx.save(model, str(path))
    artifacts = {"onnx": {"format": "onnx", "path": "onnx/model.onnx", "precision": "fp32"}}
    write_tiny_manifest(package.root, "segmentation", SIZE, artifacts)
    static = load_package(package.root)

    engine = TensorRTEngine(config(precision="fp32", max_batch=6), static, None, tmp_path / "cache")
    try:
        assert engine.input_spec.shape == (2, 1, SIZE, SIZE)
        batch = tiles(6, seed=11)
        np.testing.assert_allclose(engine.infer(batch), expected_logits(batch, "segmentation"), atol=ATOL)
        with pytest.raises(EngineError, match="N a positive multiple of 2"):
            engine.infer(tiles(3, seed=12))
    finally:
        engine.close()


def test_given_a_prebuilt_plan_artifact_when_it_loads_then_nothing_is_built_and_when_not_then_rebuilt(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    trt, _cuda = fakes
    TensorRTEngine(config(), package, None, tmp_path / "cache").close()
    built = next((tmp_path / "cache" / "tensorrt").glob("*.plan")).read_bytes()
    (package.root / "prebuilt.plan").write_bytes(built)
    artifacts = {
        "plan": {"format": "tensorrt-plan", "path": "prebuilt.plan", "precision": "fp16"},
        "onnx": {"format": "onnx", "path": "onnx/model.onnx", "precision": "fp32"},
    }
    write_tiny_manifest(package.root, "segmentation", SIZE, artifacts)
    TensorRTEngine(config(), load_package(package.root), "plan", None).close()
    assert len(trt.builds) == 1

    (package.root / "prebuilt.plan").write_bytes(PLAN_MAGIC + b'{"tensorrt": "8.6.1", "gpu": "Xavier"}')
    write_tiny_manifest(package.root, "segmentation", SIZE, artifacts)
    with capture_logs() as logs:
        TensorRTEngine(config(), load_package(package.root), "plan", None).close()
    assert len(trt.builds) == 2
    warning = next(e for e in logs if e["event"].startswith("prebuilt tensorrt plan does not load"))
    assert "built by 8.6.1 on Xavier" in warning["reason"]


def test_given_no_cache_folder_when_opened_twice_then_it_builds_twice(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage
) -> None:
    trt, _cuda = fakes
    for _ in range(2):
        TensorRTEngine(config(), package, None, None).close()
    assert len(trt.builds) == 2


def test_given_a_closed_engine_when_submitted_then_it_refuses_and_closing_again_is_harmless(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    engine = TensorRTEngine(config(), package, None, tmp_path / "cache")
    engine.close()
    engine.close()
    with pytest.raises(EngineError, match="closed"):
        engine.submit(tiles(1, seed=1), lambda _o, _e: None)


def test_given_a_build_that_fails_when_opened_then_engine_error_and_nothing_is_left_on_the_gpu(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage, tmp_path: Path
) -> None:
    trt, cuda = fakes
    trt.fail_build = True
    with pytest.raises(
        EngineError, match=r"building the TensorRT fp16 plan .* failed after .* no implementation"
    ):
        TensorRTEngine(config(), package, None, tmp_path / "cache")
    assert cuda.live_allocations() == 0
    assert cuda.contexts_detached == 1


def test_given_a_cuda_device_index_beyond_the_gpus_when_opened_then_the_error_says_how_many(
    fakes: tuple[FakeTensorRT, FakeCuda], package: ModelPackage
) -> None:
    with pytest.raises(EngineError, match=r"engine.device is 1 but the CUDA driver reports 1 device"):
        TensorRTEngine(config(device=1), package, None, None)


def test_given_no_tensorrt_installed_when_opened_then_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, package: ModelPackage
) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'edge-inspect\[tensorrt\]'"):
        TensorRTEngine(config(), package, None, None)


def test_given_no_pycuda_installed_when_opened_then_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, package: ModelPackage
) -> None:
    install(monkeypatch)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    with pytest.raises(MissingDependencyError, match=r"'pycuda' package.*edge-inspect\[tensorrt\]"):
        TensorRTEngine(config(), package, None, None)


def test_given_tensorrt_8_when_opened_then_the_error_says_tensorrt_10_is_needed(
    monkeypatch: pytest.MonkeyPatch, package: ModelPackage
) -> None:
    cuda = FakeCuda()
    install(monkeypatch, cuda, FakeTensorRT(cuda, version="8.6.1"))
    with pytest.raises(EngineError, match=r"TensorRT 8.6.1 is too old: .*TensorRT 10 .*JetPack 6"):
        TensorRTEngine(config(), package, None, None)


def test_given_the_cache_settings_when_resolved_then_the_engines_own_folder_wins() -> None:
    assert plan_cache_dir(Path("/srv/plans"), Path("/var/cache/edge-inspect")) == Path("/srv/plans")
    assert plan_cache_dir(None, Path("/var/cache/edge-inspect")) == Path("/var/cache/edge-inspect/tensorrt")
    assert plan_cache_dir(None, None) is None
