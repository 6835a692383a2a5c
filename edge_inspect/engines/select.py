"""``engine.type: auto``: probed capabilities + preferences -> the engine config to run, and why.

Pure: no probing, no imports of backends, no logging. The probe (``probe.py``) and the wiring that logs
the choice (``auto.py``) live elsewhere, so every branch of the choice is tested on any machine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from edge_inspect.config.engines import AutoEngineConfig, OpenVINOEngineConfig, TensorRTEngineConfig
from edge_inspect.engines.probe import Capabilities, CudaDevice, TensorRTCapability
from edge_inspect.errors import EngineError


@dataclass(frozen=True, slots=True)
class Choice:
    """The engine to run, the reason in one line, and why each backend tried before it was passed over."""

    engine_config: OpenVINOEngineConfig | TensorRTEngineConfig
    reason: str
    passed_over: tuple[str, ...] = ()


def pick_openvino_device(available: Sequence[str], preferences: Sequence[str]) -> str | None:
    """The first preference OpenVINO reports: an exact name, or ``GPU`` matching ``GPU.0``; else None."""
    for wanted in preferences:
        if wanted in available:
            return wanted
        numbered = [name for name in available if name.startswith(f"{wanted}.")]
        if numbered:
            return numbered[0]
    return None


def tensorrt_device(caps: TensorRTCapability, config: TensorRTEngineConfig) -> tuple[CudaDevice | None, str]:
    """The CUDA device TensorRT would use, or None with the reason it cannot be used."""
    if caps.version is None:
        return None, f"tensorrt does not import ({caps.problem})"
    if not caps.cuda_devices:
        return None, f"TensorRT {caps.version} imports but there is no CUDA device ({caps.cuda_problem})"
    for device in caps.cuda_devices:
        if device.index == config.device:
            return device, ""
    return None, (
        f"engine.tensorrt.device is {config.device} but the CUDA driver reports "
        f"{len(caps.cuda_devices)} device(s)"
    )


def _tensorrt_choice(caps: Capabilities, auto: AutoEngineConfig) -> Choice | str:
    device, why_not = tensorrt_device(caps.tensorrt, auto.tensorrt)
    if device is None:
        return why_not
    major, minor = device.compute_capability
    reason = (
        f"TensorRT {caps.tensorrt.version} imports and CUDA device {device.index} ({device.name}, "
        f"compute {major}.{minor}) is present -> tensorrt {auto.tensorrt.precision}"
    )
    return Choice(engine_config=auto.tensorrt, reason=reason)


def _openvino_choice(caps: Capabilities, auto: AutoEngineConfig) -> Choice | str:
    openvino = caps.openvino
    if openvino.version is None:
        return f"openvino does not import ({openvino.problem})"
    device = pick_openvino_device(openvino.devices, auto.openvino_devices)
    reported = ", ".join(openvino.devices) or "none"
    if device is None:
        return f"OpenVINO {openvino.version} reports {reported}, none of {', '.join(auto.openvino_devices)}"
    reason = (
        f"OpenVINO {openvino.version} reports {reported}; {device} is the first of "
        f"{', '.join(auto.openvino_devices)} -> openvino on {device}"
    )
    return Choice(engine_config=auto.openvino.model_copy(update={"device": device}), reason=reason)


def choose_engine(caps: Capabilities, auto: AutoEngineConfig) -> Choice:
    """The first of ``auto.backends`` this machine can run. Raises EngineError when none can run."""
    passed_over: list[str] = []
    for backend in auto.backends:
        outcome = _tensorrt_choice(caps, auto) if backend == "tensorrt" else _openvino_choice(caps, auto)
        if isinstance(outcome, Choice):
            return Choice(outcome.engine_config, outcome.reason, tuple(passed_over))
        passed_over.append(f"{backend}: {outcome}")
    msg = "engine.type auto: no backend can run on this machine: " + "; ".join(passed_over)
    raise EngineError(msg)
