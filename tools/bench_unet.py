"""Export an untrained U-Net of a given width/depth and benchmark FP32 vs INT8 with benchmark_app.

Speed does not need trained weights: this is how the reference architecture was chosen.
Usage: python tools/bench_unet.py --base 16 --depth 3 --out runs/bench [--seconds 10]
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

import numpy as np
import torch

from edge_inspect.training.export import export_ir_fp32, export_onnx, quantize_int8
from edge_inspect.training.unet import UNet, UNetConfig, count_macs


def fps(xml: Path, seconds: int) -> float:
    out = subprocess.run(
        [
            "benchmark_app",
            "-m",
            str(xml),
            "-d",
            "CPU",
            "-hint",
            "throughput",
            "-infer_precision",
            "f32",
            "-t",
            str(seconds),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"Throughput:\s+([\d.]+) FPS", out)
    if match is None:
        raise RuntimeError(out[-2000:])
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=int, default=16)
    parser.add_argument("--depth", type=int, default=3)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    config = UNetConfig(base=args.base, depth=args.depth)
    torch.manual_seed(0)
    model = UNet(config).eval()
    onnx = export_onnx(model, args.out / "model.onnx", args.size)
    fp32 = export_ir_fp32(onnx, args.out / "fp32" / "model.xml")
    rng = np.random.default_rng(0)
    calib = [rng.standard_normal((1, 1, args.size, args.size), dtype=np.float32) for _ in range(16)]
    int8 = quantize_int8(fp32, args.out / "int8" / "model.xml", calib)
    gflops = 2 * count_macs(config, args.size) / 1e9
    f32_fps, i8_fps = fps(fp32, args.seconds), fps(int8, args.seconds)
    print(
        f"base={args.base} depth={args.depth} GFLOPs={gflops:.2f} fp32={f32_fps:.1f} fps "
        f"int8={i8_fps:.1f} fps ratio={i8_fps / f32_fps:.2f}"
    )


if __name__ == "__main__":
    main()
