"""The composition root: the one module that imports every stage and wires them from config.

Start order: model package -> engine -> outbox -> publisher (connects in the background) -> source ->
pipeline -> watchdog. Stop order (SIGTERM, SIGINT, the replay's end, or a watchdog out of restarts):
STOPPING=1 -> source stops -> in-flight frames drain -> PUBACKs are awaited (what is not acknowledged
stays in the outbox for the next start) -> ``offline`` is published -> engine and source close. All
within ``runtime.shutdown_grace_s``. SIGHUP reloads the config file and applies ``decision.*`` live.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any

import cv2
import numpy as np
import structlog

from edge_inspect import __version__
from edge_inspect.config import AppConfig
from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import EngineConfig
from edge_inspect.config.preprocess import PreprocessConfig
from edge_inspect.decision import recipe_hash, resolve_rules, rules_summary
from edge_inspect.decision.frame import make_finish
from edge_inspect.decision.rules import Rules
from edge_inspect.engines import open_engine
from edge_inspect.errors import EdgeInspectError
from edge_inspect.metrics import CameraStateTracker, MetricsExporter, identity_of
from edge_inspect.model import ModelPackage, load_package
from edge_inspect.preprocess import Preprocessor, preprocess_input
from edge_inspect.publish.mqtt import MqttPublisher
from edge_inspect.publish.outbox import open_outbox
from edge_inspect.publish.session import next_session
from edge_inspect.publish.tls import FAILURE_COUNTER as TLS_FAILURES
from edge_inspect.publish.tls import connection_security
from edge_inspect.publish.topics import Topics
from edge_inspect.runtime.inspector import FrameInspector
from edge_inspect.runtime.pipeline import Pipeline, ResultFactory
from edge_inspect.runtime.reload import config_change
from edge_inspect.runtime.sched import thread_init
from edge_inspect.runtime.stats import Stats
from edge_inspect.runtime.supervisor import Supervisor
from edge_inspect.sinks.setup import image_saving
from edge_inspect.sources import open_source
from edge_inspect.types import (
    Decision,
    Frame,
    InspectionResult,
    ModelIdentity,
    ResultSink,
    Verdict,
)

log = structlog.get_logger(__name__)

_MASK_NDIM = 2
EXIT_RESULTS_LOST = 3
OUTBOX_COUNTERS = (
    "outbox.acked",
    "outbox.dropped",
    "outbox.store_failed",
    "outbox.lost",
    "outbox.resent",
    "outbox.replayed",
)
"""Outbox counters a dashboard alerts on: exported at 0 from the start."""
"""Exit status when results were neither acknowledged nor stored durably at exit."""


def build_inspector(
    package: ModelPackage,
    engine_config: EngineConfig,
    decision: DecisionConfig,
    *,
    variant: str | None = None,
    cache_dir: Path | None = None,
    preprocess: PreprocessConfig | None = None,
) -> tuple[FrameInspector, Rules]:
    """Preprocessor + engine + decision rules for ``package``: the daemon's inspection path, for reuse."""
    manifest = package.manifest
    rules = resolve_rules(manifest.decision_for(variant), manifest.output, decision)
    engine = open_engine(engine_config, package, variant, cache_dir)
    station = preprocess or PreprocessConfig()
    preprocessor = Preprocessor(
        preprocess_input(manifest.input, engine.input_spec.dtype),
        roi=station.roi,
        min_input_fraction=station.min_input_fraction,
    )
    return FrameInspector(
        prepare=preprocessor, engine=engine, finish=make_finish(package.manifest.output, rules)
    ), rules


@dataclass(frozen=True)
class ResultBuilder:
    """Turns a frame's outcome into the published record (station, model identity, thresholds, timings)."""

    station: str
    camera: str
    model: ModelIdentity
    thresholds: dict[str, float]
    recipe: str

    def __call__(
        self, frame: Frame, decision: Decision | None, error: str | None, timings: dict[str, float]
    ) -> InspectionResult:
        timings["total"] = (time.monotonic() - frame.monotonic) * 1000.0
        verdict = Verdict.ERROR if decision is None else decision.verdict
        return InspectionResult(
            result_id=uuid.uuid4().hex,
            seq=frame.seq,
            station=self.station,
            camera=self.camera,
            captured_at=frame.captured_at,
            verdict=verdict,
            decision=decision,
            source=frame.source,
            model=self.model,
            thresholds=self.thresholds,
            recipe_hash=self.recipe,
            timings_ms=timings,
            error=error if decision is None else None,
            expected=_expected_verdict(frame),
            frame_size=None
            if frame.image is None
            else (int(frame.image.shape[1]), int(frame.image.shape[0])),
        )


def _expected_verdict(frame: Frame) -> Verdict | None:
    truth = frame.ground_truth
    if truth is None:
        return None
    if truth.ndim == _MASK_NDIM and truth.dtype == np.uint8:
        marked = bool(cv2.hasNonZero(truth))  # stops at the first marked pixel; np.any reads them all
    else:
        marked = bool(np.any(truth))
    return Verdict.NG if marked else Verdict.PASS


class App:
    """One inspection station: build from config, :meth:`run` until the source ends or a stop signal."""

    def __init__(
        self,
        config: AppConfig,
        *,
        extra_sinks: Sequence[ResultSink] = (),
        reload_config: Callable[[], AppConfig] | None = None,
    ) -> None:
        self.config = config
        if config.runtime.opencv_threads is not None:
            # process-wide, before any stage runs: OpenCV's pool must not fight the engine for the cores
            cv2.setNumThreads(config.runtime.opencv_threads)
        self.stats = Stats()
        self.final_stats: dict[str, Any] = {}
        """The stats at shutdown, taken before the outbox and the publisher close (read it after run)."""
        # per-frame threads only; set by each thread on itself, so the engine's threads keep the default
        worker_init = thread_init(config.runtime.scheduling)
        self._stop = threading.Event()
        self._reload_config = reload_config
        """Reads the config file again (SIGHUP); None: the config did not come from a file."""
        self._reload_requested = threading.Event()
        cache_dir = config.paths.cache_dir
        # secrets and certificates first: a bad one stops the start before the model is compiled
        mqtt_config, tls = connection_security(config.mqtt, count=self.stats.count)
        if tls is not None:
            self.stats.declare(TLS_FAILURES)
        self.stats.declare("mqtt.connect_failures")
        if config.outbox.enabled is not False:
            self.stats.declare(*OUTBOX_COUNTERS)
        self.package = load_package(config.model.path)
        self.inspector, self.rules = build_inspector(
            self.package,
            config.engine,
            config.decision,
            variant=config.model.variant,
            cache_dir=cache_dir,
            preprocess=config.preprocess,
        )
        self.topics = Topics(config.mqtt.topic_prefix, config.station, config.camera)
        client_id = config.mqtt.client_id or f"edge-inspect-{config.station}-{config.camera}"
        self.outbox = open_outbox(config.outbox, config.paths.state_dir)
        self.publisher = MqttPublisher(
            mqtt_config,
            self.topics,
            station=config.station,
            client_id=client_id,
            version=__version__,
            tls=tls,
            outbox=self.outbox,
            window=config.outbox.max_inflight,
            fallback_max_pending=config.outbox.fallback_max_pending,
            keep_acked_s=config.outbox.keep_acked_s,
            max_resends=config.outbox.max_resends,
            count=self.stats.count,
            thread_init=worker_init,
            session=next_session(config.paths.state_dir),
        )
        self.cameras = CameraStateTracker(self.publisher)  # remembers camera states for metrics
        self.source = open_source(config.source, config.camera, self.cameras)
        self._builder = ResultBuilder(
            station=config.station,
            camera=config.camera,
            model=self.package.identity(config.model.variant),
            thresholds=rules_summary(self.rules),
            recipe=recipe_hash(self.rules),
        )
        make_result: ResultFactory = self._builder
        # saved images: the path goes into the result before any sink sees it; writing is off-thread
        self.images = image_saving(
            config,
            classes=self.rules.classes,
            stats=self.stats,
            mqtt=mqtt_config,
            tls=tls,
            topics=self.topics,
            client_id=client_id,
            thread_init=worker_init,
        )
        if self.images is not None:
            make_result = self.images.wrap(make_result)
        self.metrics = (
            MetricsExporter(
                config.metrics,
                self.stats,
                identity_of(
                    config, self.package.identity(config.model.variant), recipe_hash(self.rules), __version__
                ),
                broker_connected=lambda: self.publisher.connected,
                cameras=self.cameras,
                stopping=self._stop.is_set,
            )
            if config.metrics.enabled
            else None
        )
        metric_sinks: list[ResultSink] = [self.metrics.sink] if self.metrics is not None else []
        self.pipeline = Pipeline(
            self.source,
            self.inspector,
            make_result,
            [self.publisher, *metric_sinks, *extra_sinks],
            self.stats,
            queue_size=config.runtime.queue_size,
            drop_policy=config.source.drop_policy,
            max_errors_logged=config.runtime.max_frame_errors_logged,
            tick_s=config.watchdog.tick_s,
            thread_init=worker_init,
        )
        self.supervisor = Supervisor(
            config.watchdog,
            self.pipeline,
            open_engine=lambda: open_engine(config.engine, self.package, config.model.variant, cache_dir),
            on_fatal=self.request_stop,
            count=self.stats.count,
        )
        source_stats = getattr(self.source, "stats", None)  # sources with counters (cameras) expose them
        if callable(source_stats):
            for key in source_stats():
                self.stats.gauges[f"source.{key}"] = _reader(source_stats, key)
        self.stats.gauges["mqtt.pending"] = self.publisher.pending
        self.stats.gauges["mqtt.connected"] = lambda: float(self.publisher.connected)
        if self.outbox is not None and self.publisher.store is not None:
            alarms = self.publisher.store
            self.stats.gauges["outbox.depth"] = self.outbox.depth
            self.stats.gauges["outbox.bytes"] = self.outbox.size_bytes
            self.stats.gauges["outbox.oldest_age_s"] = self.outbox.oldest_age_s
            self.stats.gauges["outbox.full"] = lambda: float(alarms.full_alarm.active)
            self.stats.gauges["outbox.store_failing"] = lambda: float(alarms.store_alarm.active)

    def request_stop(self, *_args: object) -> None:
        """Ask the daemon to stop (signal handler safe): frames in flight are still published."""
        self._stop.set()

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def handler(signum: int, _frame: FrameType | None) -> None:
            log.info("stop requested", signal=signal.Signals(signum).name)
            self.request_stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGHUP, lambda _signum, _frame: self._reload_requested.set())

    def reload(self) -> bool:
        """SIGHUP: read the config again; apply ``decision.*`` between two frames, report the rest.

        An invalid file changes nothing (every bad field is logged). Returns True when new rules apply.
        """
        if self._reload_config is None:
            log.warning("reload ignored: the config did not come from a file")
            return False
        try:
            reloaded = self._reload_config()
        except EdgeInspectError as exc:
            problems = getattr(exc, "problems", [str(exc)])
            log.error("config reload refused; the running rules stay", problems=problems)
            return False
        change = config_change(self.config, reloaded)
        if change.restart:
            log.warning("config changes that need a restart were not applied", sections=list(change.restart))
        if not change.live:
            log.info("config reloaded: decision rules unchanged")
            return False
        manifest = self.package.manifest
        try:
            defaults = manifest.decision_for(self.config.model.variant)  # the variant needs a restart
            rules = resolve_rules(defaults, manifest.output, reloaded.decision)
        except EdgeInspectError as exc:
            log.error("new decision rules refused; the running rules stay", error=str(exc))
            return False
        builder = replace(self._builder, thresholds=rules_summary(rules), recipe=recipe_hash(rules))
        make_result = self.images.wrap(builder) if self.images is not None else builder
        self.pipeline.swap_decision(make_finish(self.package.manifest.output, rules), make_result)
        log.warning("decision rules reloaded", old_recipe=self._builder.recipe, new_recipe=builder.recipe)
        self.rules, self._builder = rules, builder
        self.config = self.config.model_copy(update={"decision": reloaded.decision})
        return True

    def _camera_state(self) -> str | None:
        state = self.cameras.states().get(self.config.camera)
        return None if state is None else state.state.value

    def _stats_loop(self) -> None:
        interval = self.config.mqtt.stats_interval_s
        while not self._stop.wait(interval) and not self.pipeline.done.is_set():
            self.publisher.publish_stats(self.stats.snapshot(), self._camera_state())

    def run(self) -> int:
        """Run until the source ends or a stop is requested; return the process exit code."""
        self._install_signals()
        log.info(
            "starting",
            station=self.config.station,
            camera=self.config.camera,
            model=self.package.manifest.name,
            variant=self.package.identity(self.config.model.variant).variant,
            source=self.config.source.type,
            engine=self.config.engine.type,
            outbox=str(self.outbox.path) if self.outbox is not None else "off",
        )
        if self.outbox is None:
            log.warning(
                "durable delivery is off (outbox.enabled: false): results wait for PUBACK in memory only, "
                "and those unacknowledged at exit are lost (the exit status says so)"
            )
        if self.metrics is not None:
            self.metrics.start()
        if self.images is not None:
            self.images.start()
        self.publisher.start()
        self.source.open()
        self.pipeline.start()
        self.supervisor.start()
        threading.Thread(target=self._stats_loop, name="stats", daemon=True).start()
        while not self.pipeline.done.is_set() and not self._stop.is_set():
            self.pipeline.done.wait(0.2)
            if self._reload_requested.is_set():
                self._reload_requested.clear()
                self.reload()
        return self._shutdown()

    def _shutdown(self) -> int:
        grace = self.config.runtime.shutdown_grace_s
        deadline = time.monotonic() + grace
        self.supervisor.stopping()
        self.pipeline.stop()
        drained = self.pipeline.join(max(0.0, deadline - time.monotonic()))
        if not drained and self.pipeline.abandon_inflight("shutdown: inference did not finish in time"):
            drained = self.pipeline.join(1.0)  # the ERROR results of a stuck engine still reach the outbox
        if self.images is not None and not self.images.close(max(0.5, deadline - time.monotonic())):
            log.warning("saved images left unwritten at shutdown", grace_s=grace)
        self.source.close()  # before the publisher closes, so the camera's last state is published
        acked = self.publisher.flush(max(0.0, deadline - time.monotonic()))
        lost = self.publisher.in_memory_only()  # neither acknowledged nor in the outbox
        snapshot = self.final_stats = self.stats.snapshot()
        self.publisher.publish_stats(snapshot, self._camera_state())
        self.publisher.close(timeout=max(0.5, deadline - time.monotonic()))
        self.pipeline.inspector.engine.close()  # the current engine: the watchdog may have replaced it
        counters = snapshot["counters"]
        log.info(
            "stopped",
            frames=counters.get("frames", 0),
            drained=drained,
            unacknowledged=self.publisher.pending(),
            fps=round(snapshot["fps"], 2),
        )
        if not drained or not acked:
            log.warning("shutdown grace ran out", drained=drained, all_acknowledged=acked, grace_s=grace)
        if self.metrics is not None:
            self.metrics.close()
        if self.supervisor.fatal_reason is not None:
            log.error("exiting for a fresh start", reason=self.supervisor.fatal_reason)
        if lost and self.supervisor.exit_code == 0:
            log.error(
                "results lost: neither acknowledged by the broker nor stored durably",
                count=lost,
                outbox=str(self.outbox.path) if self.outbox is not None else "off (outbox.enabled: false)",
            )
            return EXIT_RESULTS_LOST
        return self.supervisor.exit_code


def _reader(read: Callable[[], Mapping[str, float]], key: str) -> Callable[[], float]:
    """A gauge reading one value of a counters mapping."""
    return lambda: float(read()[key])
