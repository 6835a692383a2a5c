"""A tiny segmentation model that fails inside OpenVINO at run time, for failure-path tests.

Its output shape depends on its input: any pixel >= 1.0 makes the reshape fail, so a frame can be made
to fail on purpose, in a real compiled model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import openvino.opset13 as ops

from tests.helpers.tiny_model import OUTPUT_NAME, build_openvino_model, save_ir, write_tiny_manifest

SIZE = 32


def i64(values: Any, name: str) -> Any:
    return ops.constant(np.array(values, dtype=np.int64), name=name)


def fragile_model() -> ov.Model:
    """The tiny segmentation model, reshaped to [1, 1, S, S + floor(max(x))]: fails when max(x) >= 1."""
    model = build_openvino_model("segmentation", SIZE)
    image = model.inputs[0].get_node()
    logits = model.outputs[0].get_node().input_value(0)
    brightest = ops.reduce_max(image, i64([0, 1, 2, 3], "all_axes"), keep_dims=False, name="brightest")
    extra = ops.convert(ops.floor(brightest, name="whole"), ov.Type.i64, name="as_int")
    width = ops.unsqueeze(ops.add(i64(SIZE, "size"), extra, name="width"), i64([0], "zero"), name="tail")
    pattern = ops.concat([i64([1, 1, SIZE], "head"), width], 0, name="pattern")
    fragile = ops.reshape(logits, pattern, special_zero=False, name="fragile")
    fragile.output(0).get_tensor().set_names({OUTPUT_NAME})
    return ov.Model([ops.result(fragile, name="out")], [image], "fragile")


def write_fragile_package(root: Path) -> Path:
    """A package folder holding the fragile model as its one variant (fp32)."""
    save_ir(fragile_model(), root / "fp32" / "model.xml")
    artifacts = {"fp32": {"format": "openvino", "path": "fp32/model.xml", "precision": "fp32"}}
    write_tiny_manifest(root, "segmentation", SIZE, artifacts)
    return root


def good_frame(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((3, 1, SIZE, SIZE)) * 0.9).astype(np.float32)
