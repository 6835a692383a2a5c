"""``edge-inspect export --checkpoint RUN/best.pt --dataset DIR --out models/NAME``: ONNX, OpenVINO IR FP32
and INT8 (NNCF, calibrated on training images), calibration images, manifest and model card.

Needs the ``train`` extra."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint to a model package (needs the 'train' extra)",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, help="training checkpoint (best.pt)")
    parser.add_argument("--dataset", required=True, help="the training data set (INT8 calibration images)")
    parser.add_argument("--out", required=True, help="package folder to write (replaced)")
    parser.add_argument("--name", default=None, help="model name (default: the --out folder's name)")
    parser.add_argument("--version", default="1.0.0", help="model version")
    parser.add_argument("--size", type=int, default=512, help="model input side, pixels")
    parser.add_argument("--calibration", type=int, default=300, help="INT8 calibration images")
    parser.add_argument("--threshold", type=float, default=0.5, help="initial pixel threshold")
    parser.add_argument("--min-area", type=int, default=64, help="minimum defect area, pixels")
    parser.add_argument("--wall-time", default="n/a", help="training wall time, for the model card")
    parser.add_argument(
        "--reproduce",
        default="tools/build_reference_model.sh",
        help="the command that rebuilds this package, for the model card",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from edge_inspect.training.deps import require

    require("torch", "Export")
    require("nncf", "INT8 export")
    from edge_inspect.model.package import load_package
    from edge_inspect.training.package import PackageSpec, build_package

    spec = PackageSpec(
        name=args.name or Path(args.out).resolve().name,
        version=args.version,
        size=args.size,
        calibration_images=args.calibration,
        threshold=args.threshold,
        min_area_px=args.min_area,
        reproduce=args.reproduce,
        wall_time=args.wall_time,
    )
    build_package(Path(args.checkpoint), Path(args.dataset), Path(args.out), spec)
    package = load_package(args.out)
    print(f"wrote {args.out}: {sorted(package.manifest.files)}")
    return 0
