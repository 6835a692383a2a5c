"""Export: one self-contained ONNX file, an FP32 IR that stays FP32, an INT8 IR; same numbers as torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

import openvino as ov  # noqa: E402

from edge_inspect.training.export import export_ir_fp32, export_onnx, quantize_int8  # noqa: E402
from edge_inspect.training.unet import UNet, UNetConfig  # noqa: E402


def test_onnx_and_ir_agree_with_torch(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = UNet(UNetConfig(base=16, depth=2)).eval()
    onnx_path = export_onnx(model, tmp_path / "model.onnx", 64)
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]  # no external .onnx.data
    xml = export_ir_fp32(onnx_path, tmp_path / "fp32" / "model.xml")
    ir = ov.Core().read_model(str(xml))
    constants = [op for op in ir.get_ops() if op.get_type_name() == "Constant"]
    assert not any(op.get_element_type() == ov.Type.f16 for op in constants)
    x = np.random.default_rng(0).standard_normal((1, 1, 64, 64)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    core = ov.Core()
    for path in (onnx_path, xml):
        compiled = core.compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
        got = compiled(x)[0]
        assert np.allclose(got, expected, atol=1e-4)
    int8 = quantize_int8(xml, tmp_path / "int8" / "model.xml", [x] * 4)
    quantized = core.read_model(str(int8))
    assert any(op.get_type_name() == "FakeQuantize" for op in quantized.get_ops())
