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
