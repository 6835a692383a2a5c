"""The shipped device profiles (config/devices/*.yaml) load through a station config that includes them."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from edge_inspect.config import load_config
from edge_inspect.config.app import AppConfig
from edge_inspect.config.engines import AutoEngineConfig, OpenVINOEngineConfig, TensorRTEngineConfig
from edge_inspect.model.package import read_manifest

ROOT = Path(__file__).resolve().parents[3]
PROFILES = ROOT / "config" / "devices"
SHIPPED = ROOT / "models" / "dagm-unet"


def station(tmp_path: Path, profile: Path, extra: str = "") -> AppConfig:
    """A minimal station file that includes ``profile`` by a path relative to itself, as users write it."""
    folder = tmp_path / "stations"
    folder.mkdir(exist_ok=True)
    relative = os.path.relpath(profile, folder)
    text = f"""
include: [{relative}]
station: line-3
source: {{type: replay, path: images}}
model: {{path: models/dagm-unet}}
{extra}
"""
    (folder / "station.yaml").write_text(text, encoding="utf-8")
    return load_config(folder / "station.yaml", environ={})


def test_given_the_profiles_folder_then_it_holds_the_promised_boxes() -> None:
    names = sorted(p.name for p in PROFILES.glob("*.yaml"))
    assert names == ["auto.yaml", "jetson-orin-int8.yaml", "jetson-orin.yaml", "nuc.yaml", "t4.yaml"]


@pytest.mark.parametrize("profile", sorted(PROFILES.glob("*.yaml")), ids=lambda p: p.stem)
def test_given_any_profile_when_included_by_a_station_then_the_config_is_valid(
    tmp_path: Path, profile: Path
) -> None:
    config = station(tmp_path, profile)
    assert config.station == "line-3"
    assert config.station_cameras[0].source.type == "replay"


def test_given_the_nuc_profile_then_openvino_auto_on_gpu_or_cpu_with_the_int8_model(tmp_path: Path) -> None:
    config = station(tmp_path, PROFILES / "nuc.yaml")
    assert config.model.variant == "int8"
    assert isinstance(config.engine, AutoEngineConfig)
    assert config.engine.backends == ("openvino",)
    assert config.engine.openvino_devices == ("GPU", "CPU")
    assert config.runtime.scheduling == "batch"  # OpenVINO may fall back to the CPU the daemon shares


@pytest.mark.parametrize(
    ("profile", "precision", "workspace"),
    [("jetson-orin.yaml", "fp16", 512), ("jetson-orin-int8.yaml", "int8", 512), ("t4.yaml", "fp16", 2048)],
)
def test_given_a_gpu_profile_then_tensorrt_at_its_precision_from_the_onnx(
    tmp_path: Path, profile: str, precision: str, workspace: int
) -> None:
    config = station(tmp_path, PROFILES / profile)
    assert isinstance(config.engine, TensorRTEngineConfig)
    assert config.engine.precision == precision
    assert config.engine.workspace_mib == workspace
    assert config.model.variant == "onnx"


def test_given_a_station_that_sets_a_field_when_it_includes_a_profile_then_the_station_wins(
    tmp_path: Path,
) -> None:
    config = station(tmp_path, PROFILES / "t4.yaml", extra="engine: {precision: int8, calibration_batch: 4}")
    assert isinstance(config.engine, TensorRTEngineConfig)
    assert (config.engine.precision, config.engine.calibration_batch, config.engine.max_batch) == (
        "int8",
        4,
        16,
    )


def test_given_the_auto_profile_on_this_machine_when_resolved_then_openvino_without_tensorrt(
    tmp_path: Path,
) -> None:
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here: auto may rightly choose it")
    config = station(tmp_path, PROFILES / "auto.yaml")
    assert isinstance(config.engine, AutoEngineConfig)
    resolved = config.engine.resolve()
    assert isinstance(resolved, OpenVINOEngineConfig)
    assert resolved.precision == "f32"


@pytest.mark.parametrize("profile", sorted(PROFILES.glob("*.yaml")), ids=lambda p: p.stem)
def test_given_the_shipped_package_when_a_profile_names_a_variant_then_the_package_has_it(
    tmp_path: Path, profile: Path
) -> None:
    if not (SHIPPED / "manifest.yaml").is_file():
        pytest.skip("models/dagm-unet is not built yet (training writes it)")
    variant = station(tmp_path, profile).model.variant
    artifacts = read_manifest(SHIPPED).artifacts
    assert variant is None or variant in artifacts, (
        f"{profile.name}: variant {variant!r} not in {sorted(artifacts)}"
    )
