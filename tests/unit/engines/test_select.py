"""``engine.type: auto``: probed capabilities -> an engine config with a reason (pure); its config model."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from edge_inspect.config.engines import AutoEngineConfig, OpenVINOEngineConfig, TensorRTEngineConfig
from edge_inspect.engines.auto import resolve_auto
from edge_inspect.engines.probe import Capabilities, CudaDevice, OpenVINOCapability, TensorRTCapability
from edge_inspect.engines.select import choose_engine, pick_openvino_device
from edge_inspect.errors import EngineError

T4 = CudaDevice(index=0, name="Tesla T4", compute_capability=(7, 5), total_memory_mib=15095)
ORIN = CudaDevice(index=0, name="Orin", compute_capability=(8, 7), total_memory_mib=30536)
NO_TENSORRT = TensorRTCapability(
    version=None, problem="ModuleNotFoundError: No module named 'tensorrt'", cuda_problem="no pycuda"
)


def caps(
    tensorrt: TensorRTCapability = NO_TENSORRT,
    devices: tuple[str, ...] = ("CPU",),
    openvino: str | None = "2026.4",
) -> Capabilities:
    return Capabilities(
        tensorrt=tensorrt,
        openvino=OpenVINOCapability(
            version=openvino, devices=devices, problem=None if openvino else "broken"
        ),
    )


def auto(**fields: Any) -> AutoEngineConfig:
    return AutoEngineConfig.model_validate({"type": "auto", **fields})


def test_given_tensorrt_and_a_cuda_device_when_chosen_then_tensorrt_with_its_settings() -> None:
    choice = choose_engine(
        caps(TensorRTCapability("10.3.0", cuda_devices=(ORIN,)), devices=("CPU", "GPU")),
        auto(tensorrt={"precision": "int8", "num_contexts": 3}),
    )
    assert isinstance(choice.engine_config, TensorRTEngineConfig)
    assert choice.engine_config.precision == "int8"
    assert choice.engine_config.num_contexts == 3
    assert choice.reason == (
        "TensorRT 10.3.0 imports and CUDA device 0 (Orin, compute 8.7) is present -> tensorrt int8"
    )
    assert choice.passed_over == ()


def test_given_no_tensorrt_when_chosen_then_openvino_on_the_best_device_it_reports() -> None:
    choice = choose_engine(caps(devices=("CPU", "GPU", "NPU")), auto(openvino={"precision": "f16"}))
    assert isinstance(choice.engine_config, OpenVINOEngineConfig)
    assert choice.engine_config.device == "GPU"
    assert choice.engine_config.precision == "f16"
    assert "GPU is the first of GPU, NPU, CPU -> openvino on GPU" in choice.reason
    assert choice.passed_over == (
        "tensorrt: tensorrt does not import (ModuleNotFoundError: No module named 'tensorrt')",
    )


@pytest.mark.parametrize(
    ("devices", "expected"),
    [
        (("CPU",), "CPU"),
        (("CPU", "NPU"), "NPU"),
        (("CPU", "GPU.0", "GPU.1", "NPU"), "GPU.0"),
        (("GPU", "CPU"), "GPU"),
    ],
)
def test_given_openvino_devices_when_chosen_then_gpu_before_npu_before_cpu(
    devices: tuple[str, ...], expected: str
) -> None:
    config = choose_engine(caps(devices=devices), auto()).engine_config
    assert isinstance(config, OpenVINOEngineConfig)
    assert config.device == expected


def test_given_tensorrt_without_a_cuda_device_when_chosen_then_openvino_and_the_reason_says_so() -> None:
    no_device = TensorRTCapability("10.3.0", cuda_problem="LogicError: cuInit failed: no CUDA-capable device")
    choice = choose_engine(caps(no_device), auto())
    assert choice.engine_config.type == "openvino"
    assert "imports but there is no CUDA device (LogicError: cuInit failed" in choice.passed_over[0]


def test_given_a_tensorrt_device_index_beyond_the_gpus_when_chosen_then_it_is_passed_over() -> None:
    choice = choose_engine(
        caps(TensorRTCapability("10.3.0", cuda_devices=(T4,))), auto(tensorrt={"device": 1})
    )
    assert choice.engine_config.type == "openvino"
    assert "engine.tensorrt.device is 1 but the CUDA driver reports 1 device(s)" in choice.passed_over[0]


def test_given_openvino_first_in_backends_when_both_run_then_openvino_is_chosen() -> None:
    both = caps(TensorRTCapability("10.3.0", cuda_devices=(T4,)))
    assert choose_engine(both, auto(backends=["openvino", "tensorrt"])).engine_config.type == "openvino"
    assert choose_engine(both, auto()).engine_config.type == "tensorrt"


def test_given_only_tensorrt_allowed_and_no_gpu_when_chosen_then_an_error_lists_every_reason() -> None:
    with pytest.raises(
        EngineError, match=r"no backend can run on this machine: tensorrt: tensorrt does not import"
    ):
        choose_engine(caps(), auto(backends=["tensorrt"]))


def test_given_no_preferred_openvino_device_when_chosen_then_an_error_names_what_is_there() -> None:
    with pytest.raises(EngineError, match=r"OpenVINO 2026\.4 reports CPU, none of GPU, NPU"):
        choose_engine(caps(), auto(openvino_devices=["GPU", "NPU"]))


def test_given_preferences_when_picking_a_device_then_exact_names_and_numbered_ones_match() -> None:
    assert pick_openvino_device(["CPU", "GPU.1"], ["GPU.1", "CPU"]) == "GPU.1"
    assert pick_openvino_device(["CPU", "GPU.0"], ["GPU"]) == "GPU.0"
    assert pick_openvino_device(["CPU"], ["NPU"]) is None
    assert pick_openvino_device(["GPUX"], ["GPU"]) is None


# ---------------------------------------------------------------------------------------- AutoEngineConfig


def test_given_sections_without_type_when_validated_then_their_type_is_implied() -> None:
    config = auto(openvino={"num_requests": 4}, tensorrt={"precision": "fp32"})
    assert config.openvino.type == "openvino"
    assert config.openvino.num_requests == 4
    assert config.tensorrt.type == "tensorrt"


def test_given_an_openvino_device_in_auto_when_validated_then_it_is_refused_with_what_to_do() -> None:
    with pytest.raises(ValidationError, match="auto chooses the device from openvino_devices"):
        auto(openvino={"device": "GPU"})


def test_given_an_auto_config_when_dumped_then_it_loads_back_without_a_device_pinned() -> None:
    config = auto(openvino={"precision": "f16"}, tensorrt={"precision": "int8"})
    dumped = config.model_dump(mode="json")
    assert "device" not in dumped["openvino"]
    assert dumped["tensorrt"]["device"] == 0
    assert AutoEngineConfig.model_validate(dumped) == config


def test_given_a_backend_listed_twice_when_validated_then_it_is_refused() -> None:
    with pytest.raises(ValidationError, match="lists a backend twice"):
        auto(backends=["openvino", "openvino"])


def test_given_a_typo_in_a_section_when_validated_then_it_is_refused() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        auto(tensorrt={"precison": "fp16"})


def test_given_explicit_capabilities_when_resolved_then_the_choice_and_reason_are_logged() -> None:
    with capture_logs() as logs:
        choice = resolve_auto(auto(), caps(devices=("CPU", "NPU")))
    assert choice.engine_config.type == "openvino"
    event = next(e for e in logs if e["event"] == "engine chosen")
    assert event["engine"] == "openvino"
    assert event["reason"] == choice.reason
    assert event["passed_over"] == list(choice.passed_over)


def test_given_this_machine_without_tensorrt_when_auto_resolves_then_it_runs_openvino() -> None:
    if importlib.util.find_spec("tensorrt") is not None:
        pytest.skip("tensorrt is installed here: auto may rightly choose it")
    resolved = auto().resolve()
    assert isinstance(resolved, OpenVINOEngineConfig)
    assert resolved.device in ("CPU", "GPU", "NPU") or resolved.device.startswith("GPU.")
