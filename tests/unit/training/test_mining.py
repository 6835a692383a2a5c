"""Hard-example mining: where the model errs on defect-free images, which defects it misses, and crops
that land on both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_inspect.datasets.loader import Sample  # noqa: E402
from edge_inspect.training.augment import AugmentConfig, crop_around  # noqa: E402
from edge_inspect.training.data import CropSampler, InMemory, Normalization  # noqa: E402
from edge_inspect.training.mining import mine, weak_defects  # noqa: E402
from edge_inspect.training.unet import UNet, UNetConfig  # noqa: E402

STILL = AugmentConfig(flips=False, rotate90=False, gain=(1.0, 1.0), offset=(0.0, 0.0), noise_std=(0.0, 0.0))


def constant_model(logit: float) -> UNet:
    """A U-Net that answers ``logit`` at every pixel whatever the image: all weights 0, head bias set."""
    model = UNet(UNetConfig(base=8, depth=1))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        assert model.head.bias is not None
        model.head.bias.fill_(logit)
    return model.eval()


def images(n: int, size: int = 32) -> list[np.ndarray]:
    return [np.full((size, size), 128, np.uint8) for _ in range(n)]


def test_given_a_model_that_fires_everywhere_when_mined_then_each_image_is_one_hard_negative() -> None:
    found = mine(constant_model(3.0), images(3), [0, 2], Normalization(), floor=0.5)

    assert sorted(h.index for h in found) == [0, 2]
    assert all(h.score == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-5) for h in found)


def test_given_a_model_that_never_fires_when_mined_then_there_is_no_hard_negative() -> None:
    assert mine(constant_model(-3.0), images(3), [0, 1, 2], Normalization(), floor=0.5) == []


@pytest.mark.parametrize(("logit", "weak"), [(-3.0, [1, 2]), (3.0, [])])
def test_given_defective_images_when_scored_then_the_missed_ones_are_weak(
    logit: float, weak: list[int]
) -> None:
    mask = np.zeros((32, 32), np.uint8)
    mask[10:14, 10:14] = 1
    masks = [None, mask, mask]

    found = weak_defects(constant_model(logit), images(3), masks, [0, 1, 2], norm=Normalization(), floor=0.9)

    assert found == weak


def test_a_crop_around_a_place_always_holds_it() -> None:
    rng = np.random.default_rng(0)
    for y, x in ((0, 0), (199, 199), (5, 150), (100, 100)):
        for _ in range(20):
            y0, x0 = crop_around(rng, (200, 200), 64, y, x)
            assert 0 <= y0 <= 136
            assert 0 <= x0 <= 136
            assert y0 <= y < y0 + 64
            assert x0 <= x < x0 + 64


def still_sampler(data: InMemory, **fractions: float) -> CropSampler:
    """32 px crops without augmentation or normalisation, so a crop's brightest pixel is the image's."""
    return CropSampler(
        data,
        crop=32,
        classes=1,
        norm=Normalization(mean=0.0, std=1.0),
        augment_config=STILL,
        focus=0.9,
        seed=0,
        **fractions,
    )


def test_given_hard_negatives_when_crops_are_drawn_then_they_hold_the_mined_place(tmp_path: Path) -> None:
    image = np.zeros((128, 128), np.uint8)
    image[100, 20] = 255  # the one bright pixel: a crop that holds the place shows it
    data = InMemory([Sample(tmp_path / "a.png", None, "Class1", "train", False)], [image], [None])
    sampler = still_sampler(data, defect_fraction=0.0, hard_fraction=1.0)
    assert sum(float(sampler.one()[0].max()) > 0.5 for _ in range(40)) < 40  # random crops mostly miss it

    sampler.set_hard_negatives([(0, 100, 20)])

    assert all(float(sampler.one()[0].max()) > 0.5 for _ in range(40))


def test_given_weak_defects_when_defective_crops_are_drawn_then_they_come_from_those_images(
    tmp_path: Path,
) -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[20:30, 20:30] = 1
    dark, bright = np.zeros((64, 64), np.uint8), np.full((64, 64), 255, np.uint8)
    samples = [
        Sample(tmp_path / f"{i}.png", tmp_path / f"{i}_label.png", "Class1", "train", True) for i in (0, 1)
    ]
    data = InMemory(samples, [dark, bright], [mask, mask])
    sampler = still_sampler(data, defect_fraction=1.0, weak_fraction=1.0)
    assert 0 < sum(float(sampler.one()[0].max()) > 0.5 for _ in range(40)) < 40  # both images, at first

    sampler.set_weak_defects([1])

    assert all(float(sampler.one()[0].max()) > 0.5 for _ in range(40))
