"""The shipped reference package: it verifies, refuses tampering, and its three variants give the same
verdicts on the shipped sample set, equal to the ground truth, through the daemon's own inspection code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from edge_inspect.datasets.loader import load_dataset
from edge_inspect.errors import ModelPackageError
from edge_inspect.evaluation.runner import evaluate_samples
from edge_inspect.model.package import load_package


def test_the_package_verifies_and_describes_itself(model_dir: Path) -> None:
    manifest = load_package(model_dir).manifest
    assert manifest.default_variant == "int8"
    assert {name: a.precision for name, a in manifest.artifacts.items()} == {
        "int8": "int8",
        "fp32": "fp32",
        "onnx": "fp32",
    }
    assert (manifest.input.width, manifest.input.height, manifest.input.color_order) == (512, 512, "gray")
    assert manifest.output.classes == ("defect",)
    assert manifest.output.activation == "sigmoid"
    assert 0.0 < manifest.decision.thresholds["defect"] < 1.0
    assert manifest.calibration_images is not None
    assert len(list((model_dir / manifest.calibration_images).glob("*.png"))) >= 8
    assert "README.md" in manifest.files
    assert [p.name for p in model_dir.glob("*.onnx*")] == ["model.onnx"]  # one self-contained file
    for key in ("test_fp32", "test_int8"):
        assert manifest.evaluation[key]["image"]["tp"] > 0


def test_a_modified_file_is_refused_by_name(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "pkg"
    shutil.copytree(model_dir, copy)
    weights = copy / "int8" / "model.bin"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelPackageError, match=r"int8/model\.bin: sha256 mismatch"):
        load_package(copy)


def test_a_missing_file_is_refused_by_name(model_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "pkg"
    shutil.copytree(model_dir, copy)
    (copy / "calibration" / "0001.png").unlink()
    with pytest.raises(
        ModelPackageError, match=r"calibration/0001\.png: listed in manifest\.yaml but missing"
    ):
        load_package(copy)


def test_onnx_fp32_and_int8_agree_with_the_ground_truth(model_dir: Path, sample_dir: Path) -> None:
    package = load_package(model_dir)
    samples = load_dataset(sample_dir)
    truth = ["NG" if s.defective else "PASS" for s in samples]
    assert 0 < truth.count("NG") < len(truth)
    for variant in ("onnx", "fp32", "int8"):
        outcomes, _ = evaluate_samples(package, samples, variant=variant)
        verdicts = [o.verdict for o in outcomes]
        wrong = [Path(o.path).name for o, t in zip(outcomes, truth, strict=True) if o.verdict != t]
        assert verdicts == truth, f"{variant}: wrong verdicts on {wrong}"
