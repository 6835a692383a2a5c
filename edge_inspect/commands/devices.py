"""``edge-inspect devices [--config FILE] [--json]``: what this machine has, and which engine auto would run.

Prints the probe (TensorRT, CUDA devices, OpenVINO devices, Jetson release), the engine ``engine.type:
auto`` chooses here and why. With ``--config``, the station's own auto preferences are used; a station
whose engine is not ``auto`` is shown as configured. Exit 1 when no engine can run.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from edge_inspect.commands.options import add_overrides

if TYPE_CHECKING:
    from edge_inspect.config.engines import OpenVINOEngineConfig, TensorRTEngineConfig
    from edge_inspect.engines.probe import Capabilities


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "devices", help="show the inference devices found and the engine auto picks"
    )
    parser.add_argument("--config", help="station YAML config: use its engine section's preferences")
    add_overrides(parser, "engine.type=auto")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(func=run)


def describe(
    caps: Capabilities,
    engine: OpenVINOEngineConfig | TensorRTEngineConfig | None,
    reason: str,
    passed_over: tuple[str, ...],
) -> list[str]:
    """The text report: one ``label  value`` line per fact (pure, for tests)."""
    trt = caps.tensorrt
    lines = [f"TensorRT   {trt.version}" if trt.version else f"TensorRT   not usable: {trt.problem}"]
    if trt.cuda_devices:
        for d in trt.cuda_devices:
            major, minor = d.compute_capability
            lines.append(
                f"CUDA       device {d.index}: {d.name}, compute {major}.{minor}, {d.total_memory_mib} MiB"
            )
    else:
        lines.append(f"CUDA       no device: {trt.cuda_problem}")
    ov = caps.openvino
    if ov.version is None:
        lines.append(f"OpenVINO   not usable: {ov.problem}")
    else:
        names = ", ".join(f"{d} ({ov.device_names[d]})" if d in ov.device_names else d for d in ov.devices)
        lines.append(f"OpenVINO   {ov.version}; devices: {names or 'none'}")
    lines.append(f"Jetson     {caps.jetson or 'no'}")
    if engine is None:
        lines.append("Engine     none")
    elif engine.type == "tensorrt":
        lines.append(f"Engine     tensorrt {engine.precision} on CUDA device {engine.device}")
    else:
        lines.append(f"Engine     {engine.type} on {engine.device} (precision {engine.precision})")
    lines.append(f"Why        {reason}")
    lines.extend(f"Passed     {item}" for item in passed_over)
    return lines


def run(args: argparse.Namespace) -> int:
    from edge_inspect.config.engines import AutoEngineConfig
    from edge_inspect.engines.probe import probe_capabilities
    from edge_inspect.engines.select import choose_engine
    from edge_inspect.errors import EngineError

    auto = AutoEngineConfig(type="auto")
    fixed = None
    if args.config:
        from edge_inspect.config import load_config

        configured = load_config(args.config, args.overrides).engine
        if isinstance(configured, AutoEngineConfig):
            auto = configured
        else:
            fixed = configured

    caps = probe_capabilities()
    engine: Any = None
    passed_over: tuple[str, ...] = ()
    if fixed is not None:
        engine, reason = (
            fixed,
            f"the config sets engine.type: {fixed.type} (set engine.type: auto to choose here)",
        )
    else:
        try:
            choice = choose_engine(caps, auto)
        except EngineError as exc:
            reason = str(exc)
        else:
            engine, reason, passed_over = choice.engine_config, choice.reason, choice.passed_over

    if args.json:
        report = {
            "capabilities": asdict(caps),
            "engine": None if engine is None else engine.model_dump(mode="json"),
            "reason": reason,
            "passed_over": list(passed_over),
        }
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(describe(caps, engine, reason, passed_over)))
    return 0 if engine is not None else 1
