"""A compact U-Net for defect segmentation, designed for CPU inference speed before any training.

Why this shape: a plain 4-level U-Net with 16 base channels at full 512x512 costs ~24 GFLOPs and runs
at ~40 fps INT8 on a 2-core CPU, near the hardware's peak. Here a stride-2 stem puts the heaviest levels
at half resolution, the decoder has one convolution per level, channel counts are multiples of 16 (so
INT8 VNNI kernels pay off), and the logits are upsampled back to the input size inside the graph, so the
output map has the input's size (manifest ``stride: 1``).

Import this module only after :func:`edge_inspect.training.deps.require` has checked torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, cast

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 (torch convention)


@dataclass(frozen=True)
class UNetConfig:
    """Width and depth of the network."""

    in_channels: int = 1
    classes: int = 1
    base: int = 16
    depth: int = 3
    stem_stride: int = 2

    def channels(self) -> list[int]:
        """Channels per level: ``base * 2**level``."""
        return [self.base * 2**level for level in range(self.depth + 1)]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """Encoder (stem + ``depth`` down levels), decoder (nearest upsample + concat + conv), 1x1 head."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        ch = config.channels()
        self.stem = nn.Sequential(_conv(config.in_channels, ch[0], config.stem_stride), _conv(ch[0], ch[0]))
        self.down = nn.ModuleList(
            nn.Sequential(_conv(ch[i], ch[i + 1], stride=2), _conv(ch[i + 1], ch[i + 1]))
            for i in range(config.depth)
        )
        self.up = nn.ModuleList(_conv(ch[i + 1] + ch[i], ch[i]) for i in range(config.depth))
        self.head = nn.Conv2d(ch[0], config.classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        skips = [self.stem(x)]
        for level in self.down:
            skips.append(level(skips[-1]))
        y = skips[-1]
        for i in reversed(range(self.config.depth)):
            y = F.interpolate(y, scale_factor=2.0, mode="nearest")
            y = self.up[i](torch.cat([y, skips[i]], dim=1))
        logits = self.head(y)
        if self.config.stem_stride != 1:
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return cast("torch.Tensor", logits)


def count_macs(config: UNetConfig, size: int) -> int:
    """Multiply-accumulates of one forward pass on a ``size`` x ``size`` input (convolutions only)."""
    ch = config.channels()
    s = size // config.stem_stride
    macs = s * s * 9 * (config.in_channels * ch[0] + ch[0] * ch[0])
    for i in range(config.depth):
        s //= 2
        macs += s * s * 9 * (ch[i] * ch[i + 1] + ch[i + 1] * ch[i + 1])
    s = size // config.stem_stride
    for i in range(config.depth):
        r = s // 2**i
        macs += r * r * 9 * (ch[i + 1] + ch[i]) * ch[i]
    macs += s * s * ch[0] * config.classes
    return macs
