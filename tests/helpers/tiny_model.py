"""Write a tiny but real model package for tests: OpenVINO IR and ONNX files, a manifest with sha256s.

The models compute something a test can predict exactly, so a test checks an engine's numbers, not only
its shapes:

- ``segmentation``: ``logits = GAIN * (x - 0.5)`` per pixel (a 1x1 convolution), so after the manifest's
  sigmoid a pixel brighter than half scale (x > 0.5 after normalisation) has p > 0.5;
- ``classification``: ``score = GAIN * (max(x) - 0.5)`` per image (the same convolution, then a global
  max pool), so one bright pixel makes the image NG.

Input ``image`` is (1, 1, size, size) float32, mono, ``x = pixel / full-scale``. The IR has a static batch
of 1; the ONNX file has a dynamic batch (``N``), so the two variants cover both shapes an engine meets.
Every node has a fixed name, so the files (and their sha256s) are the same on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import openvino as ov
import openvino.opset13 as ops

from edge_inspect.errors import MissingDependencyError
from edge_inspect.model.manifest import Manifest
from edge_inspect.model.package import write_manifest

Kind = Literal["segmentation", "classification"]

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
CLASS_NAME = "defect"
GAIN = 20.0
"""Logit slope: a pixel 0.1 above half scale gives sigmoid(2.0) = 0.88."""
THRESHOLD = 0.5
_ONNX_OPSET = 17
_ONNX_IR_VERSION = 8
VARIANTS = ("fp32", "onnx")


def expected_logits(tensor: npt.NDArray[np.float32], kind: Kind) -> npt.NDArray[np.float32]:
    """What the tiny model outputs for ``tensor`` (N, 1, H, W): the reference a test compares with."""
    logits = (GAIN * (tensor.astype(np.float64) - 0.5)).astype(np.float32)
    return logits.max(axis=(2, 3)) if kind == "classification" else logits


def build_openvino_model(kind: Kind, size: int) -> ov.Model:
    """The tiny model as an OpenVINO graph (static batch 1)."""
    image = ops.parameter([1, 1, size, size], ov.Type.f32, name=INPUT_NAME)
    weight = ops.constant(np.full((1, 1, 1, 1), GAIN, dtype=np.float32), name="gain")
    conv = ops.convolution(image, weight, [1, 1], [0, 0], [0, 0], [1, 1], name="scale")
    bias = ops.constant(np.full((1, 1, 1, 1), -GAIN * 0.5, dtype=np.float32), name="offset")
    logits: Any = ops.add(conv, bias, name="shift")
    if kind == "classification":
        axes = ops.constant(np.array([2, 3], dtype=np.int64), name="spatial_axes")
        logits = ops.reduce_max(logits, axes, keep_dims=False, name="global_max")
    logits.output(0).get_tensor().set_names({OUTPUT_NAME})
    result = ops.result(logits, name=f"{OUTPUT_NAME}_result")
    image.output(0).get_tensor().set_names({INPUT_NAME})
    return ov.Model([result], [image], f"tiny-{kind}")


def build_onnx_model(kind: Kind, size: int) -> Any:
    """The same model as ONNX (dynamic batch ``N``), built with the ``onnx`` helper API (no torch)."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise MissingDependencyError("onnx", "train", "Writing the tiny ONNX test model") from exc

    weight = numpy_helper.from_array(np.full((1, 1, 1, 1), GAIN, dtype=np.float32), "gain")
    bias = numpy_helper.from_array(np.array([-GAIN * 0.5], dtype=np.float32), "offset")
    conv_out = OUTPUT_NAME if kind == "segmentation" else "pixel_logits"
    nodes = [helper.make_node("Conv", [INPUT_NAME, "gain", "offset"], [conv_out], name="scale")]
    out_shape: list[str | int] = ["N", 1, size, size]
    if kind == "classification":
        nodes += [
            helper.make_node("GlobalMaxPool", [conv_out], ["pooled"], name="global_max"),
            helper.make_node("Flatten", ["pooled"], [OUTPUT_NAME], name="flatten", axis=1),
        ]
        out_shape = ["N", 1]
    graph = helper.make_graph(
        nodes,
        f"tiny-{kind}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 1, size, size])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, out_shape)],
        initializer=[weight, bias],
    )
    model = helper.make_model(
        graph,
        producer_name="edge-inspect-tests",
        opset_imports=[helper.make_opsetid("", _ONNX_OPSET)],
        ir_version=_ONNX_IR_VERSION,
    )
    onnx.checker.check_model(model)
    return model


def manifest_data(kind: Kind, size: int, artifacts: dict[str, dict[str, str]]) -> dict[str, Any]:
    """The manifest of a tiny package (without ``files``: write_manifest hashes them)."""
    return {
        "name": f"tiny-{kind}",
        "version": "1.0.0",
        "description": f"Test model: {kind} of pixels above half scale.",
        "input": {
            "name": INPUT_NAME,
            "width": size,
            "height": size,
            "channels": 1,
            "color_order": "gray",
            "layout": "NCHW",
            "dtype": "float32",
            "fit": "tile",
            "tile_overlap": size // 4,
        },
        "output": {
            "name": OUTPUT_NAME,
            "kind": kind,
            "activation": "sigmoid",
            "classes": [CLASS_NAME],
            "stride": 1,
        },
        "decision": {
            "thresholds": {CLASS_NAME: THRESHOLD},
            "score_threshold": THRESHOLD,
            "min_area_px": {CLASS_NAME: 0},
            "max_defects": 0,
        },
        "artifacts": artifacts,
        "default_variant": next(iter(artifacts)),
    }


def save_ir(model: ov.Model, path: Path) -> None:
    """Save IR with fp32 weights (``compress_to_fp16=False``: the test figures are exact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, path, compress_to_fp16=False)


def make_tiny_package(
    root: Path,
    *,
    kind: Kind = "segmentation",
    size: int = 64,
    variants: Sequence[str] = VARIANTS,
) -> Path:
    """Write a tiny package into ``root`` (created) and return ``root``.

    ``variants`` picks the artifacts, the first one being the default: ``fp32`` (OpenVINO IR) and
    ``onnx`` (needs the ``onnx`` package).
    """
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
        msg = f"variants must be a non-empty choice of {VARIANTS}, got {tuple(variants)}"
        raise ValueError(msg)
    root.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, dict[str, str]] = {}
    for variant in variants:
        if variant == "fp32":
            save_ir(build_openvino_model(kind, size), root / "fp32" / "model.xml")
            artifacts[variant] = {"format": "openvino", "path": "fp32/model.xml", "precision": "fp32"}
        else:
            (root / "onnx").mkdir(exist_ok=True)
            (root / "onnx" / "model.onnx").write_bytes(build_onnx_model(kind, size).SerializeToString())
            artifacts[variant] = {"format": "onnx", "path": "onnx/model.onnx", "precision": "fp32"}
    write_tiny_manifest(root, kind, size, artifacts)
    return root


def write_tiny_manifest(
    root: Path, kind: Kind, size: int, artifacts: dict[str, dict[str, str]], **changes: Any
) -> Manifest:
    """Write the manifest of the model files under ``root``; ``changes`` replace top-level sections."""
    data = manifest_data(kind, size, artifacts)
    data.update(changes)
    return write_manifest(root, data)
