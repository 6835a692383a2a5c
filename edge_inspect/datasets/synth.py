"""A seeded generator of DAGM-2007-layout data sets: textured surfaces, painted defects, weak ellipse labels.

Layout written (the real DAGM 2007 download has the same, so one loader reads both)::

    ClassN/{Train,Test}/NNNN.PNG
    ClassN/{Train,Test}/Label/NNNN_label.PNG     (defective images only)
    ClassN/{Train,Test}/Label/Labels.txt

plus ``dataset.json`` at the root describing how it was made. Every image is drawn from its own seed,
derived from (seed, class, split, index), so the same arguments give the same bytes, whatever the order.
:func:`generate_flat` writes the flat replay layout (``NNNN.PNG`` + ``Label/NNNN_label.PNG``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge_inspect.datasets.defects import DEFECTS, ellipse_label
from edge_inspect.datasets.labels import LABEL_DIR, LABEL_SUFFIX
from edge_inspect.datasets.textures import TEXTURES, render_texture

LABELS_TXT = "Labels.txt"
DATASET_JSON = "dataset.json"
SPLITS = ("Train", "Test")
_SENSOR_NOISE = 0.008


@dataclass(frozen=True)
class SynthSpec:
    """How many images of which kind: counts are per texture class and split."""

    size: int = 512
    textures: tuple[str, ...] = tuple(TEXTURES)
    defects: tuple[str, ...] = tuple(DEFECTS)
    train_good: int = 300
    train_defective: int = 120
    test_good: int = 200
    test_defective: int = 50
    seed: int = 2007
    png_compression: int = 1
    """zlib level of the PNG files (1 = fast, 9 = small); the pixels are the same either way."""

    def counts(self, split: str) -> tuple[int, int]:
        """(defect-free, defective) images per class in ``split``."""
        if split == "Train":
            return self.train_good, self.train_defective
        return self.test_good, self.test_defective


@dataclass(frozen=True)
class SynthImage:
    """One rendered image: 8-bit pixels, its weak label (None when defect-free) and what was painted."""

    image: npt.NDArray[np.uint8]
    label: npt.NDArray[np.uint8] | None
    texture: str
    defect: str | None


def render(texture: str, defect: str | None, rng: np.random.Generator, size: int) -> SynthImage:
    """Render one image of ``texture`` with one ``defect`` painted on it (or none)."""
    surface = render_texture(texture, rng, size)
    label = None
    if defect is not None:
        footprint = DEFECTS[defect](surface, rng)
        label = ellipse_label(footprint)
    surface += _SENSOR_NOISE * rng.standard_normal(surface.shape, dtype=np.float32)
    pixels = np.clip(surface * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return SynthImage(image=pixels, label=label, texture=texture, defect=defect)


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def _plan(rng: np.random.Generator, good: int, defective: int, defects: tuple[str, ...]) -> list[str | None]:
    """Which images of a split are defective and with what, in a shuffled order."""
    kinds: list[str | None] = [defects[i % len(defects)] for i in range(defective)]
    kinds += [None] * good
    order = rng.permutation(len(kinds))
    return [kinds[i] for i in order]


def _write(folder: Path, number: int, item: SynthImage, compression: int) -> tuple[str, str | None]:
    params = [cv2.IMWRITE_PNG_COMPRESSION, compression]
    name = f"{number:04d}.PNG"
    if not cv2.imwrite(str(folder / name), item.image, params):
        msg = f"{folder / name}: cannot write image"
        raise OSError(msg)
    if item.label is None:
        return name, None
    label_name = f"{number:04d}{LABEL_SUFFIX}.PNG"
    if not cv2.imwrite(str(folder / LABEL_DIR / label_name), item.label, params):
        msg = f"{folder / LABEL_DIR / label_name}: cannot write label"
        raise OSError(msg)
    return name, label_name


def write_labels_txt(label_dir: Path, rows: list[tuple[str, str | None]]) -> None:
    """DAGM's ``Labels.txt``: a header line ``1``, then ``index, defective, image, 0, label`` per image."""
    lines = ["1"]
    for index, (image, label) in enumerate(rows, start=1):
        lines.append(f"{index}\t{int(label is not None)}\t{image}\t0\t{label or 0}")
    (label_dir / LABELS_TXT).write_text("\n".join(lines) + "\n", encoding="ascii")


def _write_folder(folder: Path, items: list[SynthImage], compression: int) -> list[dict[str, Any]]:
    (folder / LABEL_DIR).mkdir(parents=True, exist_ok=True)
    rows = []
    records = []
    for number, item in enumerate(items, start=1):
        name, label = _write(folder, number, item, compression)
        rows.append((name, label))
        records.append({"image": name, "texture": item.texture, "defect": item.defect})
    write_labels_txt(folder / LABEL_DIR, rows)
    return records


def generate_dagm(root: Path, spec: SynthSpec) -> dict[str, Any]:
    """Write a DAGM-layout data set under ``root`` and return its description (also saved as dataset.json)."""
    root.mkdir(parents=True, exist_ok=True)
    records: dict[str, list[dict[str, Any]]] = {}
    for class_index, texture in enumerate(spec.textures, start=1):
        for split_index, split in enumerate(SPLITS):
            good, defective = spec.counts(split)
            plan = _plan(_rng(spec.seed, class_index, split_index), good, defective, spec.defects)
            items = [
                render(texture, kind, _rng(spec.seed, class_index, split_index, number), spec.size)
                for number, kind in enumerate(plan, start=1)
            ]
            folder = root / f"Class{class_index}" / split
            records[f"Class{class_index}/{split}"] = _write_folder(folder, items, spec.png_compression)
    description = {"generator": "edge_inspect.datasets.synth", "layout": "dagm", "spec": asdict(spec)}
    (root / DATASET_JSON).write_text(
        json.dumps({**description, "images": records}, indent=1), encoding="utf-8"
    )
    return description


def generate_flat(root: Path, spec: SynthSpec, good: int, defective: int) -> dict[str, Any]:
    """Write ``good`` + ``defective`` images of mixed texture classes as ``NNNN.PNG`` + ``Label/``."""
    root.mkdir(parents=True, exist_ok=True)
    plan_rng = _rng(spec.seed, 0)
    plan = _plan(plan_rng, good, defective, spec.defects)
    textures = [spec.textures[int(i)] for i in plan_rng.integers(0, len(spec.textures), len(plan))]
    items = [
        render(texture, kind, _rng(spec.seed, 0, 0, number), spec.size)
        for number, (texture, kind) in enumerate(zip(textures, plan, strict=True), start=1)
    ]
    records = _write_folder(root, items, spec.png_compression)
    description = {"generator": "edge_inspect.datasets.synth", "layout": "flat", "spec": asdict(spec)}
    (root / DATASET_JSON).write_text(
        json.dumps({**description, "images": records}, indent=1), encoding="utf-8"
    )
    return description
