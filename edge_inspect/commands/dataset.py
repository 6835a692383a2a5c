"""``edge-inspect dataset OUT``: generate a seeded DAGM-layout data set (or a flat replay set) of textured
surfaces with defects; ``edge-inspect dataset --info DIR`` counts the samples of any supported layout."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dataset", help="generate a synthetic DAGM-layout data set, or summarise one (--info)"
    )
    parser.add_argument("out", help="folder to write (or, with --info, to read)")
    parser.add_argument("--info", action="store_true", help="summarise an existing data set instead")
    parser.add_argument("--seed", type=int, default=2007, help="generator seed (default 2007)")
    parser.add_argument("--size", type=int, default=512, help="image side, pixels (default 512)")
    parser.add_argument("--train-good", type=int, default=300, help="defect-free Train images per class")
    parser.add_argument("--train-defective", type=int, default=120, help="defective Train images per class")
    parser.add_argument("--test-good", type=int, default=200, help="defect-free Test images per class")
    parser.add_argument("--test-defective", type=int, default=50, help="defective Test images per class")
    parser.add_argument("--classes", type=int, default=6, help="number of texture classes (1-6)")
    parser.add_argument("--png-compression", type=int, default=1, help="PNG zlib level 0-9 (default 1)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into a folder that already holds files (its images of the same names are overwritten)",
    )
    parser.add_argument(
        "--flat",
        metavar="GOOD,DEFECTIVE",
        help="write a flat replay set (NNNN.PNG + Label/) of this many images of mixed classes instead",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from collections import Counter

    from edge_inspect.datasets.loader import load_dataset
    from edge_inspect.datasets.synth import SynthSpec, generate_dagm, generate_flat
    from edge_inspect.datasets.textures import TEXTURES

    out = Path(args.out)
    if args.info:
        samples = load_dataset(out)
        counts = Counter((s.texture_class, s.split, "defective" if s.defective else "good") for s in samples)
        print(json.dumps({"/".join(k): v for k, v in sorted(counts.items())}, indent=1))
        return 0
    held = _held(out)
    if held and not args.force:
        count, example = held
        print(
            f"edge-inspect dataset: {out} already holds {count} file(s), e.g. {example}: nothing was "
            "written. A data set is generated into a new or empty folder, so no image of yours is "
            "overwritten; pass --force to write into this one anyway.",
            file=sys.stderr,
        )
        return 2
    if not 1 <= args.classes <= len(TEXTURES):
        print(f"edge-inspect dataset: --classes must be within 1..{len(TEXTURES)}, got {args.classes}")
        return 2
    spec = SynthSpec(
        size=args.size,
        textures=tuple(TEXTURES)[: args.classes],
        train_good=args.train_good,
        train_defective=args.train_defective,
        test_good=args.test_good,
        test_defective=args.test_defective,
        seed=args.seed,
        png_compression=args.png_compression,
    )
    if args.flat:
        good, _, defective = args.flat.partition(",")
        generate_flat(out, spec, int(good), int(defective or 0))
    else:
        generate_dagm(out, spec)
    print(f"wrote {len(load_dataset(out))} images to {out}")
    return 0


def _held(folder: Path) -> tuple[int, Path] | None:
    """(files under ``folder``, the first of them) when it holds any; None for a new or empty folder."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return 1, folder
    files = [path for path in folder.rglob("*") if not path.is_dir()]
    return (len(files), min(files)) if files else None
