"""Train the U-Net: seeded, random crops with oversampled defects, Dice + BCE, validation-based early stop.

The validation split is carved from Train (stratified by texture class and defectiveness) and written out
as ``validation/images`` + ``validation/masks`` links, so threshold choice later runs on exactly those
images and the Test split stays unseen by training and by threshold choice alike.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from edge_inspect.datasets.loader import Sample, load_dataset
from edge_inspect.datasets.splits import split_validation
from edge_inspect.evaluation.metrics import auroc, dice
from edge_inspect.training.augment import F32, AugmentConfig, one_hot
from edge_inspect.training.data import CropSampler, InMemory, Normalization
from edge_inspect.training.deps import require
from edge_inspect.training.loss import dice_bce_loss, image_topk_loss
from edge_inspect.training.mining import mine, weak_defects
from edge_inspect.training.unet import UNet, UNetConfig

BEST = "best.pt"
LAST = "last.pt"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run; saved into the checkpoint and the model manifest."""

    dataset: str
    out: str
    unet: UNetConfig = field(default_factory=UNetConfig)
    crop: int = 192
    batch: int = 16
    steps_per_epoch: int = 250
    epochs: int = 6
    patience: int = 3
    lr: float = 3e-3
    weight_decay: float = 1e-4
    defect_fraction: float = 0.5
    focus: float = 0.9
    val_fraction: float = 0.15
    seed: int = 0
    threads: int = 2
    limit: int | None = None
    """Use only the first N training images (smoke tests)."""
    init: str | None = None
    """Start from this checkpoint's weights (fine-tuning; its U-Net shape wins over ``unet``)."""
    hard_negatives: float = 0.0
    """Share of defect-free crops centred on hard negatives mined before each epoch (0: no mining)."""
    weak_defects: float = 0.0
    """Share of defective crops drawn from the images whose defect the model misses, found before each
    epoch (0: none)."""
    image_loss: float = 0.0
    """Weight of the image-level top-k loss (:func:`~edge_inspect.training.loss.image_topk_loss`); 0: off."""
    image_topk: int = 64
    """Pixels whose mean logit is a crop's image score in that loss (about the minimum defect area)."""
    precision: Literal["f32", "bf16"] = "f32"
    """Arithmetic of the training steps: ``bf16`` runs forward and backward under CPU autocast (mixed
    precision: weights, optimiser, loss, validation and mining stay float32). On CPUs with native bf16
    (AVX512-BF16, AMX) it measured 2.3x faster per step; without, it is emulated and slower."""
    mining_floor: float = 0.3
    """Probability from which a region of a defect-free training image counts as a hard negative."""
    detect_floor: float = 0.9
    """A defective training image whose peak probability inside its label stays below this is drawn
    more often (with ``weak_defects`` on)."""
    norm: Normalization = field(default_factory=Normalization)
    augment: AugmentConfig = field(default_factory=AugmentConfig)


def _link_validation(out: Path, samples: list[Sample]) -> None:
    """``out/validation/{images,masks}/<class>/`` symlinks: the validation split in the plain layout."""
    for sample in samples:
        for kind, path in (("images", sample.image), ("masks", sample.mask)):
            if path is None:
                continue
            link = out / "validation" / kind / sample.texture_class / path.name
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(path.resolve())


@torch.no_grad()
def validate(model: UNet, data: InMemory, config: TrainConfig) -> dict[str, float]:
    """Loss, Dice on defective images and image-level AUROC (score = max probability) at full size."""
    model.eval()
    losses, dices, scores, truth = [], [], [], []
    for image, mask in zip(data.images, data.masks, strict=True):
        target = one_hot(mask, config.unet.classes, (image.shape[0], image.shape[1]))
        logits = model(torch.from_numpy(config.norm.model_input(image)))
        losses.append(float(dice_bce_loss(logits, torch.from_numpy(target[None]))))
        prob = torch.sigmoid(logits)[0].numpy()
        defective = mask is not None and bool(mask.any())
        scores.append(float(prob.max()))
        truth.append(defective)
        if defective:
            dices.append(dice(prob > 0.5, target > 0))
    model.train()
    result = {"loss": float(np.mean(losses)), "dice": float(np.mean(dices)) if dices else 1.0}
    if any(truth) and not all(truth):
        result["auroc"] = auroc(truth, scores)
    return result


def _checkpoint(
    model: UNet, config: TrainConfig, epoch: int, history: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "model": model.state_dict(),
        "unet": config.unet.as_dict(),
        "norm": asdict(config.norm),
        "train": asdict(config),
        "epoch": epoch,
        "history": history,
    }


def _mine(
    model: UNet, fit: InMemory, sampler: CropSampler, config: TrainConfig, epoch: int
) -> dict[str, int]:
    """Point the sampler at where the model now errs (false alarms, missed defects); prints the counts."""
    # mining reads every training image through the model (minutes on a CPU): say so before it starts
    print(json.dumps({"epoch": epoch, "mining": "started", "images": len(fit.images)}), flush=True)
    found: dict[str, int] = {}
    if config.hard_negatives > 0:
        hard = mine(model, fit.images, sampler.good, config.norm, config.mining_floor)
        sampler.set_hard_negatives([(h.index, h.y, h.x) for h in hard])
        found |= {"hard_negatives": len(hard), "hard_images": len({h.index for h in hard})}
    if config.weak_defects > 0:
        weak = weak_defects(
            model, fit.images, fit.masks, sampler.defective, norm=config.norm, floor=config.detect_floor
        )
        sampler.set_weak_defects(weak)
        found["weak_defects"] = len(weak)
    print(json.dumps({"epoch": epoch, **found}), flush=True)
    return found


def _step(
    model: UNet, batch: tuple[F32, F32], optimizer: torch.optim.Optimizer, config: TrainConfig
) -> float:
    """One optimisation step on a batch (inputs, targets); returns its loss."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.precision == "bf16"):
        logits = model(torch.from_numpy(batch[0]))
    logits, target = logits.float(), torch.from_numpy(batch[1])
    loss = dice_bce_loss(logits, target)
    if config.image_loss > 0:
        loss = loss + config.image_loss * image_topk_loss(logits, target, config.image_topk)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return float(loss.detach())


def train(config: TrainConfig) -> Path:
    """Run the training; returns the path of the best checkpoint (lowest validation loss)."""
    tqdm = require("tqdm", "the training progress bar").tqdm
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    samples = load_dataset(config.dataset, split="train")
    if config.limit is not None:
        samples = samples[: config.limit]
    fit_samples, val_samples = split_validation(samples, config.val_fraction, config.seed)
    _link_validation(out, val_samples)
    fit, val = InMemory.load(fit_samples), InMemory.load(val_samples)
    sampler = CropSampler(
        fit,
        crop=config.crop,
        classes=config.unet.classes,
        norm=config.norm,
        augment_config=config.augment,
        defect_fraction=config.defect_fraction,
        focus=config.focus,
        seed=config.seed,
        hard_fraction=config.hard_negatives,
        weak_fraction=config.weak_defects,
    )
    if config.init is not None:
        model, _ = load_checkpoint(Path(config.init))
        config = replace(config, unet=model.config)
    else:
        model = UNet(config.unet)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = config.epochs * config.steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * min(step, total) / total)),
    )
    history: list[dict[str, Any]] = []
    best, stale, started = math.inf, 0, time.monotonic()
    model.train()
    for epoch in range(1, config.epochs + 1):
        mining = config.hard_negatives > 0 or config.weak_defects > 0
        mined = _mine(model, fit, sampler, config, epoch) if mining else {}
        # a bar on a terminal only: in a log (journald, a CI job, a file) the epoch's JSON line says it all
        bar = tqdm(
            range(config.steps_per_epoch),
            desc=f"epoch {epoch}/{config.epochs}",
            unit="step",
            disable=not sys.stderr.isatty(),
        )
        running = 0.0
        for step in bar:
            running += _step(model, sampler.batch(config.batch), optimizer, config)
            schedule.step()
            bar.set_postfix(loss=f"{running / (step + 1):.4f}")
        metrics = validate(model, val, config) if val.images else {"loss": running / config.steps_per_epoch}
        record = {
            "epoch": epoch,
            "train_loss": running / config.steps_per_epoch,
            "elapsed_s": time.monotonic() - started,
            **mined,
        }
        history.append({**record, **{f"val_{k}": v for k, v in metrics.items()}})
        print(json.dumps(history[-1]), flush=True)
        _write_history(out, history)  # each epoch: a stopped run keeps what it learnt about itself
        torch.save(_checkpoint(model, config, epoch, history), out / LAST)
        if metrics["loss"] < best:
            best, stale = metrics["loss"], 0
            torch.save(_checkpoint(model, config, epoch, history), out / BEST)
        else:
            stale += 1
            if stale >= config.patience:
                print(f"early stop: validation loss has not improved for {stale} epochs", flush=True)
                break
    return out / BEST


def _write_history(out: Path, history: list[dict[str, Any]]) -> None:
    """``history.json``, replaced whole (never half-written)."""
    partial = out / "history.json.partial"
    partial.write_text(json.dumps(history, indent=1), encoding="utf-8")
    partial.replace(out / "history.json")


def load_checkpoint(path: Path) -> tuple[UNet, dict[str, Any]]:
    """The model (eval mode) and the checkpoint's metadata."""
    checkpoint: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=False)
    model = UNet(UNetConfig(**checkpoint["unet"]))
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint
