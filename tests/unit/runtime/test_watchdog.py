"""Watchdogs: the pure checks, the restart budget, systemd's ping, and the remedies on a real pipeline.

The pipeline tests run real parts (replayed PNG files, the tiny real OpenVINO model). A hung inference
cannot be provoked in OpenVINO on demand, so :class:`HangingEngine` wraps the real engine and swallows
chosen submissions (fault injection: the callback never comes, exactly what a hung device looks like).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
from structlog.testing import capture_logs

from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.config.sources import ReplaySourceConfig
from edge_inspect.config.watchdog import WatchdogConfig
from edge_inspect.engines import open_engine
from edge_inspect.engines.pending import start_with_submit
from edge_inspect.model import ModelPackage, load_package
from edge_inspect.runtime.inspector import FrameInspector
from edge_inspect.runtime.notify import SystemdNotifier
from edge_inspect.runtime.pipeline import Pipeline
from edge_inspect.runtime.stats import Stats
from edge_inspect.runtime.supervisor import Supervisor
from edge_inspect.runtime.watchdog import (
    Probes,
    Remedies,
    Remedy,
    RestartBudget,
    SystemdWatchdog,
    Watchdog,
    overdue,
)
from edge_inspect.sources.replay import ReplaySource
from edge_inspect.station.inspection import build_inspector
from edge_inspect.station.results import ResultBuilder, by_camera
from edge_inspect.types import Engine, EngineCallback, Pending, TensorSpec, Verdict
from tests.helpers.clock import ManualClock
from tests.helpers.sinks import Collect, NoStatus
from tests.helpers.tiny_model import make_tiny_package
from tests.helpers.waiting import wait_or_fail

SIZE = 32


# ------------------------------------------------------------------------------------------ pure checks


def test_given_a_silent_source_when_past_the_timeout_then_the_source_is_to_be_restarted() -> None:
    config = WatchdogConfig(no_frame_timeout_s=5.0)

    assert overdue(104.9, 100.0, None, config) == []
    [finding] = overdue(105.5, 100.0, None, config)

    assert finding.remedy is Remedy.RESTART_SOURCE
    assert "5.5 s" in finding.reason


def test_given_a_long_inference_when_past_the_timeout_then_the_engine_is_to_be_restarted() -> None:
    config = WatchdogConfig(inference_timeout_s=2.0)

    assert overdue(101.5, 101.0, 100.0, config) == []
    [finding] = overdue(102.5, 102.4, 100.0, config)

    assert finding.remedy is Remedy.RESTART_ENGINE
    assert "inference_timeout_s 2.0" in finding.reason


def test_given_timeouts_set_to_null_then_nothing_ever_fires() -> None:
    config = WatchdogConfig(no_frame_timeout_s=None, inference_timeout_s=None)
    assert overdue(1e9, 0.0, 0.0, config) == []


def test_given_a_budget_of_two_per_minute_then_a_third_restart_within_60_s_is_refused() -> None:
    clock = ManualClock(1000.0)
    budget = RestartBudget(2, clock)

    assert budget.take()
    clock.now += 30
    assert budget.take()
    clock.now += 29
    assert not budget.take()
    clock.now += 1.5  # the first restart is now more than 60 s old
    assert budget.take()


# ------------------------------------------------------------------------------------ watchdog decisions


@dataclass
class Calls:
    source: int = 0
    engine: list[str] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)

    def remedies(self) -> Remedies:
        return Remedies(
            restart_source=lambda: setattr(self, "source", self.source + 1),
            restart_engine=self.engine.append,
            fatal=self.fatal.append,
        )


def test_given_a_source_that_stays_silent_when_restarts_run_out_then_the_daemon_is_told_to_exit() -> None:
    clock = ManualClock(1000.0)
    calls = Calls()
    last_frame = clock.now
    config = WatchdogConfig(no_frame_timeout_s=10.0, max_restarts_per_minute=2)
    dog = Watchdog(config, Probes(lambda: last_frame, lambda: None), calls.remedies(), clock=clock)

    clock.now += 11
    assert [f.remedy for f in dog.check()] == [Remedy.RESTART_SOURCE]
    clock.now += 5
    assert dog.check() == []  # a restarted source gets a full timeout for its first frame
    clock.now += 6
    dog.check()
    assert calls.source == 2
    clock.now += 11
    dog.check()

    assert calls.source == 2
    assert len(calls.fatal) == 1
    assert "more than 2 restarts" in calls.fatal[0]
    assert not dog.alive


def test_given_frames_flowing_again_after_a_restart_then_no_further_restart() -> None:
    clock = ManualClock(1000.0)
    calls = Calls()
    frames = {"last": clock.now}
    config = WatchdogConfig(no_frame_timeout_s=10.0)
    dog = Watchdog(config, Probes(lambda: frames["last"], lambda: None), calls.remedies(), clock=clock)

    clock.now += 11
    dog.check()
    for _ in range(10):
        clock.now += 5
        frames["last"] = clock.now
        dog.check()

    assert calls.source == 1
    assert dog.alive


# ------------------------------------------------------------------------------------- systemd pinging


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify.sock"))
    sock.settimeout(0.2)
    yield sock
    sock.close()


def received(sock: socket.socket) -> list[str]:
    messages = []
    try:
        while True:
            messages.append(sock.recv(4096).decode())
    except TimeoutError:
        return messages


def test_given_ticks_from_the_loop_then_watchdog_pings_are_rate_limited_and_stop_when_unhealthy(
    tmp_path: Path, systemd: socket.socket
) -> None:
    clock = ManualClock(1000.0)
    health = {"ok": True}
    feeder = SystemdWatchdog(
        SystemdNotifier(str(tmp_path / "notify.sock")), lambda: health["ok"], min_gap_s=1.0, clock=clock
    )

    feeder.ready("first frame processed")
    feeder.ready("again")
    for _ in range(10):  # ten results within half a second: one ping
        feeder.tick()
        clock.now += 0.05
    clock.now += 1.0
    feeder.tick()
    health["ok"] = False
    clock.now += 5.0
    feeder.tick()

    assert received(systemd) == ["READY=1\nSTATUS=first frame processed", "WATCHDOG=1", "WATCHDOG=1"]


# ---------------------------------------------------------------------------------- on a real pipeline


class HangingEngine:
    """The real engine, except that the submissions numbered in ``hang`` never complete."""

    def __init__(self, engine: Engine, hang: Callable[[int], bool]) -> None:
        self._engine = engine
        self._hang = hang
        self._count = 0
        self.swallowed: list[EngineCallback] = []
        self.closed = threading.Event()

    @property
    def input_spec(self) -> TensorSpec:
        return self._engine.input_spec

    @property
    def output_spec(self) -> TensorSpec:
        return self._engine.output_spec

    def infer(self, tensor: npt.NDArray[Any]) -> Any:
        return self._engine.infer(tensor)

    def submit(self, tensor: npt.NDArray[Any], callback: EngineCallback) -> None:
        number = self._count
        self._count += 1
        if self._hang(number):
            self.swallowed.append(callback)
            return
        self._engine.submit(tensor, callback)

    def start(self, tensor: npt.NDArray[Any]) -> Pending:
        return start_with_submit(self.submit, tensor)

    def wait_all(self) -> None:
        self._engine.wait_all()

    def close(self) -> None:
        self.closed.set()
        self._engine.close()


@pytest.fixture
def package(tmp_path: Path) -> ModelPackage:
    return load_package(make_tiny_package(tmp_path / "model", size=SIZE, variants=("fp32",)))


def frames_folder(tmp_path: Path, count: int) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    for i in range(count):
        cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((SIZE, SIZE), 40, np.uint8))
    return folder


def real_engine(package: ModelPackage) -> Engine:
    return open_engine(OpenVINOEngineConfig(type="openvino", num_requests=2), package, "fp32", None)


def build_pipeline(
    tmp_path: Path, package: ModelPackage, engine: Engine, *, count: int, fps: float = 0.0, loop: int = 1
) -> tuple[Pipeline, Collect, Stats, ReplaySource]:
    inspector, _rules = build_inspector(package, OpenVINOEngineConfig(type="openvino"), DecisionConfig())
    inspector.engine.close()
    inspector = FrameInspector(prepare=inspector.prepare, engine=engine, finish=inspector.finish)
    config = ReplaySourceConfig(
        type="replay", path=str(frames_folder(tmp_path, count)), ground_truth=None, fps=fps, loop=loop
    )
    source = ReplaySource(config, "cam-1", NoStatus())
    source.open()
    stats = Stats()
    sink = Collect()
    builder = ResultBuilder("st", "cam-1", package.identity("fp32"), {"defect": 0.5}, "r1")
    return Pipeline(source, inspector, builder, [sink], stats, queue_size=2), sink, stats, source


def test_given_a_hung_inference_when_the_watchdog_fires_then_the_engine_is_replaced_and_no_frame_vanishes(
    tmp_path: Path, package: ModelPackage
) -> None:
    hanging = HangingEngine(real_engine(package), hang=lambda n: n == 3)
    pipeline, sink, stats, source = build_pipeline(tmp_path, package, hanging, count=12)
    opened: list[Engine] = []

    def restart_engine(reason: str) -> None:
        fresh = real_engine(package)
        opened.append(fresh)
        pipeline.restart_engine(fresh, reason).close()

    calls = Calls()
    remedies = Remedies(restart_source=lambda: None, restart_engine=restart_engine, fatal=calls.fatal.append)
    config = WatchdogConfig(inference_timeout_s=0.5, check_interval_s=0.05)
    dog = Watchdog(config, Probes(time.monotonic, pipeline.oldest_inference), remedies)
    dog.start()
    pipeline.start()
    try:
        assert pipeline.join(timeout=60)
    finally:
        dog.stop()
        source.close()
        for engine in opened:
            engine.close()

    assert sorted(r.seq for r in sink.results) == list(range(12))  # one result per frame, none lost
    errors = [r for r in sink.results if r.verdict is Verdict.ERROR]
    assert [r.seq for r in errors] == [3]
    assert errors[0].error is not None
    assert "engine was restarted" in errors[0].error
    assert "inference_timeout_s 0.5" in errors[0].error
    assert all(r.verdict is Verdict.PASS for r in sink.results if r.seq != 3)
    assert hanging.closed.is_set()
    assert stats.counter("restarts.engine") == 1
    assert calls.fatal == []


def test_given_an_engine_that_always_hangs_when_restarts_run_out_then_fatal_and_no_frame_vanishes(
    tmp_path: Path, package: ModelPackage
) -> None:
    hanging = HangingEngine(real_engine(package), hang=lambda n: True)
    pipeline, sink, stats, source = build_pipeline(tmp_path, package, hanging, count=40, fps=20)
    fatal = threading.Event()
    working: list[Engine] = []

    def restart_engine(reason: str) -> None:
        pipeline.restart_engine(HangingEngine(real_engine(package), hang=lambda n: True), reason).close()

    remedies = Remedies(lambda: None, restart_engine, lambda _reason: fatal.set())
    config = WatchdogConfig(inference_timeout_s=0.3, check_interval_s=0.05, max_restarts_per_minute=2)
    dog = Watchdog(config, Probes(time.monotonic, pipeline.oldest_inference), remedies)
    dog.start()
    pipeline.start()
    try:
        assert fatal.wait(30)
        assert dog.fatal_reason is not None
        assert "more than 2 restarts (restart_engine)" in dog.fatal_reason
        pipeline.stop()  # the daemon's exit path: stop the source, let what was taken finish
        working.append(real_engine(package))
        pipeline.restart_engine(working[0], "exiting").close()
        assert pipeline.join(timeout=20)
    finally:
        dog.stop()
        source.close()
        for engine in working:
            engine.close()

    assert stats.counter("restarts.engine") == 3  # two by the watchdog, one on the way out
    assert sorted(r.seq for r in sink.results) == list(range(len(sink.results)))  # none lost or doubled
    errors = [r for r in sink.results if r.verdict is Verdict.ERROR]
    assert len(errors) >= 3
    assert all("engine was restarted" in (r.error or "") for r in errors)


def test_given_a_stalled_source_when_the_watchdog_fires_then_the_source_is_reopened_and_frames_flow_again(
    tmp_path: Path, package: ModelPackage
) -> None:
    """A replay paced at one frame per 1.5 s looks silent to a 0.5 s timeout: each restart re-opens it."""
    pipeline, sink, stats, source = build_pipeline(
        tmp_path, package, real_engine(package), count=3, fps=1 / 1.5, loop=0
    )
    calls = Calls()
    remedies = Remedies(pipeline.request_source_restart, lambda _r: None, calls.fatal.append)
    config = WatchdogConfig(no_frame_timeout_s=0.5, check_interval_s=0.05, max_restarts_per_minute=50)
    dog = Watchdog(config, Probes(lambda: pipeline.heartbeat["source"], lambda: None), remedies)
    pipeline.start()
    dog.start()
    try:
        deadline = time.monotonic() + 30
        while stats.counter("restarts.source") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        frames_before = len(sink.results)
        while len(sink.results) <= frames_before and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        dog.stop()
        pipeline.stop()
        assert pipeline.join(timeout=10)
        source.close()

    assert stats.counter("restarts.source") >= 2
    assert len(sink.results) > frames_before  # frames came again after the restarts
    assert calls.fatal == []


def test_given_two_cameras_when_one_falls_silent_then_only_it_is_reopened(
    tmp_path: Path, package: ModelPackage
) -> None:
    """The no-frame watchdog of a station of two cameras: a camera paced at one frame per 1.5 s looks
    silent to a 0.5 s timeout beside one that delivers 20 frames/s; only the silent one is reopened."""
    inspector, _rules = build_inspector(package, OpenVINOEngineConfig(type="openvino"), DecisionConfig())
    sources = {}
    for camera, fps in (("live", 20.0), ("quiet", 1 / 1.5)):
        folder = tmp_path / camera
        folder.mkdir()
        for i in range(3):
            cv2.imwrite(str(folder / f"{i:04d}.png"), np.full((SIZE, SIZE), 40, np.uint8))
        config = ReplaySourceConfig(type="replay", path=str(folder), ground_truth=None, fps=fps, loop=0)
        sources[camera] = ReplaySource(config, camera, NoStatus())
        sources[camera].open()
    stats, sink = Stats(), Collect()
    builder = by_camera(
        {c: ResultBuilder("st", c, package.identity("fp32"), {"defect": 0.5}, "r1") for c in sources}
    )
    pipeline = Pipeline(sources, inspector, builder, [sink], stats, queue_size=2, drop_policy="drop_oldest")
    fatal: list[str] = []
    supervisor = Supervisor(
        WatchdogConfig(no_frame_timeout_s=0.5, check_interval_s=0.05, max_restarts_per_minute=50),
        pipeline,
        open_engine=lambda: real_engine(package),
        on_fatal=lambda: fatal.append("fatal"),
        notifier=SystemdNotifier(None),
        count=stats.count,
    )
    pipeline.start()
    supervisor.start()
    try:
        with capture_logs() as logs:
            wait_or_fail(lambda: stats.counter("restarts.source") >= 2, 30, "two source restarts")
    finally:
        supervisor.stopping()
        pipeline.stop()
        assert pipeline.join(timeout=10)
        for source in sources.values():
            source.close()
        inspector.engine.close()

    restarted = [entry["camera"] for entry in logs if entry["event"] == "source restarted"]
    assert restarted
    assert set(restarted) == {"quiet"}
    assert {r.camera for r in sink.results} == {"live", "quiet"}
    assert fatal == []
