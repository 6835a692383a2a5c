"""Writing a chosen threshold and figures into a package keeps it verifiable; tampering is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_inspect.errors import ModelPackageError
from edge_inspect.evaluation.update import update_manifest
from edge_inspect.model.package import load_package
from edge_inspect.training.card import CARD_MARKER, CARD_NAME, render_card
from tests.helpers.tiny_model import make_tiny_package


def test_threshold_and_figures_are_written_and_hashes_refreshed(tmp_path: Path) -> None:
    root = make_tiny_package(tmp_path / "pkg", variants=("fp32",))
    (root / CARD_NAME).write_text(render_card(load_package(root).manifest))
    update_manifest(root, threshold=0.37, min_area_px=120)
    update_manifest(root, evaluation={"test_fp32": {"images": 3}})
    package = load_package(root)  # verifies every sha256
    assert package.manifest.decision.thresholds == {"defect": 0.37}
    assert package.manifest.decision.min_area_px == {"defect": 120}
    assert package.manifest.evaluation == {"test_fp32": {"images": 3}}
    card = (root / CARD_NAME).read_text()
    assert card.startswith(CARD_MARKER)
    assert "0.37" in card


def test_a_tampered_package_is_refused_not_rehashed(tmp_path: Path) -> None:
    root = make_tiny_package(tmp_path / "pkg", variants=("fp32",))
    (root / "fp32" / "model.bin").write_bytes(b"not the weights")
    with pytest.raises(ModelPackageError, match=r"fp32/model\.bin: sha256 mismatch"):
        update_manifest(root, threshold=0.4)


def test_the_card_states_the_chosen_operating_point(tmp_path: Path) -> None:
    # given a record whose images the operating point was chosen on
    root = make_tiny_package(tmp_path / "pkg", variants=("fp32",))
    (root / CARD_NAME).write_text(render_card(load_package(root).manifest))
    chosen = {"rule": "cost:fp=1,fn=20", "threshold": 0.92, "min_area_px": 64, "tp": 9, "tn": 30, "fp": 1}
    chosen |= {"fn": 0, "precision": 0.9, "recall": 1.0, "false_alarm_rate": 1 / 31}
    record = {"images": 40, "defective": 9, "image": {"tp": 9}, "chosen": chosen}
    update_manifest(root, threshold=0.92, min_area_px=64, evaluation={"selection_fp32": record})
    # then the card says what was chosen there, and by which rule
    card = (root / CARD_NAME).read_text()
    expected = "`--choose 'cost:fp=1,fn=20'`: threshold 0.92, minimum area 64 px (TP 9, TN 30, FP 1, FN 0;"
    assert expected in card


def test_a_point_chosen_for_another_variant_is_its_own_and_the_daemon_runs_it(tmp_path: Path) -> None:
    pytest.importorskip("onnx")
    from edge_inspect.config.decision import DecisionConfig
    from edge_inspect.config.engines import OpenVINOEngineConfig
    from edge_inspect.station.inspection import build_inspector

    # given a package whose default variant is fp32, with an onnx variant beside it
    root = make_tiny_package(tmp_path / "pkg", variants=("fp32", "onnx"))
    (root / CARD_NAME).write_text(render_card(load_package(root).manifest))
    default = load_package(root).manifest.decision
    # when an operating point is chosen for onnx, then another for the default variant
    update_manifest(root, threshold=0.8, min_area_px=40, variant="onnx")
    update_manifest(root, threshold=0.3, min_area_px=10, variant="fp32")
    manifest = load_package(root).manifest  # verifies every sha256
    # then onnx has its own point, the default variant's is the package's, and neither moved the other
    assert manifest.artifacts["onnx"].decision is not None
    assert manifest.decision_for("onnx").thresholds == {"defect": 0.8}
    assert manifest.decision_for("onnx").min_area_px == {"defect": 40}
    assert manifest.decision.thresholds == manifest.decision_for(None).thresholds == {"defect": 0.3}
    assert manifest.artifacts["fp32"].decision is None
    assert manifest.decision_for("onnx").max_defects == default.max_defects
    # and the daemon's inspection path decides with the point of the variant it runs
    for variant, expected in (("onnx", (0.8,)), ("fp32", (0.3,))):
        inspector, rules = build_inspector(
            load_package(root), OpenVINOEngineConfig(type="openvino"), DecisionConfig(), variant=variant
        )
        inspector.engine.close()
        assert rules.thresholds == expected
    # and the card names the variant's own point
    assert (
        "`onnx` runs at its own operating point: thresholds {'defect': 0.8}" in (root / CARD_NAME).read_text()
    )
