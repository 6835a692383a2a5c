"""``bench --cameras N``: one daemon serving N cameras against N one-camera daemons, same run, same machine.

Both sides are real ``edge-inspect run`` processes on a mosquitto the bench starts on a free loopback
port, replaying the same images from memory with ``trigger: software`` and ``part.trigger: mqtt``:

* shared: one daemon, one engine, N cameras; each trigger fires all N, one part message per part;
* separate: N daemons of one camera each (N engines, the config's engine settings each); the bench
  sends each trigger to all N, and a part is complete when all N have published theirs.

The bench plays the line: it keeps ``window`` parts in the station(s), triggers the next as one
completes, and measures from the trigger's publish to the last part message of that part. Parts/s
over the measured parts (after ``warmup``), the latency percentiles, and CPU seconds per part (every
daemon process's user + system time over the measured span). Modes alternate when ``repeat`` > 1 and
the median round of each is shown, so other work on the machine hits both alike.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge_inspect.bench.broker import LocalMosquitto
from edge_inspect.bench.configs import private_daemon, samples_path
from edge_inspect.bench.figures import LatencySummary, summarize_latencies
from edge_inspect.bench.processes import machine_line, start_daemon, stop_daemons, triggered_replay
from edge_inspect.bench.resources import load1, machine, process_cpu_s, rss_mb
from edge_inspect.config import AppConfig
from edge_inspect.config.station import MAX_CAMERAS
from edge_inspect.errors import ConfigError, EdgeInspectError

Progress = Callable[[str], None]
SHARED = "shared"
SEPARATE = "separate"
TARGET_RATIO = 1.15
"""Shared parts/s over separate parts/s the issue sets for 2 cameras on 2 cores."""
_START_TIMEOUT_S = 180.0
_PART_TIMEOUT_S = 60.0
_PREFIX = "edge-inspect-bench-station"


@dataclass(frozen=True)
class StationOptions:
    cameras: int = 2
    parts: int = 200
    warmup: int = 20
    window: int = 8
    repeat: int = 1
    samples: Path | None = None


@dataclass(frozen=True)
class StationMode:
    mode: str
    daemons: int
    parts: int
    parts_per_s: float
    latency_ms: LatencySummary
    cpu_s_per_part: float | None
    error_parts: int
    rss_mb: float | None
    """Resident memory of every daemon process together, at the end of the measured parts."""


@dataclass(frozen=True)
class StationReport:
    header: Mapping[str, Any]
    shared: StationMode
    separate: StationMode
    rounds: Mapping[str, Sequence[float]]

    @property
    def ratio(self) -> float:
        return self.shared.parts_per_s / self.separate.parts_per_s if self.separate.parts_per_s else 0.0


def run_station_bench(config: AppConfig, options: StationOptions, progress: Progress) -> StationReport:
    """Both sides ``repeat`` times, alternating; the round of median parts/s of each is reported."""
    problems = []
    if not 1 <= options.cameras <= MAX_CAMERAS:
        problems.append(f"--cameras {options.cameras}: a station serves 1 to {MAX_CAMERAS} cameras")
    if options.parts <= options.warmup:
        problems.append(f"--frames {options.parts}: the parts must outnumber --warmup {options.warmup}")
    if options.window < 1:
        problems.append(f"--window {options.window}: at least 1 part in the station")
    if problems:
        raise ConfigError(problems)
    samples = samples_path(config, options.samples)
    host, load = machine(), load1()
    rounds: dict[str, list[StationMode]] = {SHARED: [], SEPARATE: []}
    with LocalMosquitto() as broker, tempfile.TemporaryDirectory(prefix="edge-inspect-bench-") as scratch:
        for n in range(options.repeat):
            for mode in (SHARED, SEPARATE):
                progress(f"round {n + 1}/{options.repeat}: {mode} ({options.cameras} cameras)")
                folder = Path(scratch) / f"{mode}-{n}"
                folder.mkdir()
                rounds[mode].append(
                    _run_mode(
                        config,
                        mode,
                        options=options,
                        samples=samples,
                        port=broker.port,
                        folder=folder,
                        progress=progress,
                    )
                )
    shared, separate = (_median(rounds[mode]) for mode in (SHARED, SEPARATE))
    header = {
        "machine": machine_line(host, load),
        "cores": host["cores"],
        "cameras": options.cameras,
        "parts": f"{options.parts} per round, the first {options.warmup} left out; {options.window} in the "
        f"station at a time; {options.repeat} round(s), the median shown",
        "engine": config.engine.model_dump(mode="json"),
        "samples": samples,
    }
    return StationReport(
        header, shared, separate, {mode: [m.parts_per_s for m in ms] for mode, ms in rounds.items()}
    )


def _median(modes: Sequence[StationMode]) -> StationMode:
    return sorted(modes, key=lambda m: m.parts_per_s)[len(modes) // 2]


def _daemon_config(
    config: AppConfig, station: str, cameras: Sequence[str], samples: str, port: int
) -> dict[str, Any]:
    data = config.model_dump(mode="json", exclude={"camera", "source", "cameras", "part", "station", "plc"})
    data["station"] = station
    data["cameras"] = [{"id": camera, "source": triggered_replay(samples)} for camera in cameras]
    data["part"] = {"trigger": "mqtt", "timeout_ms": 60_000, "max_pending": 10_000}
    return private_daemon(data, port=port, prefix=_PREFIX)


def _run_mode(
    config: AppConfig,
    mode: str,
    *,
    options: StationOptions,
    samples: str,
    port: int,
    folder: Path,
    progress: Progress,
) -> StationMode:
    cameras = [f"cam-{k + 1}" for k in range(options.cameras)]
    tag = uuid.uuid4().hex[:6]
    if mode == SHARED:
        stations = {f"shared-{tag}": cameras}
    else:
        stations = {f"separate-{tag}-{k + 1}": [camera] for k, camera in enumerate(cameras)}
    line = _Line(port, list(stations))
    daemons: list[subprocess.Popen[bytes]] = []
    try:
        for station, its_cameras in stations.items():
            daemons.append(
                start_daemon(folder, station, _daemon_config(config, station, its_cameras, samples, port))
            )
        line.wait_online(daemons, folder)
        progress(f"{mode}: {len(daemons)} daemon(s) online; {options.parts} parts")
        measured = line.run(options.parts, options.warmup, options.window, daemons)
    finally:
        stop_daemons(daemons)
        line.close()
    span_s, latencies, cpu_s, errors, rss = measured
    parts = len(latencies)
    return StationMode(
        mode=mode,
        daemons=len(daemons),
        parts=parts,
        parts_per_s=parts / span_s if span_s > 0 else 0.0,
        latency_ms=summarize_latencies(latencies),
        cpu_s_per_part=cpu_s / parts if cpu_s is not None and parts else None,
        error_parts=errors,
        rss_mb=rss,
    )


class _Line:
    """The bench's line: triggers parts on every station's topic, and collects their part messages."""

    def __init__(self, port: int, stations: list[str]) -> None:
        self.stations = stations
        self._cond = threading.Condition()
        self._online: set[str] = set()
        self._done: dict[str, set[str]] = {}
        self._errors: dict[str, bool] = {}
        self._finished: dict[str, float] = {}
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"edge-inspect-bench-line-{uuid.uuid4().hex[:8]}"
        )
        self.client.on_message = self._on_message
        self.client.on_connect = lambda client, *_: client.subscribe(
            [(f"{_PREFIX}/{s}/part", 1) for s in stations] + [(f"{_PREFIX}/{s}/status", 1) for s in stations]
        )
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        station = message.topic.split("/")[-2]
        payload = json.loads(message.payload)
        with self._cond:
            if message.topic.endswith("/status"):
                if payload.get("state") == "online":
                    self._online.add(station)
            else:
                part_id = payload["part_id"]
                arrived = self._done.setdefault(part_id, set())
                arrived.add(station)
                self._errors[part_id] = self._errors.get(part_id, False) or payload["verdict"] == "ERROR"
                if len(arrived) == len(self.stations):
                    self._finished[part_id] = time.monotonic()
            self._cond.notify_all()

    def wait_online(self, daemons: Sequence[subprocess.Popen[bytes]], folder: Path) -> None:
        deadline = time.monotonic() + _START_TIMEOUT_S
        with self._cond:
            while len(self._online) < len(self.stations):
                exited = [d for d in daemons if d.poll() is not None]
                if exited or time.monotonic() > deadline:
                    logs = "; ".join(p.read_text("utf-8", "replace")[-800:] for p in folder.glob("*.log"))
                    msg = f"bench --cameras: a daemon did not come online: {logs}"
                    raise EdgeInspectError(msg)
                self._cond.wait(0.2)

    def run(
        self, parts: int, warmup: int, window: int, daemons: Sequence[subprocess.Popen[bytes]]
    ) -> tuple[float, list[float], float | None, int, float | None]:
        """Trigger ``parts``, ``window`` at a time: (span, latencies, CPU s, ERROR parts) after warm-up."""
        sent: dict[str, float] = {}
        ids = [f"B-{n:05d}" for n in range(1, parts + 1)]
        cpu_start: float | None = None
        start = 0.0
        for n, part_id in enumerate(ids):
            if n == warmup:
                self._wait_finished(ids[:warmup])
                start = time.monotonic()
                cpu_start = _cpu(daemons)
            self._wait_room(sent, window)
            sent[part_id] = time.monotonic()
            for station in self.stations:
                self.client.publish(f"{_PREFIX}/{station}/trigger", json.dumps({"part_id": part_id}), qos=1)
        self._wait_finished(ids)
        end = max(self._finished[part_id] for part_id in ids[warmup:])
        cpu_end = _cpu(daemons)
        rss = _rss(daemons)
        measured = ids[warmup:]
        latencies = [(self._finished[p] - sent[p]) * 1000.0 for p in measured]
        cpu = cpu_end - cpu_start if cpu_start is not None and cpu_end is not None else None
        return end - start, latencies, cpu, sum(self._errors[p] for p in measured), rss

    def _wait_room(self, sent: Mapping[str, float], window: int) -> None:
        self._wait_until(lambda: len(sent) - len(self._finished) < window, "no part finished within")

    def _wait_finished(self, ids: Sequence[str]) -> None:
        self._wait_until(lambda: all(part_id in self._finished for part_id in ids), "parts unfinished after")

    def _wait_until(self, done: Callable[[], bool], failing: str) -> None:
        """Wait (as part messages arrive) until ``done``; an error after ``_PART_TIMEOUT_S``."""
        with self._cond:
            if not self._cond.wait_for(done, _PART_TIMEOUT_S):
                msg = f"bench --cameras: {failing} {_PART_TIMEOUT_S:.0f} s"
                raise EdgeInspectError(msg)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _cpu(daemons: Sequence[subprocess.Popen[bytes]]) -> float | None:
    spent = [process_cpu_s(d.pid) for d in daemons]
    return None if any(s is None for s in spent) else sum(s for s in spent if s is not None)


def _rss(daemons: Sequence[subprocess.Popen[bytes]]) -> float | None:
    status = [Path(f"/proc/{d.pid}/status") for d in daemons]
    if not all(path.is_file() for path in status):
        return None  # rss_mb would answer this process's own peak
    return sum(rss_mb(path) for path in status)


def format_station(report: StationReport) -> str:
    """The comparison as a table, the ratio and the target."""
    cams = report.header["cameras"]
    lines = [
        f"station bench: {cams} cameras, one daemon against {cams} one-camera daemons",
        f"  machine  {report.header['machine']}",
        f"  parts    {report.header['parts']}",
        f"  samples  {report.header['samples']}",
        "",
        f"{'mode':<28}{'parts/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'CPU s/part':>12}{'RSS MB':>8}"
        f"{'ERROR':>7}",
    ]
    for m, label in (
        (report.shared, f"one daemon, {cams} cameras"),
        (report.separate, f"{cams} daemons, 1 camera"),
    ):
        cpu = f"{m.cpu_s_per_part:.4f}" if m.cpu_s_per_part is not None else "n/a"
        rss = f"{m.rss_mb:.0f}" if m.rss_mb is not None else "n/a"
        lat = m.latency_ms
        lines.append(
            f"{label:<28}{m.parts_per_s:>9.2f}{lat.p50:>9.1f}{lat.p95:>9.1f}{lat.p99:>9.1f}{cpu:>12}{rss:>8}"
            f"{m.error_parts:>7}"
        )
    cores = report.header["cores"]
    verdict = "met" if report.ratio >= TARGET_RATIO else "NOT met"
    applies = cams == 2 and cores == 2
    lines += [
        "",
        f"shared / separate parts/s: {report.ratio:.2f}"
        + (f" (target >= {TARGET_RATIO} for 2 cameras on 2 cores: {verdict})" if applies else ""),
        "rounds parts/s: "
        + "; ".join(f"{k} {', '.join(f'{v:.2f}' for v in vs)}" for k, vs in report.rounds.items()),
    ]
    return "\n".join(lines)


def station_json(report: StationReport) -> dict[str, Any]:
    return {
        "header": dict(report.header),
        "shared": asdict(report.shared),
        "separate": asdict(report.separate),
        "ratio": report.ratio,
        "target_ratio": TARGET_RATIO,
        "rounds": {k: list(v) for k, v in report.rounds.items()},
    }
