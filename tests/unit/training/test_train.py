"""A few training steps on tiny images: the loss falls, a checkpoint is saved and loads back."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edge_inspect.datasets.synth import SynthSpec, generate_dagm  # noqa: E402
from edge_inspect.training.loss import dice_bce_loss, image_topk_loss  # noqa: E402
from edge_inspect.training.train import TrainConfig, _step, load_checkpoint, train  # noqa: E402
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


def test_image_topk_loss_prices_a_false_blob_that_the_pixel_loss_hardly_sees() -> None:
    # given a batch of a found 16x16 defect and a defect-free crop, answered cleanly or with an 8x8 false blob
    target = torch.zeros(2, 1, 64, 64)
    target[0, 0, 20:36, 20:36] = 1
    clean = torch.where(target > 0, 8.0, -8.0)
    blob = clean.clone()
    blob[1, 0, 10:18, 10:18] = 8.0
    # then the blob costs the image loss its full BCE (~8) where the clean answer costs ~0
    assert float(image_topk_loss(blob, target, k=64)) > 7.0
    assert float(image_topk_loss(clean, target, k=64)) < 1e-3
    # while the pixel loss (Dice + mean BCE) moves by a fraction of that
    assert float(dice_bce_loss(blob, target)) - float(dice_bce_loss(clean, target)) < 0.25


def test_image_topk_loss_ignores_crops_that_hold_a_label_pixel() -> None:
    # given a crop that holds a single label pixel (the rim of a weak ellipse label) and no defect answer
    target = torch.zeros(1, 1, 32, 32)
    target[0, 0, 0, 0] = 1
    logits = torch.full((1, 1, 32, 32), 8.0)
    # then it is not priced as a false alarm: only defect-free crops are
    assert float(image_topk_loss(logits, target, k=16)) == 0.0
    # and with a defect-free crop beside it, only that crop counts
    both_logits = torch.cat([logits, torch.full((1, 1, 32, 32), -8.0)])
    both_target = torch.cat([target, torch.zeros(1, 1, 32, 32)])
    assert float(image_topk_loss(both_logits, both_target, k=16)) < 1e-3


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
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.8 * losses[0]


def _tiny_data(root: Path) -> Path:
    """A 64x64 data set of two textures: 4 good and 3 defective training images each."""
    spec = SynthSpec(
        size=64,
        textures=("cloudy", "grain"),
        train_good=4,
        train_defective=3,
        test_good=1,
        test_defective=1,
        seed=2,
    )
    generate_dagm(root, spec)
    return root


def _tiny_config(data: Path, out: Path, **changes: Any) -> TrainConfig:
    """A run of a few steps of a small U-Net on 32 px crops, single-threaded (deterministic)."""
    config = TrainConfig(
        dataset=str(data),
        out=str(out),
        unet=UNetConfig(base=8, depth=2),
        crop=32,
        batch=4,
        steps_per_epoch=3,
        epochs=2,
        val_fraction=0.3,
        threads=1,
    )
    return replace(config, **changes)


def test_a_short_run_saves_checkpoints_and_the_validation_split(tmp_path: Path) -> None:
    config = _tiny_config(_tiny_data(tmp_path / "data"), tmp_path / "run")
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


def test_the_image_loss_is_part_of_the_training_step_and_of_the_recorded_config(tmp_path: Path) -> None:
    # given two short runs on the same data and seed, one with the image-level loss
    data = _tiny_data(tmp_path / "data")
    base = _tiny_config(data, tmp_path / "plain", epochs=1)
    _, plain = load_checkpoint(train(base))
    _, priced = load_checkpoint(train(replace(base, out=str(tmp_path / "priced"), image_loss=1.0)))
    # then the loss it trains on differs (defect-free crops now pay for their top-k logits)
    assert priced["history"][0]["train_loss"] != plain["history"][0]["train_loss"]
    # and the checkpoint records the term, for the model manifest's recipe
    assert (priced["train"]["image_loss"], priced["train"]["image_topk"]) == (1.0, 64)
    assert plain["train"]["image_loss"] == 0.0


@pytest.mark.parametrize(("precision", "conv_dtype"), [("f32", "float32"), ("bf16", "bfloat16")])
def test_a_bf16_step_convolves_in_bf16_and_keeps_float32_weights(precision: str, conv_dtype: str) -> None:
    # given a small U-Net, a batch with a defect, and a hook on the first convolution
    torch.manual_seed(0)
    model = UNet(UNetConfig(base=8, depth=2))
    seen: list[Any] = []
    first_conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv2d))
    first_conv.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    x = np.random.default_rng(0).normal(size=(2, 1, 32, 32)).astype(np.float32)
    y = np.zeros_like(x)
    y[0, 0, 8:16, 8:16] = 1
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    config = _tiny_config(Path("unused"), Path("unused"), precision=precision)
    # when one training step runs
    loss = _step(model, (x, y), optimizer, config)
    # then the convolution ran in the asked arithmetic, the loss is finite, and the weights stay float32
    assert [str(dtype).removeprefix("torch.") for dtype in seen] == [conv_dtype]
    assert np.isfinite(loss)
    assert {p.dtype for p in model.parameters()} == {torch.float32}


def test_a_stopped_run_keeps_the_history_of_its_finished_epochs(tmp_path: Path) -> None:
    data = _tiny_data(tmp_path / "data")
    out = tmp_path / "run"
    args = ["--dataset", str(data), "--out", str(out), "--base", "8", "--depth", "2", "--crop", "32"]
    args += ["--batch", "4", "--steps", "3", "--epochs", "500", "--patience", "500", "--threads", "1"]
    # given a long run, logged to a pipe (not a terminal)
    run = subprocess.Popen(
        [sys.executable, "-m", "edge_inspect.cli", "train", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        history = out / "history.json"
        while not (history.is_file() and len(json.loads(history.read_text())) >= 2):
            assert run.poll() is None, run.communicate()
            assert time.monotonic() < deadline, "no history after two epochs"
            time.sleep(0.2)
    finally:
        run.send_signal(signal.SIGKILL)  # stopped as a power cut would
        _, err = run.communicate(timeout=30)
    # then the history of every finished epoch is on disk, readable, and no bar was drawn into the log
    epochs = [h["epoch"] for h in json.loads(history.read_text())]
    assert epochs[:2] == [1, 2]
    assert "\r" not in err
