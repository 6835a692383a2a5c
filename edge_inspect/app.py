"""The composition root: the one module that imports every stage and wires them from config.

Start order: model package -> engine (one, shared by every camera) -> outbox -> publisher (connects
in the background) -> sources (one per camera) -> part book -> PLC server -> pipeline -> watchdog ->
PLC READY. Stop order (SIGTERM, SIGINT, the replay's end, or a watchdog out of restarts): PLC READY
falls -> STOPPING=1 -> sources stop -> in-flight frames drain -> parts still open are decided (ERROR)
-> the PLC server stops -> PUBACKs are awaited (what is not
acknowledged stays in the outbox for the next start) -> ``offline`` is published -> engine and sources
close. All within ``runtime.shutdown_grace_s``. SIGHUP reloads the config file and applies
``decision.*`` (the station's and each camera's) live.

What is built lives where it is named: the inspection path in ``station/inspection.py``, the result
records in ``station/results.py``, parts in ``station/parts.py``, gauges in ``station/telemetry.py``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from types import FrameType
from typing import Any

import cv2
import structlog

from edge_inspect import __version__
from edge_inspect.config import AppConfig
from edge_inspect.decision import recipe_hash, rules_summary
from edge_inspect.decision.rules import Rules
from edge_inspect.engines import concrete_engine_config, open_engine
from edge_inspect.errors import EdgeInspectError
from edge_inspect.metrics import CameraStateTracker, MetricsExporter, identity_of
from edge_inspect.model import load_package
from edge_inspect.publish.mqtt import MqttPublisher
from edge_inspect.publish.outbox import open_outbox
from edge_inspect.publish.session import next_session
from edge_inspect.publish.tls import FAILURE_COUNTER as TLS_FAILURES
from edge_inspect.publish.tls import connection_security
from edge_inspect.publish.topics import Topics
from edge_inspect.runtime.pipeline import Pipeline, ResultFactory
from edge_inspect.runtime.reload import config_change
from edge_inspect.runtime.sched import thread_init
from edge_inspect.runtime.stats import Stats
from edge_inspect.runtime.supervisor import Supervisor
from edge_inspect.sinks.setup import image_saving
from edge_inspect.sources import open_source
from edge_inspect.station.inspection import build_station_inspection, finishes, station_recipe, station_rules
from edge_inspect.station.parts import build_parts
from edge_inspect.station.results import ResultBuilder, by_camera
from edge_inspect.station.telemetry import OUTBOX_COUNTERS, delivery_gauges, source_gauges
from edge_inspect.types import Engine, FrameSource, ModelIdentity, ResultSink

log = structlog.get_logger(__name__)

EXIT_RESULTS_LOST = 3
"""Exit status when results were neither acknowledged nor stored durably at exit."""


class App:
    """One inspection station: build from config, :meth:`run` until the sources end or a stop signal."""

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
        cameras = config.station_cameras
        first = cameras[0].id
        # secrets and certificates first: a bad one stops the start before the model is compiled
        mqtt_config, tls = connection_security(config.mqtt, count=self.stats.count)
        if tls is not None:
            self.stats.declare(TLS_FAILURES)
        self.stats.declare("mqtt.connect_failures", "engine.opened")
        if config.outbox.enabled is not False:
            self.stats.declare(*OUTBOX_COUNTERS)
        self.package = load_package(config.model.path)
        self._engine_config = concrete_engine_config(config.engine)
        """``engine.type: auto`` probed once: a watchdog restart opens the same engine again."""
        self.model: ModelIdentity = self.package.identity(config.model.variant)
        inspection = build_station_inspection(
            self.package,
            self._open_engine(),
            cameras,
            preprocess=config.preprocess,
            decision=config.decision,
            variant=config.model.variant,
        )
        self.inspector = inspection.inspector
        self.rules: dict[str, Rules] = dict(inspection.rules)
        """Each camera's decision rules."""
        self.topics = Topics(config.mqtt.topic_prefix, config.station, first)
        # one camera keeps the id it always had (its broker session); a station of several has its own
        default_id = f"edge-inspect-{config.station}" + (f"-{first}" if len(cameras) == 1 else "")
        client_id = config.mqtt.client_id or default_id
        self.outbox = open_outbox(config.outbox, config.paths.state_dir)
        self.publisher = MqttPublisher(
            mqtt_config,
            self.topics,
            station=config.station,
            client_id=client_id,
            version=__version__,
            tls=tls,
            outbox=self.outbox,
            delivery=config.outbox,
            count=self.stats.count,
            thread_init=worker_init,
            session=next_session(config.paths.state_dir),
        )
        self.cameras = CameraStateTracker(self.publisher)  # remembers camera states for metrics
        self.sources: dict[str, FrameSource] = {
            c.id: open_source(c.source, c.id, self.cameras) for c in cameras
        }
        self.source = self.sources[first]
        """The first (or only) camera's source."""
        # saved images: the path goes into the result before any sink sees it; writing is off-thread
        self.images = image_saving(
            config,
            classes=next(iter(self.rules.values())).classes,
            stats=self.stats,
            mqtt=mqtt_config,
            tls=tls,
            topics=self.topics,
            client_id=client_id,
            thread_init=worker_init,
        )
        self._builders = {
            camera: ResultBuilder(config.station, camera, self.model, rules_summary(r), recipe_hash(r))
            for camera, r in self.rules.items()
        }
        # the PLC handshake (part.trigger: plc) is served from the start, READY once inspecting
        self.parts, self.plc = build_parts(
            config,
            self.publisher,
            self.sources,
            self.stats,
            identity=lambda: (self.model, station_recipe(self.rules)),
            cameras=self.cameras,
        )
        self.metrics = (
            MetricsExporter(
                config.metrics,
                self.stats,
                identity_of(config, self.model, station_recipe(self.rules), __version__),
                broker_connected=lambda: self.publisher.connected,
                cameras=self.cameras,
                stopping=self._stop.is_set,
            )
            if config.metrics.enabled
            else None
        )
        # the part book reads each frame result after the publisher has taken it; with a PLC, before:
        # the reject gate's answer must not wait on the frame result's outbox write
        sinks: list[ResultSink] = [self.publisher]
        if self.parts is not None:
            sinks.insert(0 if self.plc is not None else 1, self.parts)
        if self.metrics is not None:
            sinks.append(self.metrics.sink)
        self.pipeline = Pipeline(
            self.sources,
            self.inspector,
            self._result_factory(),
            [*sinks, *extra_sinks],
            self.stats,
            queue_size=config.runtime.queue_size,
            drop_policy={c.id: c.source.drop_policy for c in cameras},
            parts=self.parts,
            max_errors_logged=config.runtime.max_frame_errors_logged,
            tick_s=config.watchdog.tick_s,
            thread_init=worker_init,
        )
        self.supervisor = Supervisor(
            config.watchdog,
            self.pipeline,
            open_engine=self._open_engine,
            on_fatal=self.request_stop,
            count=self.stats.count,
        )
        source_gauges(self.stats, self.sources)
        delivery_gauges(self.stats, self.publisher, self.outbox)

    def _open_engine(self) -> Engine:
        """The station's one engine (at start, and at a watchdog restart): counted in ``engine.opened``."""
        engine = open_engine(
            self._engine_config, self.package, self.config.model.variant, self.config.paths.cache_dir
        )
        self.stats.count("engine.opened")
        return engine

    def _result_factory(self) -> ResultFactory:
        """Each camera's result builder; saved images wrap them (the path goes into the result)."""
        make_result = by_camera(self._builders)
        return self.images.wrap(make_result) if self.images is not None else make_result

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
        try:
            # a camera's decision applies only when nothing else of the cameras changed
            cameras = reloaded.station_cameras if "cameras" in change.live else self.config.station_cameras
            rules = station_rules(
                self.package, cameras, reloaded.decision, self.config.model.variant
            )  # the variant needs a restart
        except EdgeInspectError as exc:
            log.error("new decision rules refused; the running rules stay", error=str(exc))
            return False
        old_recipe = station_recipe(self.rules)
        self._builders = {
            camera: replace(self._builders[camera], thresholds=rules_summary(r), recipe=recipe_hash(r))
            for camera, r in rules.items()
        }
        self.rules = rules
        self.pipeline.swap_decision(finishes(self.package, rules), self._result_factory())
        log.warning("decision rules reloaded", old_recipe=old_recipe, new_recipe=station_recipe(rules))
        applied: dict[str, Any] = {"decision": reloaded.decision}
        if "cameras" in change.live:
            applied["cameras"] = reloaded.cameras
        self.config = self.config.model_copy(update=applied)
        return True

    def _camera_state(self) -> str | None:
        state = self.cameras.states().get(self.topics.camera)
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
            cameras={c.id: c.source.type for c in self.config.station_cameras},
            part_trigger=self.config.part.trigger,
            model=self.package.manifest.name,
            variant=self.model.variant,
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
        if self.parts is not None:
            self.parts.start()
        if self.plc is not None:
            self.plc.start()  # before anything else runs: an address in use stops the start here
        self.publisher.start()
        for source in self.sources.values():
            source.open()
        self.pipeline.start()
        self.supervisor.start()
        if self.plc is not None:
            self.plc.ready(True)
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
        if self.plc is not None:
            self.plc.ready(False)  # READY falls first: a trigger from now on is refused, not lost
        self.supervisor.stopping()
        self.pipeline.stop()
        drained = self.pipeline.join(max(0.0, deadline - time.monotonic()))
        if not drained and self.pipeline.abandon_inflight("shutdown: inference did not finish in time"):
            drained = self.pipeline.join(1.0)  # the ERROR results of a stuck engine still reach the outbox
        if self.images is not None and not self.images.close(max(0.5, deadline - time.monotonic())):
            log.warning("saved images left unwritten at shutdown", grace_s=grace)
        if self.parts is not None:
            self.parts.close()  # every frame is in: what is still open is decided (ERROR) and published
        if self.plc is not None:
            self.plc.close()  # after the last part: the PLC was answered for every trigger it saw taken
        for source in self.sources.values():
            source.close()  # before the publisher closes, so each camera's last state is published
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
