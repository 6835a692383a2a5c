"""OpenVINOEngine loading: artifact, device, precision, requests, cache, and checks against the manifest.

Every test compiles a real model (the tiny test package) with the installed OpenVINO.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import openvino as ov
import pytest
import yaml
from structlog.testing import capture_logs

from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.engines.openvino import OpenVINOEngine
from edge_inspect.errors import EngineError, ModelPackageError
from edge_inspect.model import ModelPackage, load_package
from edge_inspect.model.package import write_manifest
from tests.helpers.tiny_model import expected_logits, make_tiny_package


def config(**fields: Any) -> OpenVINOEngineConfig:
    return OpenVINOEngineConfig.model_validate({"type": "openvino", **fields})


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> ModelPackage:
    return load_package(make_tiny_package(tmp_path_factory.mktemp("tiny") / "pkg"))


def edited(package: ModelPackage, root: Path, **sections: Any) -> ModelPackage:
    """A copy of ``package`` in ``root`` whose manifest has ``sections`` changed (hashes rewritten)."""
    data = yaml.safe_load((package.root / "manifest.yaml").read_text())
    for rel in data["files"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes((package.root / rel).read_bytes())
    for key, value in sections.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) else value
    write_manifest(root, data)
    return load_package(root)


def cpu_has_bf16() -> bool:
    return "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")


# ------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("variant", ["fp32", "onnx"])
def test_outputs_are_the_models_exact_f32_maths(tiny: ModelPackage, variant: str) -> None:
    # Given the tiny model (logits = 20 * (x - 0.5)) in IR and in ONNX
    with OpenVINOEngine(config(), tiny, variant) as engine:
        tensor = np.random.default_rng(0).random((3, 1, 64, 64), dtype=np.float32)
        # when it runs, then the outputs are the f32 result (bf16 would be off by up to ~0.07)
        np.testing.assert_allclose(engine.infer(tensor), expected_logits(tensor, "segmentation"), atol=1e-5)


def test_a_dynamic_batch_model_is_compiled_for_one_tile(tiny: ModelPackage) -> None:
    assert ov.Core().read_model(tiny.artifact_path("onnx")).inputs[0].get_partial_shape()[0].is_dynamic
    with OpenVINOEngine(config(), tiny, "onnx") as engine:
        assert engine.input_spec.shape == (1, 1, 64, 64)
        assert engine.output_spec.shape == (1, 1, 64, 64)


# ------------------------------------------------------------------------------------ compile settings


def test_the_precision_hint_in_effect_is_f32_by_default(tiny: ModelPackage) -> None:
    with OpenVINOEngine(config(), tiny) as engine:
        assert engine.runtime.precision == "f32"
        assert str(engine._compiled.get_property("INFERENCE_PRECISION_HINT")) == str(ov.Type.f32)


def test_precision_default_keeps_openvinos_own_choice(tiny: ModelPackage) -> None:
    with OpenVINOEngine(config(precision="default"), tiny) as engine:
        assert engine.runtime.precision == ("bf16" if cpu_has_bf16() else "f32")


def test_requests_follow_config_or_the_devices_optimal_number(tiny: ModelPackage) -> None:
    with OpenVINOEngine(config(num_requests=3, num_streams=1), tiny) as engine:
        assert (engine.runtime.requests, engine.runtime.streams) == (3, 1)
    with OpenVINOEngine(config(), tiny) as engine:
        optimal = engine._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
        assert engine.runtime.requests == optimal >= 1


def test_auto_device_runs_on_what_openvino_has(tiny: ModelPackage) -> None:
    with OpenVINOEngine(config(device="AUTO"), tiny) as engine:
        assert set(engine.runtime.execution_devices) <= set(ov.Core().available_devices)
        assert engine.infer(np.zeros((1, 1, 64, 64), np.float32)).shape == (1, 1, 64, 64)


def test_loading_is_logged_with_what_is_in_effect(tiny: ModelPackage) -> None:
    with capture_logs() as logs, OpenVINOEngine(config(), tiny, "fp32"):
        pass
    [loaded] = [entry for entry in logs if entry["event"] == "openvino engine loaded"]
    assert loaded["model"] == "tiny-segmentation 1.0.0"
    assert (loaded["variant"], loaded["device"], loaded["precision"]) == ("fp32", "CPU", "f32")
    assert loaded["streams"] >= 1
    assert loaded["requests"] >= 1
    assert loaded["compile_ms"] > 0


# ----------------------------------------------------------------------------------------------- cache


def test_the_model_cache_goes_to_the_shared_cache_folder_and_fills_on_compile(
    tiny: ModelPackage, tmp_path: Path
) -> None:
    with OpenVINOEngine(config(), tiny, "fp32", tmp_path) as engine:
        assert engine.runtime.cache_dir == tmp_path / "openvino"
    assert any((tmp_path / "openvino").iterdir())


def test_the_engines_own_cache_folder_wins(tiny: ModelPackage, tmp_path: Path) -> None:
    with OpenVINOEngine(config(cache_dir=str(tmp_path / "mine")), tiny, "fp32", tmp_path / "shared"):
        pass
    assert any((tmp_path / "mine").iterdir())
    assert not (tmp_path / "shared").exists()


def test_a_relative_cache_folder_is_refused(tiny: ModelPackage, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(EngineError, match="must be an absolute path"):
        OpenVINOEngine(config(), tiny, "fp32", Path("cache"))
    assert list(tmp_path.iterdir()) == []


def test_without_a_cache_folder_nothing_is_written(
    tiny: ModelPackage, tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    with OpenVINOEngine(config(), tiny) as engine:
        assert engine.runtime.cache_dir is None
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("device", ["TPU", "NPU.3", "AUTO:FPGA"])
def test_an_unknown_or_absent_device_is_an_error_listing_the_available_ones(
    tiny: ModelPackage, device: str
) -> None:
    if device.split(".", maxsplit=1)[0] in ov.Core().available_devices:
        pytest.skip(f"this machine has {device}")
    with pytest.raises(EngineError) as caught:
        OpenVINOEngine(config(device=device), tiny)
    assert f"OpenVINO device {device!r} is not available" in str(caught.value)
    assert f"available devices: {ov.Core().available_devices}" in str(caught.value)


def test_a_missing_model_file_is_an_error_naming_it(tiny: ModelPackage, tmp_path: Path) -> None:
    # Given a package whose IR was deleted after it was loaded without verification
    edited(tiny, tmp_path)
    (tmp_path / "fp32" / "model.xml").unlink()
    unverified = load_package(tmp_path, verify=False)
    # then opening it is an error naming the file and the variant
    with pytest.raises(
        EngineError, match=rf"{tmp_path}/fp32/model.xml \(variant 'fp32'\): model file not found"
    ):
        OpenVINOEngine(config(), unverified, "fp32")


def test_an_unknown_variant_is_an_error_listing_the_packages_variants(tiny: ModelPackage) -> None:
    with pytest.raises(ModelPackageError, match=r"no artifact 'int8'; the package has \['fp32', 'onnx'\]"):
        OpenVINOEngine(config(), tiny, "int8")


def test_a_tensorrt_plan_is_not_for_openvino(tiny: ModelPackage, tmp_path: Path) -> None:
    artifacts = {"plan": {"format": "tensorrt-plan", "path": "fp32/model.bin", "precision": "fp16"}}
    package = edited(tiny, tmp_path, artifacts=artifacts, default_variant="plan")
    with pytest.raises(EngineError, match=r"format 'tensorrt-plan' cannot run on OpenVINO"):
        OpenVINOEngine(config(), package)


def test_a_corrupt_model_file_is_an_error_naming_it(tiny: ModelPackage, tmp_path: Path) -> None:
    edited(tiny, tmp_path)
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(EngineError, match=r"onnx/model.onnx \(variant 'onnx'\): cannot read the model"):
        OpenVINOEngine(config(), load_package(tmp_path, verify=False), "onnx")


@pytest.mark.parametrize("variant", ["fp32", "onnx"])
def test_a_model_of_another_size_than_the_manifest_is_an_error_naming_both(
    tiny: ModelPackage, tmp_path: Path, variant: str
) -> None:
    package = edited(tiny, tmp_path, input={"width": 48, "height": 48, "tile_overlap": 8})
    with pytest.raises(EngineError) as caught:
        OpenVINOEngine(config(), package, variant)
    message = str(caught.value)
    assert "model input 'image' is [1, 1, 64, 64] float32" in message
    assert "the manifest's input 'image' says [1, 1, 48, 48] float32" in message


def test_a_tensor_name_the_model_lacks_is_an_error_naming_both(tiny: ModelPackage, tmp_path: Path) -> None:
    package = edited(tiny, tmp_path, input={"name": "pixels"})
    with pytest.raises(
        EngineError, match=r"manifest's input 'pixels' is not a model input; .* \[\['image'\]\]"
    ):
        OpenVINOEngine(config(), package)


def test_an_output_with_other_classes_than_the_manifest_is_an_error(
    tiny: ModelPackage, tmp_path: Path
) -> None:
    package = edited(tiny, tmp_path, output={"classes": ["scratch", "dent"]}, decision={"thresholds": {}})
    with pytest.raises(
        EngineError, match=r"output 'logits' has shape \[1, 1, 64, 64\], .* needs \[1, 2, 64, 64\]"
    ):
        OpenVINOEngine(config(), package)
