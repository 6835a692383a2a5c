"""Losses made for tiny defects on large backgrounds.

Plain BCE on a 20x20 defect in a 224x224 image is 99 % satisfied by an all-background answer, and
published U-Net attempts on chip defects collapsed exactly there. Soft Dice measures the defect pixels
only, so it cannot be satisfied by predicting nothing; BCE keeps the background calibrated (false alarms
on defect-free images are what a station pays for). Dice is summed over the whole batch, so a batch of
defect-free crops still has a defined, finite loss.

Both are pixel figures over the batch, and a station judges images: a false 300-pixel blob on one
defect-free 192x192 crop of a batch of 16 is 0.05 % of the batch's pixels, and beside its thousands of
labelled defect pixels it moves Dice by a percent or two, so training barely pays for the false alarms
it makes. :func:`image_topk_loss` prices the verdict itself: BCE on the mean of the ``k`` highest logits
of each defect-free crop (``k`` near the decision's minimum defect area).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F  # noqa: N812 (torch convention)


def dice_bce_loss(
    logits: torch.Tensor, target: torch.Tensor, dice_weight: float = 1.0, smooth: float = 1.0
) -> Any:
    """BCE (mean over pixels) + ``dice_weight`` x (1 - soft Dice over the batch, per class)."""
    bce = F.binary_cross_entropy_with_logits(logits, target)
    prob = torch.sigmoid(logits)
    dims = (0, 2, 3)
    intersection = (prob * target).sum(dims)
    total = prob.sum(dims) + target.sum(dims)
    dice = (2 * intersection + smooth) / (total + smooth)
    return bce + dice_weight * (1 - dice.mean())


def image_topk_loss(logits: torch.Tensor, target: torch.Tensor, k: int = 64) -> Any:
    """BCE of the mean top-``k`` logit of each defect-free crop and class against "no defect" (0 when
    every crop holds a label pixel).

    Only defect-free crops are priced: a crop that holds a label pixel may hold only the rim of a weak
    ellipse label, with no defect in sight, and calling it defective taught the network to flag plain
    texture (Dice already rewards finding the defects).
    """
    flat = logits.flatten(2)
    top = flat.topk(min(k, flat.shape[-1]), dim=-1).values.mean(dim=-1)
    clean = target.flatten(2).amax(dim=-1) == 0
    if not bool(clean.any()):
        return logits.new_zeros(())
    return F.binary_cross_entropy_with_logits(top[clean], torch.zeros_like(top[clean]))
