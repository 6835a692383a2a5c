"""The composition root: the one module that imports every stage and wires them from config.

Start order: model package -> engine -> publisher (connects in the background) -> source -> pipeline.
Stop order (SIGTERM, SIGINT, or the replay's end): source stops -> in-flight frames drain -> PUBACKs are
awaited -> ``offline`` is published -> engine and source close. All within ``runtime.shutdown_grace_s``.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import numpy as np
import structlog

from edge_inspect import __version__
from edge_inspect.config import AppConfig
from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.engines import EngineConfig
from edge_inspect.config.preprocess import Roi
from edge_inspect.decision import decide, recipe_hash, resolve_rules, rules_summary, to_probabilities
from edge_inspect.decision.rules import Rules
from edge_inspect.engines import open_engine
from edge_inspect.metrics import CameraStateTracker, MetricsExporter, identity_of
from edge_inspect.model import ModelPackage, load_package
from edge_inspect.preprocess import Preprocessor, stitch
from edge_inspect.publish.mqtt import MqttPublisher
from edge_inspect.publish.tls import connection_security
from edge_inspect.publish.topics import Topics
from edge_inspect.runtime.inspector import FrameInspector
from edge_inspect.runtime.pipeline import Pipeline, ResultFactory
from edge_inspect.runtime.stats import Stats
from edge_inspect.sinks.setup import image_saving
from edge_inspect.sources import open_source
from edge_inspect.types import (
    Decision,
    FloatArray,
    Frame,
    InspectionResult,
    ModelIdentity,
    Prepared,
    ResultSink,
    Verdict,
)

log = structlog.get_logger(__name__)


def make_finish(package: ModelPackage, rules: Rules) -> Callable[[Prepared, FloatArray], Decision]:
    """Raw tile outputs -> probabilities -> stitched back into frame pixels -> decision."""
    output = package.manifest.output

    def finish(prepared: Prepared, outputs: FloatArray) -> Decision:
        probs = to_probabilities(outputs, output)
        if output.kind == "classification":
            # a tiled frame is as defective as its worst tile
            return decide(probs.max(axis=0), rules)
        return decide(stitch(probs, prepared.geometry), rules)

    return finish


def build_inspector(
    package: ModelPackage,
    engine_config: EngineConfig,
    decision: DecisionConfig,
    *,
    variant: str | None = None,
    cache_dir: Path | None = None,
    roi: Roi | None = None,
) -> tuple[FrameInspector, Rules]:
    """Preprocessor + engine + decision rules for ``package``: the daemon's inspection path, for reuse."""
    manifest = package.manifest
    rules = resolve_rules(manifest.decision, manifest.output, decision)
    engine = open_engine(engine_config, package, variant, cache_dir)
    preprocessor = Preprocessor(manifest.input, roi=roi)
    return FrameInspector(prepare=preprocessor, engine=engine, finish=make_finish(package, rules)), rules


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
        )


def _expected_verdict(frame: Frame) -> Verdict | None:
    if frame.ground_truth is None:
        return None
    return Verdict.NG if bool(np.any(frame.ground_truth)) else Verdict.PASS


class App:
    """One inspection station: build from config, :meth:`run` until the source ends or a stop signal."""

    def __init__(self, config: AppConfig, *, extra_sinks: Sequence[ResultSink] = ()) -> None:
        self.config = config
        self.stats = Stats()
        self._stop = threading.Event()
        cache_dir = config.paths.cache_dir
        self.package = load_package(config.model.path)
        self.inspector, self.rules = build_inspector(
            self.package,
            config.engine,
            config.decision,
            variant=config.model.variant,
            cache_dir=cache_dir,
            roi=config.preprocess.roi,
        )
        self.topics = Topics(config.mqtt.topic_prefix, config.station, config.camera)
        client_id = config.mqtt.client_id or f"edge-inspect-{config.station}-{config.camera}"
        mqtt_config, tls = connection_security(config.mqtt, count=self.stats.count)  # secrets read here
        self.publisher = MqttPublisher(
            mqtt_config,
            self.topics,
            station=config.station,
            client_id=client_id,
            version=__version__,
            tls=tls,
        )
        self.cameras = CameraStateTracker(self.publisher)  # remembers camera states for metrics
        self.source = open_source(config.source, config.camera, self.cameras)
        make_result: ResultFactory = ResultBuilder(
            station=config.station,
            camera=config.camera,
            model=self.package.identity(config.model.variant),
            thresholds=rules_summary(self.rules),
            recipe=recipe_hash(self.rules),
        )
        # saved images: the path goes into the result before any sink sees it; writing is off-thread
        self.images = image_saving(
            config,
            classes=self.rules.classes,
            stats=self.stats,
            mqtt=mqtt_config,
            tls=tls,
            topics=self.topics,
            client_id=client_id,
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
        )
        self.stats.gauges["mqtt.pending"] = self.publisher.pending
        self.stats.gauges["mqtt.connected"] = lambda: float(self.publisher.connected)

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

    def _stats_loop(self) -> None:
        interval = self.config.mqtt.stats_interval_s
        while not self._stop.wait(interval) and not self.pipeline.done.is_set():
            self.publisher.publish_stats(self.stats.snapshot())

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
        )
        if self.metrics is not None:
            self.metrics.start()
        if self.images is not None:
            self.images.start()
        self.publisher.start()
        self.source.open()
        self.pipeline.start()
        threading.Thread(target=self._stats_loop, name="stats", daemon=True).start()
        while not self.pipeline.done.is_set() and not self._stop.is_set():
            self.pipeline.done.wait(0.2)
        return self._shutdown()

    def _shutdown(self) -> int:
        grace = self.config.runtime.shutdown_grace_s
        deadline = time.monotonic() + grace
        self.pipeline.stop()
        drained = self.pipeline.join(max(0.0, deadline - time.monotonic()))
        if self.images is not None and not self.images.close(max(0.5, deadline - time.monotonic())):
            log.warning("saved images left unwritten at shutdown", grace_s=grace)
        acked = self.publisher.flush(max(0.0, deadline - time.monotonic()))
        snapshot = self.stats.snapshot()
        self.publisher.publish_stats(snapshot)
        self.publisher.close(timeout=max(0.5, deadline - time.monotonic()))
        self.inspector.engine.close()
        self.source.close()
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
        return 0
