"""Pure OpenVINO settings: compile properties from config, device check, cache folder.

Kept apart from the engine so the rules are tested without compiling anything. Property names are
OpenVINO's own strings (``openvino.properties`` spells the same names).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.errors import EngineError

VIRTUAL_DEVICES = ("AUTO", "MULTI", "HETERO", "BATCH")
"""Devices that schedule onto others, optionally listed after a colon (``AUTO:GPU,CPU``)."""

CACHE_SUBDIR = "openvino"
"""Under the daemon's shared cache folder, OpenVINO's compiled blobs go here (TensorRT has its own)."""


def compile_properties(config: OpenVINOEngineConfig, cache_dir: Path | None) -> dict[str, str | int]:
    """The properties passed to ``compile_model``: only what config asks for, all explicit."""
    props: dict[str, str | int] = {"PERFORMANCE_HINT": config.performance_hint}
    if config.precision != "default":
        props["INFERENCE_PRECISION_HINT"] = config.precision
    if config.num_streams is not None:
        props["NUM_STREAMS"] = config.num_streams
    if config.num_threads is not None:
        props["INFERENCE_NUM_THREADS"] = config.num_threads
    if cache_dir is not None:
        props["CACHE_DIR"] = str(cache_dir)
    return props


def model_cache_dir(config: OpenVINOEngineConfig, shared_cache: Path | None) -> Path | None:
    """``config.cache_dir``, else ``<shared_cache>/openvino``, else None (no cache). Never relative.

    A relative folder would land in the working directory, which is ``/`` under systemd.
    """
    if config.cache_dir is not None:
        chosen = config.cache_dir
    elif shared_cache is not None:
        chosen = shared_cache / CACHE_SUBDIR
    else:
        return None
    if not chosen.is_absolute():
        msg = f"OpenVINO cache folder {str(chosen)!r} must be an absolute path"
        raise EngineError(msg)
    return chosen


def check_device(device: str, available: Sequence[str]) -> None:
    """Raise EngineError unless OpenVINO reports ``device`` (or, for AUTO:..., each listed device).

    ``GPU`` matches ``GPU.0`` / ``GPU.1``; a wrong index behind a matching name is left to compile_model,
    whose error the engine reports with the same list of devices.
    """
    name, _, listed = device.partition(":")
    if name in VIRTUAL_DEVICES:
        wanted = [d.strip().lstrip("-") for d in listed.split(",") if d.strip()]
        if not available or not all(_has(d, available) for d in wanted):
            raise EngineError(_unavailable(device, available))
        return
    if listed or not _has(device, available):
        raise EngineError(_unavailable(device, available))


def _has(device: str, available: Sequence[str]) -> bool:
    base = device.split(".", 1)[0]
    return device in available or any(d.split(".", 1)[0] == base for d in available)


def _unavailable(device: str, available: Sequence[str]) -> str:
    return (
        f"OpenVINO device {device!r} is not available on this machine; "
        f"available devices: {list(available)} (engine.device: CPU, GPU, GPU.1, NPU or AUTO)"
    )
