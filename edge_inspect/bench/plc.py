"""``bench --plc``: trigger-to-RESULT_VALID latency of the PLC handshake, next to the engine's own.

In the same run, on the same machine: first the engine alone (the config's engine settings, pre-made
tensors of the samples) for its capacity in frames/s, and again with one infer request for its
single-request latency; then a real ``edge-inspect run`` with a software-triggered replay camera,
``part.trigger: plc`` and the durable outbox on (as shipped), on a mosquitto the bench starts; the
bench plays the PLC: a pymodbus client that reads the status word once per millisecond (a PLC scan),
triggers parts at ``load`` x the engine's capacity, acknowledges each result, and measures from the
trigger write to the first read that shows RESULT_VALID. Target on 2 cores: p99 <= 2 x the engine's
single-request p50.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edge_inspect.bench.broker import LocalMosquitto
from edge_inspect.bench.configs import bench_config, private_daemon, replay_source, samples_path
from edge_inspect.bench.engine_only import run_openvino
from edge_inspect.bench.figures import LatencySummary, summarize_latencies
from edge_inspect.bench.processes import machine_line, start_daemon, stop_daemons, triggered_replay
from edge_inspect.bench.resources import load1, machine
from edge_inspect.bench.tensors import frame_tensors
from edge_inspect.config import AppConfig
from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.engines import concrete_engine_config
from edge_inspect.engines.openvino.load import compiled_input
from edge_inspect.errors import ConfigError, EdgeInspectError, MissingDependencyError
from edge_inspect.model import load_package
from edge_inspect.net import free_loopback_port
from edge_inspect.plc.registers import STATION_REGISTERS, STATUS, Control, PlcVerdict, Status, encode_part_id

Progress = Callable[[str], None]
TARGET = 2.0
"""p99 trigger-to-RESULT_VALID at most this many times the engine's single-request p50."""
_START_TIMEOUT_S = 180.0
_PART_TIMEOUT_S = 30.0
_SCAN_S = 0.001
"""The bench PLC's scan: one status read per millisecond (a PLC task of 1-10 ms is usual)."""


@dataclass(frozen=True)
class PlcOptions:
    parts: int = 500
    warmup: int = 20
    load: float = 0.5
    samples: Path | None = None


@dataclass(frozen=True)
class PlcReport:
    header: dict[str, Any]
    engine_fps: float
    engine_single_ms: LatencySummary
    rate_per_s: float
    latency_ms: LatencySummary
    verdicts: dict[str, int]
    trace: list[list[tuple[float, str]]]
    """Each bit change the PLC saw for the first three measured parts: (ms from its trigger, change)."""

    @property
    def ratio(self) -> float:
        single = self.engine_single_ms.p50
        return self.latency_ms.p99 / single if single else float("inf")


def run_plc_bench(config: AppConfig, options: PlcOptions, progress: Progress) -> PlcReport:
    problems = []
    if options.parts <= options.warmup:
        problems.append(f"--frames {options.parts}: the parts must outnumber --warmup {options.warmup}")
    if not 0 < options.load <= 1:
        problems.append(f"--load {options.load}: a share of the engine's capacity, above 0 and at most 1")
    engine = concrete_engine_config(config.engine)
    if not isinstance(engine, OpenVINOEngineConfig):
        problems.append("bench --plc measures the engine alone with OpenVINO: set engine.type to openvino")
        raise ConfigError(problems)
    if problems:
        raise ConfigError(problems)
    client_class = _client_class()
    config = config.model_copy(update={"engine": engine})
    host, load = machine(), load1()
    package = load_package(config.model.path)
    samples = samples_path(config, options.samples)
    with LocalMosquitto() as broker, tempfile.TemporaryDirectory(prefix="edge-inspect-bench-plc-") as scratch:
        folder = Path(scratch)
        progress("engine alone: capacity, then one request at a time")
        tensor_config = bench_config(
            config, replay_source(config, samples, passes=1), folder / "tensors", (broker.host, broker.port)
        )
        tensors = frame_tensors(tensor_config, package, compiled_input(engine, package.manifest.input))
        common = {"frames": max(200, options.parts // 2), "warmup": options.warmup}
        capacity, settings = run_openvino(
            engine, package, tensors, variant=config.model.variant, cache_dir=config.paths.cache_dir, **common
        )
        single, _ = run_openvino(
            engine.model_copy(update={"num_requests": 1, "performance_hint": "LATENCY"}),
            package,
            tensors,
            variant=config.model.variant,
            cache_dir=config.paths.cache_dir,
            **common,
        )
        rate = options.load * capacity.fps
        progress(
            f"engine {capacity.fps:.1f} fps; PLC triggers at {rate:.1f} parts/s for {options.parts} parts"
        )
        port = free_loopback_port()
        daemon = start_daemon(folder, "station", _daemon_config(config, samples, (broker.port, port), folder))
        try:
            plc = _Plc(client_class("127.0.0.1", port=port, timeout=2, retries=0))
            plc.wait_ready(daemon, folder / "station.log")
            latencies, verdicts, trace = plc.run(options.parts, options.warmup, 1.0 / rate)
            plc.close()
        finally:
            stop_daemons([daemon])
    header = {
        "machine": machine_line(host, load),
        "cores": host["cores"],
        "parts": f"{options.parts}, the first {options.warmup} left out",
        "engine": settings,
        "samples": samples,
    }
    return PlcReport(
        header,
        capacity.fps,
        summarize_latencies(single.latency_ms),
        rate,
        summarize_latencies(latencies),
        verdicts,
        trace,
    )


def _client_class() -> Any:
    try:
        from pymodbus.client import ModbusTcpClient  # noqa: PLC0415 - an optional extra, imported when used
    except ImportError as exc:
        raise MissingDependencyError("pymodbus", "plc", "bench --plc") from exc
    return ModbusTcpClient


def _daemon_config(config: AppConfig, samples: str, ports: tuple[int, int], scratch: Path) -> dict[str, Any]:
    """The measured station: the config's model and engine, a replay camera fired per trigger, the
    durable outbox on as shipped (in ``scratch``), the PLC on loopback ``ports[1]``."""
    mqtt_port, plc_port = ports
    data = config.model_dump(mode="json", exclude={"camera", "source", "cameras", "part", "station", "plc"})
    data["station"] = "bench-plc"
    data["source"] = triggered_replay(samples)
    data["part"] = {"trigger": "plc", "timeout_ms": 60_000, "max_pending": 64}
    data["plc"] = {"type": "modbus", "port": plc_port, "max_pending": 8, "result_deadline_ms": 10_000}
    data = private_daemon(data, port=mqtt_port, prefix="edge-inspect-bench-plc")
    # the outbox as a station runs it: each frame result is written to disk before it is published
    data["outbox"] = {"enabled": True}
    data["paths"] = {"state_dir": str(scratch / "state"), "cache_dir": None}
    return data


class _Plc:
    """The bench's PLC: one loop that polls the status word and answers it, as a PLC scan would."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def wait_ready(self, daemon: subprocess.Popen[bytes], log: Path) -> None:
        logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # "connection refused" until it listens
        deadline = time.monotonic() + _START_TIMEOUT_S
        while True:
            if daemon.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text("utf-8", "replace")[-1500:]
                msg = f"bench --plc: the station did not become READY: {tail}"
                raise EdgeInspectError(msg)
            if self.client.connect():
                status = self._status()
                if status is not None and Status.READY in Status(status[0]):
                    return
            time.sleep(0.2)

    def _status(self) -> list[int] | None:
        response = self.client.read_holding_registers(STATUS, count=STATION_REGISTERS, device_id=1)
        return None if response.isError() else list(response.registers)

    def write_control(self, control: Control, part_id: str | None = None) -> None:
        values = [int(control), *encode_part_id(part_id)] if part_id is not None else [int(control)]
        response = self.client.write_registers(0, values, device_id=1)
        if response.isError():
            msg = f"bench --plc: the control write answered {response}"
            raise EdgeInspectError(msg)

    def run(
        self, parts: int, warmup: int, period_s: float
    ) -> tuple[list[float], dict[str, int], list[list[tuple[float, str]]]]:
        """``parts``, one per ``period_s`` (pipelined when the station is slower): latencies after warm-up."""
        scan = _Scan(self, parts, warmup, period_s)
        while scan.answered < parts:
            time.sleep(_SCAN_S)
            regs = self._status()
            if regs is None:
                msg = "bench --plc: a status read failed"
                raise EdgeInspectError(msg)
            scan.step(regs, time.monotonic())
        return scan.latencies, scan.verdicts, [scan.traces[p] for p in sorted(scan.traces)]

    def close(self) -> None:
        self.client.close()


class _Scan:
    """One PLC scan at a time: read the status word, then change at most one control bit."""

    def __init__(self, plc: _Plc, parts: int, warmup: int, period_s: float) -> None:
        self.plc, self.parts, self.warmup, self.period_s = plc, parts, warmup, period_s
        self.control = Control(0)
        self.sent: deque[float] = deque()
        self.latencies: list[float] = []
        self.verdicts: dict[str, int] = {}
        self.traces: dict[str, list[tuple[float, str]]] = {}
        self.traced = {f"P-{n:05d}" for n in range(warmup + 1, warmup + 4)}
        self.tracing: tuple[str, float] | None = None
        """The traced part whose trace is being written (until the next trigger), and its trigger time."""
        self.next_at = time.monotonic()
        self.triggered = self.answered = 0
        self.status = Status(0)
        self.progress_at = time.monotonic()

    def note(self, what: str) -> None:
        if self.tracing is not None:
            part_id, at = self.tracing
            self.traces[part_id].append((round((time.monotonic() - at) * 1000.0, 2), what))

    def write(self, new: Control, part_id: str | None = None) -> None:
        changed = new ^ self.control
        self.plc.write_control(new, part_id)
        self.control = new
        self.note("PLC " + " ".join(f"{b.name}{'+' if b in new else '-'}" for b in Control if b in changed))

    def step(self, regs: list[int], now: float) -> None:
        status = Status(regs[0])
        if status != self.status:
            self.note("station " + _bits(status ^ self.status, status))
        self.status = status
        control = self.control
        if Control.TRIGGER in control and Status.TRIGGER_ACK in status:
            self.write(control & ~Control.TRIGGER)
        elif Control.RESULT_ACK in control and Status.RESULT_VALID not in status:
            self.write(control & ~Control.RESULT_ACK)
        elif Status.RESULT_VALID in status and Control.RESULT_ACK not in control:
            at = self.sent.popleft()
            self.answered += 1
            self.progress_at = now
            if self.answered > self.warmup:
                self.latencies.append((now - at) * 1000.0)
            verdict = PlcVerdict(regs[2]).name
            self.verdicts[verdict] = self.verdicts.get(verdict, 0) + 1
            self.write(control | Control.RESULT_ACK)
        elif self._may_trigger(now):
            self.triggered += 1
            part_id = f"P-{self.triggered:05d}"
            at = time.monotonic()
            self.sent.append(at)
            self.tracing = (part_id, at) if part_id in self.traced else None
            if self.tracing is not None:
                self.traces[part_id] = []
            self.write(control | Control.TRIGGER, part_id)
            self.next_at = max(self.next_at + self.period_s, now - self.period_s)
        if now - self.progress_at > _PART_TIMEOUT_S:
            msg = f"bench --plc: no answer for {_PART_TIMEOUT_S:.0f} s (status {status!r})"
            raise EdgeInspectError(msg)

    def _may_trigger(self, now: float) -> bool:
        return (
            self.triggered < self.parts
            and Control.TRIGGER not in self.control
            and Status.READY in self.status
            and now >= self.next_at
        )


def _bits(changed: Status, status: Status) -> str:
    return " ".join(f"{bit.name}{'+' if bit in status else '-'}" for bit in Status if bit in changed)


def format_plc(report: PlcReport) -> str:
    lat, single = report.latency_ms, report.engine_single_ms
    verdict = "met" if report.ratio <= TARGET else "NOT met"
    lines = [
        "PLC handshake bench: trigger write -> RESULT_VALID seen, over Modbus TCP on loopback",
        f"  machine  {report.header['machine']}",
        f"  parts    {report.header['parts']}",
        f"  samples  {report.header['samples']}",
        f"  engine   {report.engine_fps:.1f} frames/s with the config's settings; single request "
        f"p50 {single.p50:.2f} ms, p99 {single.p99:.2f} ms",
        f"  load     {report.rate_per_s:.1f} parts/s offered",
        "",
        f"trigger -> RESULT_VALID: p50 {lat.p50:.2f} ms, p95 {lat.p95:.2f} ms, p99 {lat.p99:.2f} ms, "
        f"max {lat.max:.2f} ms ({lat.count} parts)",
        f"p99 / engine single-request p50: {report.ratio:.2f} (target <= {TARGET:.0f}: {verdict})",
        "verdicts: " + ", ".join(f"{k} {v}" for k, v in sorted(report.verdicts.items())),
        "",
        "handshake trace (ms from the trigger write; what the PLC's reads saw change):",
    ]
    for number, trace in enumerate(report.trace, start=1):
        lines.append(f"  part {number}: " + "; ".join(f"{at:.2f} {what}" for at, what in trace))
    return "\n".join(lines)


def plc_json(report: PlcReport) -> dict[str, Any]:
    return {
        "header": report.header,
        "engine_fps": report.engine_fps,
        "engine_single_ms": asdict(report.engine_single_ms),
        "rate_per_s": report.rate_per_s,
        "latency_ms": asdict(report.latency_ms),
        "ratio": report.ratio,
        "target": TARGET,
        "verdicts": report.verdicts,
        "trace": report.trace,
    }
