"""``edge-inspect train --dataset DIR --out RUN``: train the compact U-Net on a DAGM-layout or
images/+masks/ data set (its Train split), with a validation split carved from it and early stopping.

Needs the ``train`` extra."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    # every default shown by --help; they are the recipe's stage 1 (tools/build_reference_model.sh)
    parser = subparsers.add_parser(
        "train",
        help="train a U-Net defect segmenter (needs the 'train' extra)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--dataset", required=True, help="data set folder (its Train split is used)")
    parser.add_argument("--out", required=True, help="run folder for checkpoints and the validation split")
    parser.add_argument("--base", type=int, default=16, help="channels of the first level")
    parser.add_argument("--depth", type=int, default=4, help="down-sampling levels")
    parser.add_argument("--classes", type=int, default=1, help="output channels / defect classes")
    parser.add_argument("--crop", type=int, default=192, help="training crop side, pixels")
    parser.add_argument("--batch", type=int, default=16, help="crops per step")
    parser.add_argument("--steps", type=int, default=250, help="steps per epoch")
    parser.add_argument("--epochs", type=int, default=8, help="maximum epochs")
    parser.add_argument("--patience", type=int, default=3, help="epochs without improvement before stopping")
    parser.add_argument("--lr", type=float, default=3e-3, help="peak learning rate")
    parser.add_argument(
        "--defect-fraction", type=float, default=0.5, help="share of crops from defective images"
    )
    parser.add_argument(
        "--val-fraction", type=float, default=0.15, help="share of Train held out for validation"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of everything random")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--init", default=None, help="start from this checkpoint's weights (fine-tuning)")
    parser.add_argument("--limit", type=int, default=None, help="use only the first N training images")
    parser.add_argument(
        "--hard-negatives",
        type=float,
        default=0.0,
        help="share of defect-free crops centred on regions the model wrongly flags, mined each epoch",
    )
    parser.add_argument(
        "--weak-defects",
        type=float,
        default=0.0,
        help="share of defective crops from images whose defect the model misses, found each epoch",
    )
    parser.add_argument(
        "--image-loss",
        type=float,
        default=0.0,
        help="weight of an image-level loss on each defect-free crop's top-k logits (0: off)",
    )
    parser.add_argument(
        "--image-topk", type=int, default=64, help="pixels in that top-k, about the minimum defect area"
    )
    parser.add_argument(
        "--precision",
        choices=("f32", "bf16"),
        default="f32",
        help="f32, or bf16 mixed precision for the training steps (fast on CPUs with native bf16)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_inspect.training.deps import require

    require("torch", "Training")
    from edge_inspect.training.train import TrainConfig, train
    from edge_inspect.training.unet import UNetConfig

    config = TrainConfig(
        dataset=args.dataset,
        out=args.out,
        unet=UNetConfig(base=args.base, depth=args.depth, classes=args.classes),
        crop=args.crop,
        batch=args.batch,
        steps_per_epoch=args.steps,
        epochs=args.epochs,
        patience=args.patience,
        lr=args.lr,
        defect_fraction=args.defect_fraction,
        val_fraction=args.val_fraction,
        seed=args.seed,
        threads=args.threads,
        limit=args.limit,
        init=args.init,
        hard_negatives=args.hard_negatives,
        weak_defects=args.weak_defects,
        image_loss=args.image_loss,
        image_topk=args.image_topk,
        precision=args.precision,
    )
    best = train(config)
    print(f"best checkpoint: {best}")
    return 0
