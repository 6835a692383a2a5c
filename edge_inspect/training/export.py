"""Export a trained U-Net: one-file ONNX, OpenVINO IR FP32, and IR INT8 (NNCF post-training quantisation).

The FP32 IR keeps FP32 weights (``compress_to_fp16=False``); the INT8 IR is calibrated on training images
passed through the same normalisation the daemon applies, so its activations ranges are the deployed ones.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import openvino as ov

from edge_inspect.training.deps import require

INPUT_NAME = "image"
OUTPUT_NAME = "logits"
ONNX_OPSET = 17


def export_onnx(model: Any, path: Path, size: int, in_channels: int = 1) -> Path:
    """Write ``model`` as ONE self-contained ONNX file with a static 1 x C x size x size input."""
    torch = require("torch", "ONNX export")
    onnx = require("onnx", "ONNX export")
    model = model.eval()
    dummy = torch.zeros(1, in_channels, size, size)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path), save_as_external_data=False)
    return path


def export_ir_fp32(onnx_path: Path, xml_path: Path) -> Path:
    """Convert ONNX to OpenVINO IR with FP32 weights."""
    model = ov.convert_model(str(onnx_path))
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, str(xml_path), compress_to_fp16=False)
    return xml_path


def output_head(model: Any) -> list[str]:
    """The nodes from each output back to (and including) the convolution that produces it."""
    names: list[str] = []
    for result in model.get_results():
        pending = [result.input(0).get_source_output().get_node()]
        while pending:
            node = pending.pop()
            if node.get_type_name() in ("Parameter", "Constant"):
                continue
            names.append(node.get_friendly_name())
            if node.get_type_name() != "Convolution":
                pending += [port.get_source_output().get_node() for port in node.inputs()[:1]]
    return names


def quantize_int8(
    fp32_xml: Path,
    xml_path: Path,
    calibration: Sequence[npt.NDArray[np.float32]] | Iterable[Any],
    subset_size: int = 300,
) -> Path:
    """Quantise the FP32 IR to INT8 with NNCF, calibrated on ``calibration`` (1xCxHxW float32 tensors).

    The output head stays FP32. Its logits are mostly background (strongly negative) with rare positive
    values exactly where the defects are; a calibrated INT8 range on that output was measured to clip at
    0.0, capping every probability at 0.5. Everything before the head is INT8, which is where the time is.
    """
    nncf = require("nncf", "INT8 quantisation")
    core = ov.Core()
    model = core.read_model(str(fp32_xml))
    items = list(calibration)
    dataset = nncf.Dataset(items)
    quantized = nncf.quantize(
        model,
        dataset,
        subset_size=min(subset_size, len(items)),
        preset=nncf.QuantizationPreset.MIXED,
        ignored_scope=nncf.IgnoredScope(names=output_head(model)),
    )
    xml_path.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(quantized, str(xml_path), compress_to_fp16=False)
    return xml_path
