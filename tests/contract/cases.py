"""The engines the contract runs against: each case is a package, a variant and an engine config.

Adding a backend is one entry in CASES, as TensorRT's below: its config, the variants it runs, and its
marks (``GPU`` skips it where TensorRT is not installed). Cases on the shipped package models/dagm-unet
are skipped, with the reason, until that package exists.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from edge_inspect.config.engines import OpenVINOEngineConfig, TensorRTEngineConfig
from edge_inspect.engines import open_engine
from edge_inspect.model import ModelPackage, load_package
from edge_inspect.model.package import read_manifest
from edge_inspect.types import Engine
from tests.helpers.tiny_model import make_tiny_package

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DIR = ROOT / "models" / "dagm-unet"
SAMPLE_DIR = ROOT / "models" / "dagm-sample"

GPU = (
    pytest.mark.gpu,
    pytest.mark.skipif(
        importlib.util.find_spec("tensorrt") is None, reason="TensorRT is not installed (needs a CUDA GPU)"
    ),
)


@dataclass(frozen=True)
class EngineCase:
    """``package`` turns a scratch folder into a package folder (built there, or an existing one).

    ``compute`` is the precision the engine computes in when it is not the artifact's own (TensorRT
    builds an fp16 plan from an fp32 ONNX); it picks the tolerance against OpenVINO FP32.
    """

    package: Callable[[Path], Path]
    variant: str | None
    config: Any
    compute: str | None = None


@dataclass
class Opened:
    """A case's engine, open on its package."""

    case: EngineCase
    package: ModelPackage
    engine: Engine


def open_case(case: EngineCase, scratch: Path) -> Opened:
    """Open the case's engine through ``open_engine``, as the daemon does, with a cache in ``scratch``."""
    package = load_package(case.package(scratch))
    return Opened(case, package, open_engine(case.config, package, case.variant, scratch / "cache"))


def tiny(kind: str, scratch: Path) -> Path:
    return make_tiny_package(scratch / f"tiny-{kind}", kind=kind)  # type: ignore[arg-type]


def shipped_package(scratch: Path) -> Path:
    return SHIPPED_DIR


def shipped(
    make: Callable[[str], EngineCase],
    engine: str,
    variants: Sequence[str] | None = None,
    marks: Sequence[Any] = (),
) -> list[Any]:
    """One case per variant of the shipped package, or one skipped case while it is not built yet."""
    if not (SHIPPED_DIR / "manifest.yaml").is_file():
        reason = "models/dagm-unet is not built yet (training writes it)"
        return [pytest.param(None, id=f"{engine}-dagm-unet", marks=[*marks, pytest.mark.skip(reason=reason)])]
    names = variants or sorted(read_manifest(SHIPPED_DIR).artifacts)
    return [pytest.param(make(v), id=f"{engine}-dagm-unet-{v}", marks=list(marks)) for v in names]


OPENVINO = OpenVINOEngineConfig(type="openvino")
OPENVINO_PIXELS = OpenVINOEngineConfig(type="openvino", normalise_in_model=True)
"""8-bit pixels in, normalised inside the compiled model (``config/replay.yaml`` runs this)."""

CASES = [
    pytest.param(EngineCase(partial(tiny, "segmentation"), "fp32", OPENVINO), id="openvino-tiny-seg-ir"),
    pytest.param(EngineCase(partial(tiny, "segmentation"), "onnx", OPENVINO), id="openvino-tiny-seg-onnx"),
    pytest.param(EngineCase(partial(tiny, "classification"), "fp32", OPENVINO), id="openvino-tiny-cls-ir"),
    pytest.param(
        EngineCase(partial(tiny, "segmentation"), "fp32", OPENVINO_PIXELS), id="openvino-pixels-tiny-seg-ir"
    ),
    *shipped(lambda v: EngineCase(shipped_package, v, OPENVINO), "openvino"),
    *shipped(
        lambda v: EngineCase(shipped_package, v, OPENVINO_PIXELS), "openvino-pixels", variants=("int8",)
    ),
    *shipped(
        lambda v: EngineCase(
            shipped_package, v, TensorRTEngineConfig(type="tensorrt", precision="fp16"), "fp16"
        ),
        "tensorrt",
        variants=("onnx",),
        marks=GPU,
    ),
]


def tiles(shape: Sequence[int], dtype: str, n: int, seed: int) -> npt.NDArray[Any]:
    """``n`` distinct tiles of one request's ``shape`` (batch dim replaced), reproducible by ``seed``.

    Noise in 0..1, tile i scaled by its own factor, so even a global statistic (a classifier's max)
    differs from tile to tile.
    """
    rng = np.random.default_rng(seed)
    full = (n, *shape[1:])
    scale = (0.3 + 0.7 * (np.arange(1, n + 1) / n)).reshape(-1, *([1] * (len(full) - 1)))
    values = rng.random(full) * scale
    if np.dtype(dtype) == np.uint8:
        return (values * 255).astype(np.uint8)
    return values.astype(dtype)
