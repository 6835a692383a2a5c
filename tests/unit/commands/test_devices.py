"""``edge-inspect devices``: the probe, the engine auto would choose here, and why."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from edge_inspect.cli import main
from tests.unit.engines.trt_fakes import install

no_tensorrt_here = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed on this machine"
)


def station(tmp_path: Path, engine: str) -> Path:
    path = tmp_path / "station.yaml"
    path.write_text(f"source: {{type: replay, path: images}}\nmodel: {{path: m}}\nengine: {engine}\n")
    return path


@no_tensorrt_here
def test_given_this_cpu_machine_when_asked_then_it_shows_the_probe_and_chooses_openvino(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["devices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "TensorRT   not usable: ModuleNotFoundError: No module named 'tensorrt'"
    assert lines[1].startswith("CUDA       no device: ")
    assert lines[2].startswith("OpenVINO   ")
    assert "CPU (" in lines[2]
    assert "Engine     openvino on CPU (precision f32)" in lines
    assert any(
        line.startswith("Why        OpenVINO ") and line.endswith("-> openvino on CPU") for line in lines
    )
    assert (
        "Passed     tensorrt: tensorrt does not import (ModuleNotFoundError: No module named 'tensorrt')"
        in lines
    )


@no_tensorrt_here
def test_given_json_when_asked_then_one_object_with_capabilities_engine_and_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["devices", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["capabilities"]["tensorrt"]["version"] is None
    assert "CPU" in report["capabilities"]["openvino"]["devices"]
    assert report["engine"]["type"] == "openvino"
    assert report["engine"]["device"] == "CPU"
    assert report["reason"].endswith("-> openvino on CPU")


def test_given_a_fake_gpu_box_when_asked_then_tensorrt_is_chosen_with_the_device_named(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """FAKE tensorrt / pycuda modules: the probe's view of a T4 box."""
    install(monkeypatch)
    assert main(["devices"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "TensorRT   10.3.0"
    assert lines[1] == "CUDA       device 0: Fake T4, compute 7.5, 16384 MiB"
    assert "Engine     tensorrt fp16 on CUDA device 0" in lines
    why = "TensorRT 10.3.0 imports and CUDA device 0 (Fake T4, compute 7.5) is present -> tensorrt fp16"
    assert f"Why        {why}" in lines


def test_given_a_station_with_auto_preferences_when_asked_then_they_are_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = station(tmp_path, "{type: auto, backends: [openvino], openvino: {precision: f16}}")
    assert main(["devices", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Engine     openvino on CPU (precision f16)" in out
    assert "Passed" not in out


def test_given_a_station_with_a_fixed_engine_when_asked_then_it_is_shown_as_configured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = station(tmp_path, "{type: openvino, device: GPU}")
    assert main(["devices", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "Engine     openvino on GPU (precision f32)" in out
    assert "Why        the config sets engine.type: openvino (set engine.type: auto to choose here)" in out


@no_tensorrt_here
def test_given_only_tensorrt_allowed_on_a_cpu_machine_when_asked_then_exit_1_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = station(tmp_path, "{type: auto, backends: [tensorrt]}")
    assert main(["devices", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "Engine     none" in out
    assert (
        "Why        engine.type auto: no backend can run on this machine: tensorrt: tensorrt does not import"
        in out
    )
