"""Pure numpy augmentation and crop sampling for segmentation training (no torch here).

Defects are tiny on a large background, so a crop of a defective image is centred near its defect most of
the time: a random crop would often miss it and teach the network that everything is background.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class AugmentConfig:
    """Which random changes a training crop gets."""

    flips: bool = True
    rotate90: bool = True
    gain: tuple[float, float] = (0.85, 1.15)
    """Contrast gain around the crop mean (lighting changes)."""
    offset: tuple[float, float] = (-0.06, 0.06)
    """Brightness offset, in 0..1 pixel units."""
    noise_std: tuple[float, float] = (0.0, 0.015)
    """Added Gaussian sensor noise std, in 0..1 pixel units."""


def crop_origin(
    rng: np.random.Generator, shape: tuple[int, int], crop: int, mask: U8 | None, focus: float
) -> tuple[int, int]:
    """Top-left (y, x) of a ``crop`` square; with probability ``focus`` it contains a defect pixel."""
    height, width = shape
    if mask is not None and rng.random() < focus:
        ys, xs = np.nonzero(mask)
        if ys.size:
            pick = int(rng.integers(ys.size))
            return crop_around(rng, shape, crop, int(ys[pick]), int(xs[pick]))
    return int(rng.integers(0, height - crop + 1)), int(rng.integers(0, width - crop + 1))


def crop_around(
    rng: np.random.Generator, shape: tuple[int, int], crop: int, y: int, x: int
) -> tuple[int, int]:
    """Top-left (y, x) of a ``crop`` square that holds pixel (y, x) at a random place inside it."""
    height, width = shape
    y0 = int(rng.integers(max(0, y - crop + 1), min(height - crop, y) + 1))
    x0 = int(rng.integers(max(0, x - crop + 1), min(width - crop, x) + 1))
    return y0, x0


def augment(rng: np.random.Generator, image: F32, target: F32, config: AugmentConfig) -> tuple[F32, F32]:
    """Apply the same geometric change to image (HxW, 0..1) and target (KxHxW); photometric to image only."""
    if config.flips and rng.random() < 0.5:
        image, target = image[:, ::-1], target[:, :, ::-1]
    if config.flips and rng.random() < 0.5:
        image, target = image[::-1, :], target[:, ::-1, :]
    if config.rotate90:
        turns = int(rng.integers(4))
        image, target = np.rot90(image, turns, axes=(0, 1)), np.rot90(target, turns, axes=(1, 2))
    mean = float(image.mean())
    image = (image - mean) * rng.uniform(*config.gain) + mean + rng.uniform(*config.offset)
    std = rng.uniform(*config.noise_std)
    if std > 0:
        image = image + std * rng.standard_normal(image.shape, dtype=np.float32)
    return np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(target, dtype=np.float32)


def one_hot(mask: U8 | None, classes: int, shape: tuple[int, int]) -> F32:
    """K x H x W float targets: channel k is class id k+1 (binary models: any non-zero id)."""
    if mask is None:
        return np.zeros((classes, *shape), dtype=np.float32)
    if classes == 1:
        return (mask > 0)[None].astype(np.float32)
    return np.stack([(mask == k + 1) for k in range(classes)]).astype(np.float32)
