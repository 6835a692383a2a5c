"""The capability probe: what is missing becomes a reason, never an exception.

On this machine TensorRT and pycuda are absent and OpenVINO is real. The CUDA cases use the FAKE pycuda
module from ``trt_fakes`` (no GPU here); on a GPU box, ``tests/gpu`` probes the real one.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from edge_inspect.engines.probe import (
    probe_capabilities,
    probe_cuda_devices,
    probe_jetson,
    probe_openvino,
    probe_tensorrt_version,
)
from tests.unit.engines.trt_fakes import FakeCuda, install

needs_no_tensorrt = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed on this machine"
)


@needs_no_tensorrt
def test_given_no_tensorrt_when_probed_then_it_is_absent_with_the_import_error() -> None:
    version, problem = probe_tensorrt_version()
    assert version is None
    assert problem == "ModuleNotFoundError: No module named 'tensorrt'"


@needs_no_tensorrt
def test_given_this_machine_when_probed_then_tensorrt_is_unusable_and_openvino_reports_cpu() -> None:
    caps = probe_capabilities()
    assert not caps.tensorrt.usable
    assert caps.tensorrt.problem is not None
    assert caps.openvino.version is not None
    assert "CPU" in caps.openvino.devices
    assert caps.openvino.device_names["CPU"]


def test_given_openvino_when_probed_then_version_and_devices_come_from_its_core() -> None:
    import openvino as ov

    probed = probe_openvino()
    assert probed.version == ov.__version__
    assert probed.devices == tuple(ov.Core().available_devices)
    assert probed.problem is None


def test_given_a_broken_openvino_when_probed_then_the_reason_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)
    probed = probe_openvino()
    assert probed.version is None
    assert probed.devices == ()
    assert probed.problem is not None
    assert "openvino" in probed.problem


def test_given_a_fake_cuda_driver_with_two_gpus_when_probed_then_each_is_listed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FAKE pycuda: names and compute capabilities come from the driver API calls the probe makes."""
    install(monkeypatch, FakeCuda(devices=(("Tesla T4", (7, 5)), ("NVIDIA L4", (8, 9)))))
    devices, problem = probe_cuda_devices()
    assert problem is None
    assert [(d.index, d.name, d.compute_capability) for d in devices] == [
        (0, "Tesla T4", (7, 5)),
        (1, "NVIDIA L4", (8, 9)),
    ]
    assert devices[0].total_memory_mib == 16 * 1024


def test_given_a_fake_tensorrt_and_gpu_when_probed_then_tensorrt_is_usable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FAKE tensorrt and pycuda modules."""
    install(monkeypatch)
    caps = probe_capabilities()
    assert caps.tensorrt.version == "10.3.0"
    assert caps.tensorrt.usable


def test_given_a_driver_that_fails_to_initialise_when_probed_then_the_error_is_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """FAKE pycuda whose ``cuInit`` fails, as on a box whose driver does not match the kernel module."""
    cuda = FakeCuda()

    def failing_init() -> None:
        raise RuntimeError("cuInit failed: CUDA driver version is insufficient for CUDA runtime version")

    cuda.init = failing_init  # type: ignore[method-assign]
    install(monkeypatch, cuda)
    devices, problem = probe_cuda_devices()
    assert devices == ()
    assert (
        problem == "RuntimeError: cuInit failed: CUDA driver version is insufficient for CUDA runtime version"
    )


def test_given_a_driver_without_devices_when_probed_then_the_reason_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    install(monkeypatch, FakeCuda(devices=()))
    assert probe_cuda_devices() == ((), "the CUDA driver reports no device")


def test_given_no_pycuda_when_probed_then_the_import_error_is_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "pycuda", ModuleType("pycuda"))
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    devices, problem = probe_cuda_devices()
    assert devices == ()
    assert problem is not None
    assert "pycuda.driver" in problem


def test_given_a_jetson_release_file_when_probed_then_its_first_line_is_reported(tmp_path: Path) -> None:
    release = tmp_path / "nv_tegra_release"
    release.write_text(
        "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64\nextra\n"
    )
    assert (
        probe_jetson(release) == "R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64"
    )
    assert probe_jetson(tmp_path / "missing") is None
