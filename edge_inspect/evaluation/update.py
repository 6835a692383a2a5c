"""Write an evaluation's outcome into a model package: the chosen threshold and figures, hashes refreshed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_inspect.model.manifest import Manifest
from edge_inspect.model.package import load_package, write_manifest
from edge_inspect.training.card import CARD_MARKER, CARD_NAME, render_card


def update_manifest(
    root: Path,
    *,
    threshold: float | None = None,
    min_area_px: int | None = None,
    evaluation: dict[str, Any] | None = None,
) -> Manifest:
    """Set every class's pixel threshold to ``threshold`` and minimum defect area to ``min_area_px``,
    and/or merge ``evaluation`` into the manifest.

    The package is verified first (a tampered package is refused, not re-blessed), then the manifest is
    rewritten with fresh sha256 of every file; a generated model card is re-rendered to match.
    """
    package = load_package(root, verify=True)
    data = package.manifest.model_dump(mode="json")
    if threshold is not None:
        data["decision"]["thresholds"] = {name: float(threshold) for name in package.manifest.output.classes}
    if min_area_px is not None:
        data["decision"]["min_area_px"] = {name: int(min_area_px) for name in package.manifest.output.classes}
    if evaluation:
        data["evaluation"] = {**data.get("evaluation", {}), **evaluation}
    manifest = write_manifest(root, data)
    card = root / CARD_NAME
    if card.is_file() and card.read_text(encoding="utf-8").startswith(CARD_MARKER):
        card.write_text(render_card(manifest), encoding="utf-8")
        manifest = write_manifest(root, data)
    return manifest
