"""Run ``edge-inspect`` as a real sub-process, as systemd or an integrator would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_inspect.datasets.labels import dagm_label_path, read_mask

ROOT = Path(__file__).resolve().parents[2]


def command(*args: str) -> list[str]:
    """The installed console script if present, else the module (same code)."""
    exe = shutil.which("edge-inspect")
    return [exe, *args] if exe else [sys.executable, "-m", "edge_inspect.cli", *args]


def run_cli(
    *args: str, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env, check=False
    )


def start_daemon(
    config: Path, overrides: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    args = ["run", "--config", str(config)]
    for item in overrides:
        args += ["--set", item]
    return subprocess.Popen(
        command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def expected_verdict(image: Path) -> str:
    """Ground truth of a DAGM-layout image: NG when its label has any defect pixel."""
    label = dagm_label_path(image)
    return "NG" if label is not None and bool(np.any(read_mask(label))) else "PASS"
