"""Statistically textured surfaces, the backgrounds of the synthetic data set (numpy + OpenCV only).

Each texture class is a recipe of filtered noise with its own randomised parameters, so two images of one
class share their statistics but never their pixels, as in DAGM 2007. Amplitudes are kept a few times
below the defects' contrast at the defects' own scale (streaks fainter than scratches, clouds fainter and
wider than stains): otherwise a surface's own features are defects by any definition, and no model can
reach the false-alarm rates a station needs. Every function returns a float32
HxW image with values around 0.5 and draws only from the ``rng`` it is given, which keeps generation
reproducible per image.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
import numpy.typing as npt

FloatImage = npt.NDArray[np.float32]
TextureFn = Callable[[np.random.Generator, int], FloatImage]


_KERNEL_RADIUS_SIGMAS = 4
"""OpenCV's Gaussian kernel on float32 images reaches 4 sigma each side: the wrap padding covers it."""


def _f32(array: object) -> FloatImage:
    """``array`` as float32 (a no-op for the float32 results of OpenCV and of float32 arithmetic)."""
    return np.asarray(array, dtype=np.float32)


def smooth_noise(rng: np.random.Generator, size: int, sigma: float) -> FloatImage:
    """Gaussian noise low-pass filtered at ``sigma`` pixels, rescaled to zero mean and unit std.

    The noise is filtered as if it tiled the plane (wrapped, not mirrored, at the edges), so its
    statistics are the same everywhere. A mirrored border sums each edge sample with itself: the field
    came out about 1.5x stronger (RMS) along the edges than inside at the cloud scale, and its edge blobs, cut
    by the border, looked like stains (the edge-band test in ``tests/unit/datasets`` pins this).
    """
    noise = rng.standard_normal((size, size), dtype=np.float32)
    if sigma > 0:
        pad = math.ceil(_KERNEL_RADIUS_SIGMAS * sigma)
        tiled = np.pad(noise, pad, mode="wrap")
        noise = _f32(cv2.GaussianBlur(tiled, (0, 0), sigmaX=sigma)[pad : pad + size, pad : pad + size])
    noise -= noise.mean()
    std = float(noise.std())
    return noise / std if std > 0 else noise


def _grid(size: int) -> tuple[FloatImage, FloatImage]:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return xs, ys


def _rotate(image: FloatImage, angle_deg: float) -> FloatImage:
    size = image.shape[0]
    matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle_deg, 1.0)
    rotated = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
    )
    return np.asarray(rotated, dtype=np.float32)


def cloudy(rng: np.random.Generator, size: int) -> FloatImage:
    """Low-frequency clouds over fine grain (painted or cast surfaces)."""
    clouds_gain = rng.uniform(0.035, 0.055)
    clouds = smooth_noise(rng, size, rng.uniform(20, 40))
    grain_gain = rng.uniform(0.015, 0.03)
    return _f32(clouds_gain * clouds + grain_gain * smooth_noise(rng, size, 1.5))


def grain(rng: np.random.Generator, size: int) -> FloatImage:
    """Fine isotropic grain (sand-blasted or sintered surfaces)."""
    grain_gain = rng.uniform(0.05, 0.07)
    fine = smooth_noise(rng, size, rng.uniform(0.8, 1.4))
    mottle_gain = rng.uniform(0.015, 0.025)
    return _f32(grain_gain * fine + mottle_gain * smooth_noise(rng, size, 12))


def brushed(rng: np.random.Generator, size: int) -> FloatImage:
    """Long streaks in one random direction (brushed or rolled metal).

    The streaks are as thin as a scratch, so their gain is what keeps the two apart: at 0.03-0.045 the
    strongest streak of a typical image matched the median scratch under a line filter, and two in five
    scratches were fainter than it (label noise that no model can learn away).
    """
    pad = size // 4
    big = size + 2 * pad
    noise = rng.standard_normal((big, big), dtype=np.float32)
    streaks = _f32(cv2.GaussianBlur(noise, (0, 0), sigmaX=rng.uniform(10, 24), sigmaY=0.9))
    streaks = _rotate(streaks, float(rng.uniform(0, 180)))[pad : pad + size, pad : pad + size]
    streaks = (streaks - streaks.mean()) / max(float(streaks.std()), 1e-6)
    return _f32(rng.uniform(0.018, 0.027) * streaks + 0.02 * smooth_noise(rng, size, 1.0))


def woven(rng: np.random.Generator, size: int) -> FloatImage:
    """A periodic weave with jitter (fabric, mesh)."""
    xs, ys = _grid(size)
    theta = rng.uniform(0, math.pi)
    period = rng.uniform(7, 14)
    u = xs * math.cos(theta) + ys * math.sin(theta)
    v = -xs * math.sin(theta) + ys * math.cos(theta)
    warp = 1.5 * smooth_noise(rng, size, 20)
    weave = np.sin(2 * math.pi * (u + warp) / period) * np.sin(2 * math.pi * (v - warp) / period)
    return _f32(rng.uniform(0.05, 0.08) * weave + 0.025 * smooth_noise(rng, size, 1.0))


def speckle(rng: np.random.Generator, size: int) -> FloatImage:
    """Dense small bright grains on a matte ground (coated or powdered surfaces)."""
    dots = (rng.random((size, size), dtype=np.float32) < rng.uniform(0.015, 0.04)).astype(np.float32)
    dots = _f32(cv2.GaussianBlur(dots, (0, 0), sigmaX=rng.uniform(0.8, 1.4)))
    dots = (dots - dots.mean()) / max(float(dots.std()), 1e-6)
    return _f32(rng.uniform(0.04, 0.06) * dots + 0.02 * smooth_noise(rng, size, 8))


def wood(rng: np.random.Generator, size: int) -> FloatImage:
    """Warped parallel stripes (wood grain, laminates)."""
    xs, ys = _grid(size)
    theta = rng.uniform(0, math.pi)
    period = rng.uniform(14, 28)
    u = xs * math.cos(theta) + ys * math.sin(theta)
    warp = rng.uniform(4, 10) * smooth_noise(rng, size, 40)
    stripes = np.sin(2 * math.pi * (u + warp) / period)
    return _f32(rng.uniform(0.04, 0.07) * stripes + 0.025 * smooth_noise(rng, size, 1.2))


TEXTURES: dict[str, TextureFn] = {
    "cloudy": cloudy,
    "grain": grain,
    "brushed": brushed,
    "woven": woven,
    "speckle": speckle,
    "wood": wood,
}
"""The texture classes, in class order: Class1 is ``cloudy``, Class2 ``grain``, ..."""


def render_texture(name: str, rng: np.random.Generator, size: int) -> FloatImage:
    """A ``size`` x ``size`` texture of class ``name`` on a random mean brightness."""
    try:
        recipe = TEXTURES[name]
    except KeyError:
        msg = f"unknown texture {name!r}; known: {sorted(TEXTURES)}"
        raise ValueError(msg) from None
    base = np.float32(rng.uniform(0.38, 0.62))
    return (base + recipe(rng, size)).astype(np.float32)
