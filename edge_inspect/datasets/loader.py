"""Find the samples of a data set on disk, in the layouts users bring.

- DAGM 2007 (the real download, or our generator's output): ``ClassN/{Train,Test}/NNNN.PNG`` with weak
  labels in ``Label/`` and an index in ``Label/Labels.txt``. ``root`` may be the data set, one ``ClassN``
  folder, or one ``ClassN/Train`` folder.
- Flat DAGM (the replay sample set): ``NNNN.PNG`` + ``Label/NNNN_label.PNG`` in one folder.
- Plain: ``images/`` + ``masks/`` (masks named like the images, optionally ``_label``), with optional
  ``images/<class>/`` sub-folders for texture classes.

Only paths are returned; pixels are read by whoever needs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import cv2

from edge_inspect.datasets.labels import LABEL_DIR, dagm_label_path, mask_in_folder
from edge_inspect.errors import DatasetError

IMAGE_EXTENSIONS = frozenset({".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"})
LABELS_TXT = "Labels.txt"
_CLASS_DIR = re.compile(r"^Class\d+$", re.IGNORECASE)
_SPLIT_DIRS = {"train": "train", "test": "test"}
_LABELS_TXT_FIELDS = 3


@dataclass(frozen=True)
class Sample:
    """One image of a data set, with its ground truth."""

    image: Path
    mask: Path | None
    """The defect mask / weak label; None for a defect-free image."""
    texture_class: str
    split: str
    """'train', 'test' or 'all' (a layout without splits)."""
    defective: bool


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _parse_labels_txt(path: Path) -> dict[str, tuple[bool, str | None]]:
    """``Labels.txt`` rows: image file -> (defective, label file or None). The first line is a header."""
    rows: dict[str, tuple[bool, str | None]] = {}
    lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        if len(fields) < _LABELS_TXT_FIELDS or fields[1] not in ("0", "1"):
            msg = f"{path}:{number}: expected 'index defective(0/1) image 0 label', got {line!r}"
            raise DatasetError(msg)
        defective = fields[1] == "1"
        label = fields[-1] if defective and len(fields) > _LABELS_TXT_FIELDS else None
        rows[fields[2]] = (defective, label)
    return rows


def _dagm_folder(folder: Path, texture_class: str, split: str) -> list[Sample]:
    """The samples of one DAGM image folder, from ``Label/Labels.txt`` when present, else from files."""
    index_path = folder / LABEL_DIR / LABELS_TXT
    index = _parse_labels_txt(index_path) if index_path.is_file() else None
    samples = []
    for image in _images_in(folder):
        mask = dagm_label_path(image)
        defective = mask is not None
        if index is not None:
            if image.name not in index:
                msg = f"{index_path}: has no row for {image.name}"
                raise DatasetError(msg)
            defective, label = index[image.name]
            if defective and label is not None and (folder / LABEL_DIR / label).is_file():
                mask = folder / LABEL_DIR / label
            if defective and mask is None:
                msg = f"{index_path}: {image.name} is marked defective but its label file is missing"
                raise DatasetError(msg)
            if not defective:
                mask = None
        samples.append(Sample(image, mask, texture_class, split, defective))
    return samples


def _class_folder(folder: Path) -> list[Sample]:
    samples: list[Sample] = []
    for child in sorted(folder.iterdir()):
        split = _SPLIT_DIRS.get(child.name.lower())
        if split is not None and child.is_dir():
            samples += _dagm_folder(child, folder.name, split)
    return samples


def _plain(root: Path) -> list[Sample]:
    images_dir, masks_dir = root / "images", root / "masks"
    groups = [(images_dir, "all")] + [(d, d.name) for d in sorted(images_dir.iterdir()) if d.is_dir()]
    samples = []
    for folder, texture_class in groups:
        mask_folder = masks_dir if folder == images_dir else masks_dir / folder.name
        for image in _images_in(folder):
            mask = mask_in_folder(image, mask_folder) if mask_folder.is_dir() else None
            defective = mask is not None and _mask_has_defect(mask)
            samples.append(Sample(image, mask if defective else None, texture_class, "all", defective))
    return samples


def _mask_has_defect(path: Path) -> bool:
    mask = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if mask is None:
        msg = f"{path}: cannot read mask"
        raise DatasetError(msg)
    return bool(mask.any())


def load_dataset(root: str | Path, split: str | None = None) -> list[Sample]:
    """Every sample under ``root`` (layout detected), optionally only those of ``split``."""
    root = Path(root)
    if not root.is_dir():
        msg = f"{root}: data set folder not found"
        raise DatasetError(msg)
    if (root / "images").is_dir():
        samples = _plain(root)
    elif class_dirs := [d for d in sorted(root.iterdir()) if d.is_dir() and _CLASS_DIR.match(d.name)]:
        samples = [s for d in class_dirs for s in _class_folder(d)]
    elif _CLASS_DIR.match(root.name):
        samples = _class_folder(root)
    elif root.name.lower() in _SPLIT_DIRS and _CLASS_DIR.match(root.parent.name):
        samples = _dagm_folder(root, root.parent.name, _SPLIT_DIRS[root.name.lower()])
    else:
        samples = _dagm_folder(root, "all", "all")
    if not samples:
        msg = (
            f"{root}: no images found (expected ClassN/{{Train,Test}}/*.PNG, images/ + masks/, "
            "or a folder of images with a Label/ sub-folder)"
        )
        raise DatasetError(msg)
    if split is not None:
        samples = [s for s in samples if s.split == split]
        if not samples:
            msg = f"{root}: no images in split {split!r}"
            raise DatasetError(msg)
    return samples


def class_names(samples: Iterable[Sample]) -> list[str]:
    """The texture classes present, in natural order (Class2 before Class10)."""

    def key(name: str) -> tuple[str, int]:
        match = re.search(r"(\d+)$", name)
        return (name[: match.start()] if match else name, int(match.group(1)) if match else -1)

    return sorted({s.texture_class for s in samples}, key=key)
