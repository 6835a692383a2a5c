"""Where ground-truth masks live beside images, in the layouts we read.

- DAGM 2007: ``ClassN/Test/0001.PNG`` has its weak ellipse label at ``ClassN/Test/Label/0001_label.PNG``
  (only defective images have one; a missing label means defect-free).
- Plain: ``images/0001.png`` has its mask at ``masks/0001.png`` (or ``masks/0001_label.png``).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

LABEL_DIR = "Label"
LABEL_SUFFIX = "_label"
_MAX_CLASS_ID = 32
MASK_EXTENSIONS = (".PNG", ".png", ".bmp", ".tif", ".tiff")


def _first_existing(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + LABEL_SUFFIX):
        for ext in MASK_EXTENSIONS:
            candidate = folder / f"{name}{ext}"
            if candidate.is_file():
                return candidate
    return None


def dagm_label_path(image: Path) -> Path | None:
    """The DAGM label of ``image`` (``Label/{stem}_label.PNG`` beside it), or None when it has none."""
    return _first_existing(image.parent / LABEL_DIR, image.stem)


def has_dagm_labels(folder: Path) -> bool:
    """True when ``folder`` has a DAGM ``Label`` sub-folder."""
    return (folder / LABEL_DIR).is_dir()


def mask_in_folder(image: Path, masks: Path) -> Path | None:
    """The mask of ``image`` in ``masks`` (same stem, optionally with ``_label``), or None."""
    return _first_existing(masks, image.stem)


def read_mask(path: Path) -> npt.NDArray[np.uint8]:
    """Read a mask as HxW uint8 class ids: 0 = background, k = defect class k (1-based).

    Binary masks (values 0 and 255, as DAGM's labels) become 0/1; multi-class masks keep their small ids.
    """
    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        msg = f"{path}: cannot read mask"
        raise ValueError(msg)
    if raw.ndim == 3:
        raw = raw.max(axis=2)
    if raw.max() > _MAX_CLASS_ID:
        return (raw > 0).astype(np.uint8)
    return raw.astype(np.uint8)
