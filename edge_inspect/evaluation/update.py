"""Write an evaluation's outcome into a model package: the chosen threshold and figures, hashes refreshed."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
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
    variant: str | None = None,
    evaluation: dict[str, Any] | None = None,
    files: Mapping[str, Path] | None = None,
) -> Manifest:
    """Set every class's pixel threshold to ``threshold`` and minimum defect area to ``min_area_px``,
    and/or merge ``evaluation`` into the manifest.

    The operating point is the package's (``decision``) for the default variant, or ``variant`` None;
    for another variant, or one that already has its own, it goes into ``artifacts.<variant>.decision``,
    so choosing for one variant never moves the point another variant runs at. ``files`` (package-relative
    path -> file) are copied in once the package has verified, e.g. a fresh precision-recall plot.

    The package is verified first (a tampered package is refused, not re-blessed), then the manifest is
    rewritten with fresh sha256 of every file; a generated model card is re-rendered to match.
    """
    package = load_package(root, verify=True)
    for relative, source in (files or {}).items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    data = package.manifest.model_dump(mode="json")
    classes = package.manifest.output.classes
    name, artifact = package.artifact(variant)
    own = name != package.manifest.default_variant or artifact.decision is not None
    point = (data["artifacts"][name].get("decision") or {}) if own else data["decision"]
    if threshold is not None:
        point["thresholds"] = {cls: float(threshold) for cls in classes}
    if min_area_px is not None:
        point["min_area_px"] = {cls: int(min_area_px) for cls in classes}
    if own and point:
        data["artifacts"][name]["decision"] = point
    if evaluation:
        data["evaluation"] = {**data.get("evaluation", {}), **evaluation}
    manifest = write_manifest(root, data)
    card = root / CARD_NAME
    if card.is_file() and card.read_text(encoding="utf-8").startswith(CARD_MARKER):
        card.write_text(render_card(manifest), encoding="utf-8")
        manifest = write_manifest(root, data)
    return manifest
