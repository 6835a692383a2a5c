"""``edge-inspect bench`` with the TensorRT engine on a real GPU: (a) through the Engine Protocol, (b), (c).

Run where a GPU is lent: ``pytest -m gpu -s tests/gpu/test_bench_tensorrt.py`` (``-s`` prints the report).
The shipped package is benched when it exists, else the tiny test model's ONNX variant. Skipped, with the
probe's reason, where TensorRT, pycuda or a CUDA device is missing (see ``tests/gpu/conftest.py``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_inspect.cli import main
from tests.helpers.broker import Mosquitto
from tests.helpers.tiny_model import make_tiny_package

pytestmark = pytest.mark.gpu

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "models" / "dagm-unet"
SAMPLES = ROOT / "models" / "dagm-sample"
FRAMES, WARMUP = 120, 20


def package_and_images(tmp_path: Path) -> tuple[Path, Path, str]:
    """(package folder, images folder, artifact): the shipped ones when built, else tiny ones."""
    if (SHIPPED / "manifest.yaml").is_file() and SAMPLES.is_dir():
        return SHIPPED, SAMPLES, "onnx"
    model = make_tiny_package(tmp_path / "tiny", size=64, variants=("onnx",))
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(3)
    for index in range(8):
        cv2.imwrite(str(images / f"{index:04d}.png"), rng.integers(0, 255, (64, 64), dtype=np.uint8))
    return model, images, "onnx"


def test_given_a_gpu_when_benched_with_tensorrt_then_engine_daemon_and_naive_loop_are_measured(
    tmp_path: Path, broker: Mosquitto, capsys: pytest.CaptureFixture[str]
) -> None:
    model, images, artifact = package_and_images(tmp_path)
    config = tmp_path / "gpu.yaml"
    config.write_text(
        f"station: gpu-1\ncamera: cam-1\n"
        f"source: {{type: replay, path: {images}, ground_truth: null}}\n"
        f"model: {{path: {model}, variant: {artifact}}}\n"
        f"engine: {{type: tensorrt, precision: fp16, artifact: {artifact}, num_contexts: 2}}\n"
        f"paths: {{cache_dir: {tmp_path / 'cache'}}}\n"
        f"mqtt: {{host: 127.0.0.1, port: {broker.port}}}\n",
        encoding="utf-8",
    )
    report_path = tmp_path / "bench.json"
    code = main(["bench", "--config", str(config), "--frames", str(FRAMES), "--warmup", str(WARMUP),
                 "--json", str(report_path)])  # fmt: skip
    text = capsys.readouterr().out
    print(text)  # the figures, under -s
    assert code == 0
    report = json.loads(report_path.read_text(encoding="utf-8"))
    modes = {m["mode"]: m for m in report["modes"]}
    assert set(modes) == {"engine", "daemon", "naive"}
    for mode in modes.values():
        assert mode["measured"] >= FRAMES - WARMUP
        assert mode["fps"] > 0
        assert mode["failed"] == 0
    assert report["header"]["engine_settings"]["type"] == "tensorrt"
    assert not math.isnan(report["ratios"]["b/a"])
    assert "b/a" in text
