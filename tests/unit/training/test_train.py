"""A few training steps on tiny images: the loss falls, a checkpoint is saved and loads back."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_inspect.datasets.synth import SynthSpec, generate_dagm  # noqa: E402
from edge_inspect.training.loss import dice_bce_loss  # noqa: E402
from edge_inspect.training.train import TrainConfig, load_checkpoint, train  # noqa: E402
from edge_inspect.training.unet import UNet, UNetConfig  # noqa: E402


def test_dice_bce_does_not_reward_an_all_background_answer() -> None:
    # given a tiny defect on a large background
    target = torch.zeros(1, 1, 64, 64)
    target[0, 0, 30:34, 30:34] = 1
    background = torch.full((1, 1, 64, 64), -8.0)
    found = background.clone()
    found[0, 0, 30:34, 30:34] = 8.0
    # then missing it costs far more than BCE alone would say (the Dice term is ~1)
    assert float(dice_bce_loss(background, target)) > 0.9
    assert float(dice_bce_loss(found, target)) < 0.05
    # and a batch without any defect pixel still has a finite loss
    assert np.isfinite(float(dice_bce_loss(background, torch.zeros_like(target))))


def test_loss_falls_on_a_fixed_batch() -> None:
    torch.manual_seed(0)
    model = UNet(UNetConfig(base=8, depth=2))
    x = torch.randn(4, 1, 32, 32)
    y = (x > 1.0).float()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        loss = dice_bce_loss(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss))
    assert losses[-1] < 0.8 * losses[0]


def test_a_short_run_saves_checkpoints_and_the_validation_split(tmp_path: Path) -> None:
    generate_dagm(
        tmp_path / "data",
        SynthSpec(
            size=64,
            textures=("cloudy", "grain"),
            train_good=4,
            train_defective=3,
            test_good=1,
            test_defective=1,
            seed=2,
        ),
    )
    config = TrainConfig(
        dataset=str(tmp_path / "data"),
        out=str(tmp_path / "run"),
        unet=UNetConfig(base=8, depth=2),
        crop=32,
        batch=4,
        steps_per_epoch=3,
        epochs=2,
        val_fraction=0.3,
        threads=1,
    )
    best = train(config)
    assert best.is_file()
    assert (tmp_path / "run" / "last.pt").is_file()
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(np.isfinite(h["val_loss"]) for h in history)
    model, meta = load_checkpoint(best)
    assert meta["unet"]["base"] == 8
    assert meta["norm"] == {"scale": 255.0, "mean": 0.5, "std": 0.25}
    with torch.no_grad():
        assert tuple(model(torch.zeros(1, 1, 64, 64)).shape) == (1, 1, 64, 64)
    # the validation split is a plain images/ + masks/ data set the eval command can read
    linked = list((tmp_path / "run" / "validation" / "images").rglob("*.PNG"))
    assert len(linked) == 2 * round(4 * 0.3) + 2 * round(3 * 0.3)
