"""Pure OpenVINO settings: compile properties from config, the cache folder, the device check."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.engines.openvino.settings import check_device, compile_properties, model_cache_dir
from edge_inspect.errors import EngineError


def config(**fields: object) -> OpenVINOEngineConfig:
    return OpenVINOEngineConfig.model_validate({"type": "openvino", **fields})


# ------------------------------------------------------------------------------------------ properties


def test_default_properties_ask_for_f32_and_throughput_and_nothing_else() -> None:
    assert compile_properties(config(), None) == {
        "PERFORMANCE_HINT": "THROUGHPUT",
        "INFERENCE_PRECISION_HINT": "f32",
    }


def test_precision_default_leaves_the_choice_to_openvino() -> None:
    assert "INFERENCE_PRECISION_HINT" not in compile_properties(config(precision="default"), None)


def test_streams_threads_and_cache_are_passed_when_set() -> None:
    props = compile_properties(
        config(precision="bf16", performance_hint="LATENCY", num_streams=2, num_threads=4),
        Path("/var/cache/edge-inspect/openvino"),
    )
    assert props == {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "bf16",
        "NUM_STREAMS": 2,
        "INFERENCE_NUM_THREADS": 4,
        "CACHE_DIR": "/var/cache/edge-inspect/openvino",
    }


# ------------------------------------------------------------------------------------------ cache folder


def test_the_engine_cache_dir_wins_over_the_shared_one() -> None:
    chosen = model_cache_dir(config(cache_dir="/srv/ov-cache"), Path("/var/cache/edge-inspect"))
    assert chosen == Path("/srv/ov-cache")


def test_the_shared_cache_gets_an_openvino_subfolder() -> None:
    assert model_cache_dir(config(), Path("/var/cache/edge-inspect")) == Path(
        "/var/cache/edge-inspect/openvino"
    )


def test_no_cache_folder_means_no_cache() -> None:
    assert model_cache_dir(config(), None) is None


def test_a_relative_shared_cache_folder_is_refused() -> None:
    with pytest.raises(EngineError, match=r"'cache/openvino' must be an absolute path"):
        model_cache_dir(config(), Path("cache"))


def test_a_relative_engine_cache_folder_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="must be an absolute path"):
        config(cache_dir="ov-cache")


# ------------------------------------------------------------------------------------------------ devices


@pytest.mark.parametrize(
    ("device", "available"),
    [
        ("CPU", ["CPU"]),
        ("GPU", ["CPU", "GPU.0", "GPU.1"]),
        ("GPU.1", ["CPU", "GPU.0", "GPU.1"]),
        ("NPU", ["CPU", "NPU"]),
        ("AUTO", ["CPU"]),
        ("AUTO:GPU,CPU", ["CPU", "GPU"]),
        ("AUTO:-GPU", ["CPU", "GPU"]),
    ],
)
def test_devices_openvino_reports_are_accepted(device: str, available: list[str]) -> None:
    check_device(device, available)


@pytest.mark.parametrize(
    ("device", "available"),
    [
        ("GPU", ["CPU"]),
        ("NPU", ["CPU", "GPU"]),
        ("TPU", ["CPU"]),
        ("AUTO:GPU,CPU", ["CPU"]),
        ("AUTO", []),
        ("CPU:1", ["CPU"]),
    ],
)
def test_an_unavailable_device_is_an_error_listing_the_available_ones(
    device: str, available: list[str]
) -> None:
    with pytest.raises(EngineError) as caught:
        check_device(device, available)
    assert f"OpenVINO device {device!r} is not available" in str(caught.value)
    assert f"available devices: {available}" in str(caught.value)
