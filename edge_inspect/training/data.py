"""Training data in memory: images and targets read once, batches of augmented crops drawn from them.

Defective images are drawn with probability ``defect_fraction`` per crop (oversampling), whatever their
share of the data set, so the network sees enough defect pixels to learn them. Of the defect-free crops, a
share ``hard_fraction`` is centred on mined hard negatives (see :mod:`edge_inspect.training.mining`) once
the trainer has given the sampler some; likewise a share ``weak_fraction`` of the defective crops comes
from the images whose defect the model misses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_inspect.datasets.labels import read_mask
from edge_inspect.datasets.loader import Sample
from edge_inspect.errors import DatasetError
from edge_inspect.training.augment import F32, U8, AugmentConfig, augment, crop_around, crop_origin, one_hot


@dataclass(frozen=True)
class Normalization:
    """``x = (pixel / scale - mean) / std``: the same numbers go into the model manifest."""

    scale: float = 255.0
    mean: float = 0.5
    std: float = 0.25

    def apply(self, unit: F32) -> F32:
        """Normalise an image already divided by ``scale`` (values 0..1)."""
        return ((unit - self.mean) / self.std).astype(np.float32)

    def model_input(self, image: U8) -> F32:
        """A whole 8-bit image as the model's (1, 1, H, W) input."""
        return self.apply(image.astype(np.float32) / np.float32(self.scale))[None, None]


def read_gray(path: Path) -> U8:
    """An 8-bit single-channel image, or a DatasetError naming the file."""
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if image is None:
        msg = f"{path}: cannot read image"
        raise DatasetError(msg)
    return np.asarray(image, dtype=np.uint8)


@dataclass
class InMemory:
    """Images (uint8) and masks (uint8 class ids, or None) of a list of samples."""

    samples: list[Sample]
    images: list[U8]
    masks: list[U8 | None]

    @classmethod
    def load(cls, samples: Sequence[Sample]) -> InMemory:
        images = [read_gray(s.image) for s in samples]
        masks = [read_mask(s.mask) if s.mask is not None else None for s in samples]
        for sample, image, mask in zip(samples, images, masks, strict=True):
            if mask is not None and mask.shape != image.shape:
                msg = f"{sample.mask}: mask size {mask.shape} differs from image size {image.shape}"
                raise DatasetError(msg)
        return cls(list(samples), images, masks)


class CropSampler:
    """Draws augmented training crops; ``batch(n)`` returns (N x 1 x c x c inputs, N x K x c x c targets)."""

    def __init__(
        self,
        data: InMemory,
        *,
        crop: int,
        classes: int,
        norm: Normalization,
        augment_config: AugmentConfig,
        defect_fraction: float,
        focus: float,
        seed: int,
        hard_fraction: float = 0.0,
        weak_fraction: float = 0.0,
    ) -> None:
        self.data = data
        self.crop = crop
        self.classes = classes
        self.norm = norm
        self.augment_config = augment_config
        self.defect_fraction = defect_fraction
        self.focus = focus
        self.hard_fraction = hard_fraction
        self.weak_fraction = weak_fraction
        self.hard: list[tuple[int, int, int]] = []
        """(image index, y, x) of hard negatives, set by :meth:`set_hard_negatives`."""
        self.weak: list[int] = []
        """Defective images whose defect the model misses, set by :meth:`set_weak_defects`."""
        self.rng = np.random.default_rng(seed)
        self.defective = [i for i, m in enumerate(data.masks) if m is not None and m.any()]
        self.good = [i for i in range(len(data.images)) if i not in set(self.defective)]
        if not self.defective and not self.good:
            msg = "no training images"
            raise DatasetError(msg)

    def set_hard_negatives(self, places: list[tuple[int, int, int]]) -> None:
        """Centre ``hard_fraction`` of the defect-free crops on these (image index, y, x) places."""
        self.hard = list(places)

    def set_weak_defects(self, indices: list[int]) -> None:
        """Draw ``weak_fraction`` of the defective crops from these images (defects the model misses)."""
        self.weak = list(indices)

    def _pick(self) -> tuple[int, tuple[int, int] | None]:
        """An image index, and the place the crop must hold (a hard negative) or None."""
        use_defective = self.defective and (not self.good or self.rng.random() < self.defect_fraction)
        if use_defective:
            weak = self.weak and self.rng.random() < self.weak_fraction
            pool = self.weak if weak else self.defective
        elif self.hard and self.rng.random() < self.hard_fraction:
            index, y, x = self.hard[int(self.rng.integers(len(self.hard)))]
            return index, (y, x)
        else:
            pool = self.good
        return pool[int(self.rng.integers(len(pool)))], None

    def one(self) -> tuple[F32, F32]:
        index, place = self._pick()
        image, mask = self.data.images[index], self.data.masks[index]
        crop = min(self.crop, *image.shape)
        shape = (image.shape[0], image.shape[1])
        if place is not None:
            y0, x0 = crop_around(self.rng, shape, crop, *place)
        else:
            y0, x0 = crop_origin(self.rng, shape, crop, mask, self.focus)
        patch = image[y0 : y0 + crop, x0 : x0 + crop].astype(np.float32) / np.float32(self.norm.scale)
        window = None if mask is None else mask[y0 : y0 + crop, x0 : x0 + crop]
        target = one_hot(window, self.classes, (crop, crop))
        patch, target = augment(self.rng, patch, target, self.augment_config)
        return self.norm.apply(patch), target

    def batch(self, size: int) -> tuple[F32, F32]:
        pairs = [self.one() for _ in range(size)]
        return np.stack([p[0][None] for p in pairs]), np.stack([p[1] for p in pairs])
