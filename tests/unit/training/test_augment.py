"""Crops find the defect; augmentation moves image and target together."""

from __future__ import annotations

import numpy as np

from edge_inspect.training.augment import AugmentConfig, augment, crop_origin, one_hot


def test_a_focused_crop_contains_the_defect() -> None:
    mask = np.zeros((200, 200), np.uint8)
    mask[150:155, 20:24] = 1
    rng = np.random.default_rng(0)
    for _ in range(50):
        y, x = crop_origin(rng, (200, 200), 64, mask, focus=1.0)
        assert 0 <= y <= 136
        assert 0 <= x <= 136
        assert mask[y : y + 64, x : x + 64].any()


def test_image_and_target_stay_aligned() -> None:
    image = np.zeros((32, 32), np.float32)
    image[3, 7] = 1.0
    target = one_hot((image > 0).astype(np.uint8), 1, (32, 32))
    config = AugmentConfig(gain=(1.0, 1.0), offset=(0.0, 0.0), noise_std=(0.0, 0.0))
    rng = np.random.default_rng(1)
    for _ in range(20):
        out, tgt = augment(rng, image, target, config)
        assert np.array_equal(out > 0.5, tgt[0] > 0.5)


def test_one_hot_targets() -> None:
    mask = np.array([[0, 1], [2, 255]], np.uint8)
    assert one_hot(mask, 1, (2, 2)).tolist() == [[[0, 1], [1, 1]]]
    assert one_hot(mask, 2, (2, 2))[1].tolist() == [[0, 0], [1, 0]]
    assert not one_hot(None, 2, (2, 2)).any()
