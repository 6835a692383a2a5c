"""FAKE TensorRT and pycuda, for the orchestration tests on machines without an NVIDIA GPU.

TensorRT and CUDA cannot run here, so these stand in for the two modules, with the same names and call
shapes as the TensorRT 10 and pycuda APIs the engine uses. They are fakes in the plainest sense; what they
do faithfully is what the engine's correctness depends on:

- device memory is real bytes at integer addresses (pointer arithmetic works, reading past an allocation
  or after ``free`` is an error);
- a stream runs its operations later, in order, on its own thread, and a host->device copy reads host
  memory when it runs, not when it is queued, as CUDA does: reusing a buffer too early gives wrong numbers;
- every CUDA call checks that a context is current on the calling thread and records a violation if not;
- a "plan" records the GPU and TensorRT version that built it and does not deserialize on another;
- inference runs the package's ONNX file with real OpenVINO, so outputs are the model's true outputs.

The real path is exercised by ``pytest -m gpu`` (tests/gpu/) on a machine with a GPU.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from tests.unit.engines.fake_cuda import FakeCuda
from tests.unit.engines.fake_tensorrt import (
    BuilderFlag,
    BuilderFlagWithoutPrecision,
    FakeTensorRT,
    MemoryPoolType,
)
from tests.unit.engines.fake_trt_runtime import PLAN_MAGIC

__all__ = [
    "PLAN_MAGIC",
    "BuilderFlag",
    "BuilderFlagWithoutPrecision",
    "FakeCuda",
    "FakeTensorRT",
    "MemoryPoolType",
    "install",
    "make_calibrated_package",
]


def install(
    monkeypatch: Any, cuda: FakeCuda | None = None, trt: FakeTensorRT | None = None
) -> tuple[FakeTensorRT, FakeCuda]:
    """Put the fakes where ``import tensorrt`` / ``import pycuda.driver`` find them, until the test ends."""
    import sys

    cuda = cuda or FakeCuda()
    trt = trt or FakeTensorRT(cuda)
    pycuda = ModuleType("pycuda")
    pycuda.driver = cuda  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "tensorrt", trt)
    monkeypatch.setitem(sys.modules, "pycuda", pycuda)
    monkeypatch.setitem(sys.modules, "pycuda.driver", cuda)
    return trt, cuda


def make_calibrated_package(root: Path, *, size: int = 32, images: int = 3, image_size: int = 48) -> Path:
    """The tiny test package (ONNX with a dynamic batch, and an OpenVINO IR) plus calibration images.

    Image ``i`` is a flat grey of value ``40 * (i + 1)``, so a calibration batch shows which image its
    tiles came from after the daemon's preprocessing (``x = pixel / 255``).
    """
    import cv2

    from tests.helpers.tiny_model import make_tiny_package, write_tiny_manifest

    make_tiny_package(root, kind="segmentation", size=size, variants=("onnx", "fp32"))
    folder = root / "calibration"
    folder.mkdir()
    for i in range(images):
        image = np.full((image_size, image_size), 40 * (i + 1), dtype=np.uint8)
        cv2.imwrite(str(folder / f"cal-{i:03d}.png"), image)
    artifacts = {
        "onnx": {"format": "onnx", "path": "onnx/model.onnx", "precision": "fp32"},
        "fp32": {"format": "openvino", "path": "fp32/model.xml", "precision": "fp32"},
    }
    write_tiny_manifest(root, "segmentation", size, artifacts, calibration_images="calibration")
    return root
