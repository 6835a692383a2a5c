"""Tests that need a real NVIDIA GPU with TensorRT 10 and pycuda: ``pytest -m gpu -s`` on such a box.

Every test here is marked ``gpu`` and is skipped, with the reason, where TensorRT or pycuda does not import
or no CUDA device is present (the probe's own words), so ``pytest -m "not gpu"`` and CPU-only CI never
import them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_inspect.engines.probe import probe_tensorrt


def gpu_problem() -> str | None:
    """Why the real TensorRT path cannot run here, or None when it can."""
    caps = probe_tensorrt()
    if caps.version is None:
        return f"TensorRT does not import ({caps.problem})"
    if not caps.cuda_devices:
        return f"no CUDA device ({caps.cuda_problem})"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    mine = [item for item in items if here in Path(str(item.fspath)).parents]
    if not mine:
        return
    problem = gpu_problem()
    if problem is None:
        return
    for item in mine:  # the modules carry ``pytestmark = pytest.mark.gpu`` themselves, for ``-m``
        item.add_marker(pytest.mark.skip(reason=f"needs a CUDA GPU with TensorRT: {problem}"))
