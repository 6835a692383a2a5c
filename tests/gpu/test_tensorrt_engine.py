"""The real TensorRT engine on a real GPU: the shipped package at FP32 / FP16 / INT8 against OpenVINO FP32.

Run on a box with an NVIDIA GPU, TensorRT 10 and pycuda: ``pytest -m gpu -s tests/gpu`` (``-s`` shows the
throughput lines). Skipped with the probe's reason elsewhere.

Tolerances, on probabilities (after the manifest's activation), against OpenVINO FP32 on the same ONNX:
- fp32: max |Δp| <= 1e-3 (same maths, other kernels and summation order; TF32 is switched off);
- fp16: max |Δp| <= 1e-2 (about three significant digits in activations);
- int8: the 99.9th percentile of |Δp| <= 5e-2 (a few pixels at defect edges may move more), and every
  verdict on the sample set equal to OpenVINO FP32's and to the ground truth.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from structlog.testing import capture_logs

from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import AutoEngineConfig, OpenVINOEngineConfig, TensorRTEngineConfig
from edge_inspect.decision import to_probabilities
from edge_inspect.engines import open_engine
from edge_inspect.engines.probe import probe_capabilities
from edge_inspect.engines.tensorrt.build import onnx_artifact, tile_shape
from edge_inspect.model import ModelPackage, load_package
from edge_inspect.preprocess import Preprocessor
from edge_inspect.sources.decode import decode_image
from edge_inspect.station.inspection import build_inspector
from edge_inspect.types import Engine, Frame, SourceInfo
from tests.helpers.daemon import expected_verdict

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "dagm-unet"
SAMPLES = ROOT / "models" / "dagm-sample"

IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")
MAX_ABS = {"fp32": 1e-3, "fp16": 1e-2}
INT8_P999 = 5e-2
THROUGHPUT_SECONDS = 5.0


@pytest.fixture(scope="module")
def package() -> ModelPackage:
    if not (SHIPPED / "manifest.yaml").is_file():
        pytest.skip("models/dagm-unet is not built yet (training writes it)")
    return load_package(SHIPPED)


@pytest.fixture(scope="module")
def samples() -> list[Path]:
    if not SAMPLES.is_dir():
        pytest.skip("models/dagm-sample is missing")
    return sorted(p for p in SAMPLES.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


@pytest.fixture(scope="module")
def sample_tensors(package: ModelPackage, samples: list[Path]) -> list[npt.NDArray[Any]]:
    preprocessor = Preprocessor(package.manifest.input)
    return [preprocessor.prepare(decode_image(p.read_bytes(), str(p)))[0] for p in samples]


@pytest.fixture(scope="module")
def reference(package: ModelPackage) -> Iterator[Engine]:
    """OpenVINO FP32 on the CPU, on the same ONNX file TensorRT builds from."""
    found = onnx_artifact(package)
    assert found is not None, "the shipped package has no ONNX artifact for TensorRT"
    engine = open_engine(
        OpenVINOEngineConfig(type="openvino", device="CPU", precision="f32"), package, found[0]
    )
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("trt-cache")


def trt_config(precision: str, **fields: Any) -> TensorRTEngineConfig:
    return TensorRTEngineConfig.model_validate(
        {"type": "tensorrt", "precision": precision, "max_batch": 16, **fields}
    )


def max_tiles(tensors: list[npt.NDArray[Any]]) -> int:
    return max(int(t.shape[0]) for t in tensors)


def frame(path: Path, seq: int) -> Frame:
    image = decode_image(path.read_bytes(), str(path))
    return Frame(seq, "gpu-test", time.time(), time.monotonic(), SourceInfo("replay", path=str(path)), image)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_given_the_shipped_onnx_when_built_at_a_precision_then_it_keeps_the_contract_and_openvinos_scores(
    package: ModelPackage,
    sample_tensors: list[npt.NDArray[Any]],
    reference: Engine,
    cache: Path,
    precision: str,
) -> None:
    manifest = package.manifest
    engine = open_engine(trt_config(precision, max_batch=max_tiles(sample_tensors)), package, None, cache)
    try:
        assert engine.input_spec.name == manifest.input.name
        assert engine.input_spec.shape[1:] == tile_shape(manifest.input)
        assert engine.input_spec.dtype == manifest.input.dtype
        diffs = []
        for tensor in sample_tensors:
            raw = engine.infer(tensor)
            assert raw.shape[0] == tensor.shape[0]
            assert raw.shape[1:] == engine.output_spec.shape[1:]
            p_trt = to_probabilities(raw, manifest.output)
            p_ref = to_probabilities(reference.infer(tensor), manifest.output)
            diffs.append(np.abs(p_trt - p_ref).ravel())
    finally:
        engine.close()
    every = np.concatenate(diffs)
    print(
        f"\n[tensorrt {precision}] |dp| vs OpenVINO FP32 over {len(sample_tensors)} images: "
        f"max {every.max():.3g}, p99.9 {np.quantile(every, 0.999):.3g}, mean {every.mean():.3g}"
    )
    if precision == "int8":
        assert float(np.quantile(every, 0.999)) <= INT8_P999
    else:
        assert float(every.max()) <= MAX_ABS[precision]


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_given_the_sample_set_when_inspected_on_tensorrt_then_verdicts_equal_openvino_fp32_and_the_truth(
    package: ModelPackage,
    samples: list[Path],
    sample_tensors: list[npt.NDArray[Any]],
    cache: Path,
    precision: str,
) -> None:
    found = onnx_artifact(package)
    assert found is not None
    openvino = OpenVINOEngineConfig(type="openvino", device="CPU", precision="f32")
    reference, _rules = build_inspector(package, openvino, DecisionConfig(), variant=found[0])
    config = trt_config(precision, max_batch=max_tiles(sample_tensors))
    candidate, _rules = build_inspector(package, config, DecisionConfig(), variant=found[0], cache_dir=cache)
    try:
        for seq, path in enumerate(samples):
            expected = reference.inspect(frame(path, seq)).verdict
            got = candidate.inspect(frame(path, seq)).verdict
            assert got == expected, (
                f"{path.name}: TensorRT {precision} says {got.value}, OpenVINO FP32 {expected.value}"
            )
            assert got.value == expected_verdict(path), f"{path.name}: {got.value} against the ground truth"
    finally:
        reference.engine.close()
        candidate.engine.close()


def test_given_a_built_plan_when_opened_again_then_it_loads_and_a_damaged_one_is_rebuilt_with_the_reason(
    package: ModelPackage, tmp_path: Path
) -> None:
    with capture_logs() as first:
        open_engine(trt_config("fp16"), package, None, tmp_path).close()
    assert any(e["event"] == "tensorrt plan built" for e in first)
    with capture_logs() as second:
        open_engine(trt_config("fp16"), package, None, tmp_path).close()
    assert [e for e in second if e["event"] == "tensorrt plan built"] == []
    plan = next((tmp_path / "tensorrt").glob("*.plan"))
    plan.write_bytes(plan.read_bytes()[: plan.stat().st_size // 2])  # as after a power cut mid-copy
    with capture_logs() as third:
        open_engine(trt_config("fp16"), package, None, tmp_path).close()
    built = next(e for e in third if e["event"] == "tensorrt plan built")
    assert "does not load on this GPU / TensorRT" in built["reason"]
    assert built["build_seconds"] > 0


def test_given_this_gpu_box_when_auto_resolves_then_tensorrt_is_chosen() -> None:
    caps = probe_capabilities()
    assert caps.tensorrt.usable
    resolved = AutoEngineConfig(type="auto").resolve()
    assert isinstance(resolved, TensorRTEngineConfig)


def _throughput(engine: Engine, tensors: list[npt.NDArray[Any]], pipelined: bool) -> tuple[float, int]:
    """Frames per second over THROUGHPUT_SECONDS: ``submit`` back to back, or ``infer`` one at a time."""
    frames = 0
    errors: list[BaseException] = []

    def done(_outputs: Any, error: BaseException | None) -> None:
        if error is not None:
            errors.append(error)

    started = time.perf_counter()
    while time.perf_counter() - started < THROUGHPUT_SECONDS:
        tensor = tensors[frames % len(tensors)]
        if pipelined:
            engine.submit(tensor, done)
        else:
            engine.infer(tensor)
        frames += 1
    engine.wait_all()
    fps = frames / (time.perf_counter() - started)
    assert errors == []
    return fps, frames


@pytest.mark.parametrize("precision", ["fp16", "int8"])
def test_given_the_sample_tiles_when_run_flat_out_then_throughput_is_reported_beside_trtexec(
    package: ModelPackage, sample_tensors: list[npt.NDArray[Any]], cache: Path, precision: str
) -> None:
    manifest = package.manifest
    found = onnx_artifact(package)
    assert found is not None
    tiles = max_tiles(sample_tensors)
    same_size = [t for t in sample_tensors if t.shape[0] == tiles]
    engine = open_engine(trt_config(precision, max_batch=tiles, num_contexts=2), package, None, cache)
    try:
        sequential_fps, _ = _throughput(engine, same_size, pipelined=False)
        pipelined_fps, frames = _throughput(engine, same_size, pipelined=True)
    finally:
        engine.close()
    name = manifest.input.name
    shape = "x".join(map(str, (tiles, *tile_shape(manifest.input))))
    one = "x".join(map(str, (1, *tile_shape(manifest.input))))
    flags = (
        "--fp16"
        if precision == "fp16"
        else "--int8 --fp16 --calib=<the *-int8-calibration-*.cache in the cache>"
    )
    print(
        f"\n[tensorrt {precision}] {tiles} tiles/frame: {pipelined_fps:.1f} frames/s "
        f"({pipelined_fps * tiles:.0f} tiles/s) with 2 contexts in flight over {frames} frames; "
        f"{sequential_fps:.1f} frames/s one at a time\n"
        f"  compare: trtexec --onnx={package.root / found[1].path} {flags} "
        f"--minShapes={name}:{one} --optShapes={name}:{shape} --maxShapes={name}:{shape} "
        f"--shapes={name}:{shape} "
        f"--useSpinWait   (its 'Throughput: N qps' is batches of {tiles} tiles per second, i.e. frames/s)"
    )
    assert pipelined_fps >= 0.95 * sequential_fps, (
        "two contexts in flight must not be slower than one at a time"
    )
