"""``install-station``: the release's files replaced, the integrator's kept, the folders it names used."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_inspect.errors import ModelPackageError
from edge_inspect.install import Layout, install_station
from edge_inspect.model.package import load_package


def _layout(tmp_path: Path) -> Layout:
    return Layout(
        prefix=tmp_path / "opt",
        config_dir=tmp_path / "etc",
        unit_dir=tmp_path / "units",
        executable=tmp_path / "venv" / "bin" / "edge-inspect",
    )


def test_given_an_empty_root_when_installed_then_files_name_the_folders_given(tmp_path: Path) -> None:
    layout = _layout(tmp_path)
    install_station(layout)
    config = (layout.config_dir / "config.yaml").read_text(encoding="utf-8")
    assert f"path: {layout.prefix}/models/dagm-unet" in config
    assert f"ca_file: {layout.config_dir}/tls/ca.pem" in config
    assert "/opt/edge-inspect" not in config
    assert "/etc/edge-inspect" not in config
    unit = (layout.unit_dir / "edge-inspect.service").read_text(encoding="utf-8")
    assert f"ExecStart={layout.executable} run --config {layout.config_dir}/config.yaml" in unit
    assert f"LoadCredential=mqtt:{layout.config_dir}/credentials" in unit
    assert (layout.config_dir / "credentials").stat().st_mode & 0o777 == 0o700
    assert load_package(layout.prefix / "models" / "dagm-unet").manifest.name == "dagm-unet"
    assert (layout.prefix / "share" / "systemd" / "dropins" / "usb3-camera.conf").exists()


def test_given_an_installed_station_when_installed_again_then_the_config_stays_and_the_model_is_renewed(
    tmp_path: Path,
) -> None:
    layout = _layout(tmp_path)
    install_station(layout)
    config = layout.config_dir / "config.yaml"
    config.write_text("station: mine\n", encoding="utf-8")
    weights = layout.prefix / "models" / "dagm-unet" / "int8" / "model.bin"
    weights.write_bytes(b"tampered")
    with pytest.raises(ModelPackageError):
        load_package(weights.parents[1])
    done = install_station(layout)
    assert config.read_text(encoding="utf-8") == "station: mine\n"
    assert any(line.startswith("kept") for line in done)
    load_package(weights.parents[1])  # the release's copy again, hashes verified
    assert not list((layout.prefix / "models").glob(".*"))  # no staging folder left behind


def test_given_folders_that_contain_the_shipped_ones_when_installed_then_each_is_replaced_once(
    tmp_path: Path,
) -> None:
    root = tmp_path / "root"
    layout = Layout(
        prefix=root / "opt" / "edge-inspect",
        config_dir=root / "etc" / "edge-inspect",
        unit_dir=root / "etc" / "systemd" / "system",
        executable=root / "opt" / "edge-inspect" / "venv" / "bin" / "edge-inspect",
    )
    install_station(layout)
    unit = (layout.unit_dir / "edge-inspect.service").read_text(encoding="utf-8")
    assert f"ExecStart={layout.executable} run --config {layout.config_dir}/config.yaml\n" in unit
