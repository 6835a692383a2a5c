"""The shipped reference package: it verifies, refuses tampering, and its three variants give the same
verdicts on the shipped sample set, equal to the ground truth, through the daemon's own inspection code."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

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


def edited_copy(model_dir: Path, tmp_path: Path, edit: Any) -> Path:
    """A copy of the package whose manifest ``edit(data)`` changed (without re-hashing anything)."""
    copy = tmp_path / "pkg"
    shutil.copytree(model_dir, copy)
    manifest = copy / "manifest.yaml"
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    edit(data)
    manifest.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return copy


def test_weights_left_out_of_the_file_list_are_refused_by_name(model_dir: Path, tmp_path: Path) -> None:
    # a modified int8/model.bin that the manifest does not list would never be hashed
    copy = edited_copy(model_dir, tmp_path, lambda data: data["files"].pop("int8/model.bin"))

    with pytest.raises(ModelPackageError, match=r"int8/model\.bin"):
        load_package(copy)


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "int8/../../outside.xml", ""])
def test_an_artifact_path_outside_the_package_is_refused_naming_it(
    model_dir: Path, tmp_path: Path, path: str
) -> None:
    def point_outside(data: dict[str, Any]) -> None:
        data["artifacts"]["int8"]["path"] = path

    copy = edited_copy(model_dir, tmp_path, point_outside)

    with pytest.raises(ModelPackageError, match=r"artifacts\.int8\.path|manifest"):
        load_package(copy)


def test_an_ir_reached_through_a_link_out_of_the_package_is_refused(model_dir: Path, tmp_path: Path) -> None:
    # the path is plain and listed with the right hash, but the file lies elsewhere: refused all the same
    outside = tmp_path / "elsewhere"
    shutil.copytree(model_dir / "int8", outside)
    copy = tmp_path / "pkg"
    shutil.copytree(model_dir, copy)
    shutil.rmtree(copy / "int8")
    (copy / "int8").symlink_to(outside, target_is_directory=True)

    with pytest.raises(ModelPackageError, match=r"lies outside the package folder"):
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
