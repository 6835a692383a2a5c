"""Defect shapes painted onto a texture, and the weak ellipse label that covers each, as DAGM 2007 has them.

A painter draws one defect into ``image`` in place and returns its footprint (HxW bool, the pixels it
changed visibly). :func:`ellipse_label` turns a footprint into the filled ellipse that a labeller would
draw around it: coarse on purpose, because real weak labels are.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

from edge_inspect.datasets.textures import FloatImage, smooth_noise

BoolMask = npt.NDArray[np.bool_]
Painter = Callable[[FloatImage, np.random.Generator], BoolMask]

_MARGIN = 40
_LABEL_GROWTH = 1.25
_LABEL_PAD_PX = 4.0


def _sign(rng: np.random.Generator) -> float:
    return 1.0 if rng.random() < 0.5 else -1.0


def _centre(rng: np.random.Generator, size: int) -> tuple[float, float]:
    margin = min(_MARGIN, size // 4)
    return float(rng.uniform(margin, size - margin)), float(rng.uniform(margin, size - margin))


def _blurred(canvas: FloatImage, sigma: float) -> FloatImage:
    return np.asarray(cv2.GaussianBlur(canvas, (0, 0), sigmaX=sigma), dtype=np.float32)


def spot(image: FloatImage, rng: np.random.Generator) -> BoolMask:
    """A small round pit or bump: a darker or brighter soft-edged ellipse, 10-24 px across."""
    size = image.shape[0]
    cx, cy = _centre(rng, size)
    axes = (round(rng.uniform(5, 12)), round(rng.uniform(5, 12)))
    canvas = np.zeros_like(image)
    cv2.ellipse(canvas, (round(cx), round(cy)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
    alpha = _blurred(canvas, 1.5)
    image += alpha * _sign(rng) * rng.uniform(0.25, 0.4)
    return alpha > 0.5


def _polyline(points: list[tuple[float, float]], size: int, thickness: int) -> FloatImage:
    canvas = np.zeros((size, size), dtype=np.float32)
    pts = np.round(np.asarray(points)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], isClosed=False, color=1.0, thickness=thickness, lineType=cv2.LINE_AA)
    return canvas


def scratch(image: FloatImage, rng: np.random.Generator) -> BoolMask:
    """A thin, long, slightly curved line, brighter or darker than the surface."""
    size = image.shape[0]
    cx, cy = _centre(rng, size)
    length = rng.uniform(50, 160)
    theta = rng.uniform(0, math.pi)
    bend = rng.uniform(-0.15, 0.15) * length
    t = np.linspace(-0.5, 0.5, 24)
    xs = cx + t * length * math.cos(theta) - (1 - 4 * t**2) * bend * math.sin(theta)
    ys = cy + t * length * math.sin(theta) + (1 - 4 * t**2) * bend * math.cos(theta)
    points = [
        (float(np.clip(x, 4, size - 5)), float(np.clip(y, 4, size - 5))) for x, y in zip(xs, ys, strict=True)
    ]
    alpha = _blurred(_polyline(points, size, int(rng.integers(1, 3))), 0.7)
    image += alpha * _sign(rng) * rng.uniform(0.3, 0.45)
    return alpha > 0.25


def crack(image: FloatImage, rng: np.random.Generator) -> BoolMask:
    """A jagged dark line that wanders and sometimes branches."""
    size = image.shape[0]
    cx, cy = _centre(rng, size)
    heading = rng.uniform(0, 2 * math.pi)
    canvas = np.zeros_like(image)
    branches = 1 + int(rng.random() < 0.4)
    for _ in range(branches):
        x, y = cx, cy
        points = [(x, y)]
        for _step in range(int(rng.integers(8, 16))):
            heading += rng.normal(0, 0.45)
            step = rng.uniform(4, 9)
            x = float(np.clip(x + step * math.cos(heading), 4, size - 5))
            y = float(np.clip(y + step * math.sin(heading), 4, size - 5))
            points.append((x, y))
        canvas = np.maximum(canvas, _polyline(points, size, int(rng.integers(1, 3))))
        heading += math.pi + rng.normal(0, 0.6)
    alpha = _blurred(canvas, 0.6)
    image -= alpha * rng.uniform(0.3, 0.45)
    return alpha > 0.25


def smear(image: FloatImage, rng: np.random.Generator) -> BoolMask:
    """An elongated wiped zone: the texture is blurred out and shifted in brightness."""
    size = image.shape[0]
    cx, cy = _centre(rng, size)
    axes = (round(rng.uniform(20, 45)), round(rng.uniform(6, 12)))
    canvas = np.zeros_like(image)
    cv2.ellipse(canvas, (round(cx), round(cy)), axes, rng.uniform(0, 180), 0, 360, 1.0, -1, cv2.LINE_AA)
    alpha = _blurred(canvas, axes[1] / 3)
    wiped = _blurred(image, 5.0) + _sign(rng) * rng.uniform(0.2, 0.3)
    image[...] = image * (1 - alpha) + wiped * alpha
    return alpha > 0.4


def stain(image: FloatImage, rng: np.random.Generator) -> BoolMask:
    """An irregular blotch with soft edges (oil, residue, discolouration)."""
    size = image.shape[0]
    cx, cy = _centre(rng, size)
    radius = rng.uniform(12, 32)
    ys, xs = np.ogrid[0:size, 0:size]
    distance = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2, dtype=np.float32) / np.float32(radius)
    ragged = distance + 0.3 * smooth_noise(rng, size, radius / 3)
    blob = (ragged < 1.0).astype(np.float32)
    alpha = _blurred(blob, 2.0)
    image += alpha * _sign(rng) * rng.uniform(0.2, 0.32)
    return alpha > 0.5


DEFECTS: dict[str, Painter] = {
    "spot": spot,
    "scratch": scratch,
    "crack": crack,
    "smear": smear,
    "stain": stain,
}
"""The defect types the generator paints."""


def ellipse_label(footprint: BoolMask) -> npt.NDArray[np.uint8]:
    """The weak label of a defect: a filled ellipse (255) that covers every pixel of its footprint.

    Starts from the footprint's minimum-area rectangle, grown by a quarter plus a few pixels (a
    labeller's loose stroke), and grows further until no footprint pixel is left outside.
    """
    label = np.zeros(footprint.shape, dtype=np.uint8)
    ys, xs = np.nonzero(footprint)
    if xs.size == 0:
        return label
    points = np.stack([xs, ys], axis=1).astype(np.float32)
    (cx, cy), (w, h), angle = cv2.minAreaRect(points)
    growth = _LABEL_GROWTH
    for _ in range(8):
        axes = (round(w / 2 * growth + _LABEL_PAD_PX), round(h / 2 * growth + _LABEL_PAD_PX))
        label[...] = 0
        cv2.ellipse(label, (round(cx), round(cy)), axes, angle, 0, 360, 255, -1)
        if label[ys, xs].all():
            break
        growth *= 1.1
    return label
