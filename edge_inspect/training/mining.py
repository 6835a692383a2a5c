"""Hard-negative mining: where on defect-free training images does the current model see a defect?

A station pays for false alarms, and random crops rarely land on the few places of a surface that look
like a defect (one strong streak on brushed metal, a clump of grains on a coated part). Before each epoch
the model scores every defect-free training image at full size; each connected region whose probability
reaches ``floor`` becomes a hard negative, weighted by its peak probability. The crop sampler then centres
a share of its defect-free crops on those regions, so training spends its steps where the model errs.

Defective training images are scored too (:func:`weak_defects`): those whose defect the model misses
are drawn more often, so that fewer false alarms are not bought with missed defects.

Only training images are mined (never the validation split or Test), so threshold choice stays honest.
Import this module only after :func:`edge_inspect.training.deps.require` has checked torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import torch

from edge_inspect.training.augment import U8
from edge_inspect.training.data import Normalization
from edge_inspect.training.unet import UNet


@dataclass(frozen=True)
class HardNegative:
    """One region of a defect-free image that the model scored as defect: image index, centre, peak."""

    index: int
    y: int
    x: int
    score: float


def _probability(model: UNet, image: U8, norm: Normalization) -> npt.NDArray[np.float32]:
    """The model's (H, W) defect probability (highest over classes) for one full-size image."""
    return np.asarray(torch.sigmoid(model(torch.from_numpy(norm.model_input(image))))[0].amax(dim=0).numpy())


@contextmanager
def _evaluating(model: UNet) -> Iterator[None]:
    """The model in eval mode, without gradients, for the block; back in the mode it had after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def mine(
    model: UNet, images: Sequence[U8], indices: Sequence[int], norm: Normalization, floor: float
) -> list[HardNegative]:
    """Regions with probability >= ``floor`` on ``images[i]``, ``i`` in ``indices``; strongest first."""
    found: list[HardNegative] = []
    with _evaluating(model):
        for index in indices:
            prob = _probability(model, images[index], norm)
            hot = (prob >= floor).astype(np.uint8)
            if not hot.any():
                continue
            for y, x in _region_peaks(hot, prob):
                found.append(HardNegative(index, y, x, float(prob[y, x])))
    found.sort(key=lambda h: -h.score)
    return found


def _region_peaks(hot: U8, prob: npt.NDArray[np.float32]) -> list[tuple[int, int]]:
    """(y, x) of the highest probability in each connected region of ``hot``, in label order; ties go
    to the first pixel in raster order. One pass over the hot pixels, however many regions there are."""
    _, labels = cv2.connectedComponents(hot, connectivity=8)
    pixels = np.flatnonzero(hot)
    label_of = labels.ravel()[pixels]
    order = np.lexsort((-prob.ravel()[pixels], label_of))  # stable: raster order among equal scores
    firsts = order[np.flatnonzero(np.diff(label_of[order], prepend=-1))]
    return [(int(y), int(x)) for y, x in zip(*np.divmod(pixels[firsts], hot.shape[1]), strict=True)]


def weak_defects(
    model: UNet,
    images: Sequence[U8],
    masks: Sequence[U8 | None],
    indices: Sequence[int],
    *,
    norm: Normalization,
    floor: float,
) -> list[int]:
    """The defective images among ``indices`` whose defect the model misses: its peak probability inside
    the label stays below ``floor``. The other side of hard-negative mining, so that learning to ignore
    streaks does not teach the model to ignore thin scratches too."""
    weak: list[int] = []
    with _evaluating(model):
        for index in indices:
            mask = masks[index]
            if mask is None or not mask.any():
                continue
            if float(_probability(model, images[index], norm)[mask > 0].max()) < floor:
                weak.append(index)
    return weak
