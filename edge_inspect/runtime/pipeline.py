"""The stage threads: source -> preprocess -> engine -> decision and sinks, joined by bounded queues.

Grabbing, preprocessing, inference and deciding + publishing each run on their own thread, so they
overlap. Deciding and publishing share one: both take well under a millisecond, and on a 2-core machine
where the engine keeps every core busy, each hand-off between threads wakes one, which preempts an
engine thread. For the same reason inference takes the engine's pull path (``Engine.start``): the infer
thread starts a frame and queues its Pending, and the deciding thread waits on it and decides on the
outputs where the engine wrote them, so no Python runs on the engine's threads. A frame of several
segmentation tiles is streamed (runtime/streamed.py): the infer thread starts its requests one by one, the
deciding thread folds each one's rows into the frame's map as it finishes and releases it.

A frame that fails anywhere becomes one ERROR result and the loop goes on; a failing sink is logged and
counted and never stops the others. The pipeline knows the stages only by their Protocols and callables.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import structlog

from edge_inspect.errors import EngineError
from edge_inspect.runtime.inflight import Inflight
from edge_inspect.runtime.inspector import Finish, FrameInspector
from edge_inspect.runtime.lanes import FairQueue
from edge_inspect.runtime.queues import Closed, DropPolicy, StageQueue
from edge_inspect.runtime.stats import Stats
from edge_inspect.runtime.streamed import StreamedFrame
from edge_inspect.types import (
    Decision,
    Engine,
    FloatArray,
    Frame,
    FrameSource,
    InspectionResult,
    PartTagger,
    Pending,
    Prepared,
    ResultSink,
    TileFold,
    Verdict,
)

log = structlog.get_logger(__name__)

_ENGINE_HEADROOM = 16
"""Frames the engine may hold beyond ``queue_size`` (its requests) before the infer thread waits."""

_ABANDON_POLL_S = 0.1
"""How often the deciding thread, waiting on a frame's inference, checks that it was not abandoned."""

ResultFactory = Callable[[Frame, Decision | None, str | None, dict[str, float]], InspectionResult]
"""(frame, decision or None, error or None, timings_ms) -> the result to publish."""


@dataclass(frozen=True, slots=True)
class _Failed:
    """A frame that failed before the decision: it still becomes exactly one (ERROR) result."""

    frame: Frame
    error: str
    timings: dict[str, float] = field(default_factory=dict)


class _Flight:
    """A frame registered in flight (see Inflight); ``pending`` once the engine has started it."""

    __slots__ = ("pending", "prepared")

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        self.pending: Pending | StreamedFrame | None = None

    def finished(self) -> bool:
        """The engine is done with it: only the deciding thread has yet to take its outputs."""
        return self.pending is not None and self.pending.done()


@dataclass(frozen=True, slots=True)
class _Started:
    """A frame on the engine: the deciding thread waits on ``pending`` (``token``: see Inflight)."""

    prepared: Prepared
    pending: Pending | StreamedFrame
    token: int
    started: float


@dataclass(frozen=True, slots=True)
class _Done:
    prepared: Prepared
    outputs: FloatArray | None
    error: BaseException | None
    infer_ms: float
    pending: Pending | None = None
    """Released once the frame is decided: ``outputs`` may live in the engine's memory until then."""
    fold: TileFold | None = None
    """A streamed frame's outputs, folded: decided with ``fold.decide()`` instead of ``outputs``."""


_Work = Prepared | _Failed
_Finished = _Done | _Failed | _Started


def _ms_since(start: float) -> float:
    return (time.monotonic() - start) * 1000.0


class Pipeline:
    """Wire the threads; :meth:`run` returns when the sources have ended and every frame is published.

    ``source`` is one source, or camera id -> source for a station of several cameras: each gets its own
    grabbing thread and its own lane of the frame queue (runtime/lanes.py), and every later stage, the
    engine included, is shared by them. ``parts`` ties each frame to the part it was taken for.
    """

    def __init__(
        self,
        source: FrameSource | Mapping[str, FrameSource],
        inspector: FrameInspector,
        make_result: ResultFactory,
        sinks: Sequence[ResultSink],
        stats: Stats,
        *,
        queue_size: int = 4,
        drop_policy: DropPolicy | Mapping[str, DropPolicy] = "block",
        parts: PartTagger | None = None,
        on_frame_done: Callable[[InspectionResult], None] | None = None,
        max_errors_logged: int = 100,
        on_tick: Callable[[], None] | None = None,
        tick_s: float = 1.0,
        thread_init: Callable[[], object] = lambda: None,
    ) -> None:
        self.sources: dict[str, FrameSource] = dict(source) if isinstance(source, Mapping) else {"": source}
        self.parts = parts
        self.inspector = inspector
        self.make_result = make_result
        self.sinks = list(sinks)
        self.stats = stats
        stats.declare("dropped.frames", *(f"sink_errors.{sink.name}" for sink in self.sinks))
        self.on_frame_done = on_frame_done
        self._max_errors_logged = max_errors_logged
        policies = (
            drop_policy if isinstance(drop_policy, Mapping) else dict.fromkeys(self.sources, drop_policy)
        )
        self.q_frames: FairQueue[Frame] = FairQueue(
            "frames", [(camera, queue_size, policies[camera]) for camera in self.sources]
        )
        self.q_prepared: StageQueue[_Work] = StageQueue("prepared", queue_size, "block")
        # frames on the engine, in order; room for every request an engine keeps in flight (an item may
        # hold an engine request, or a copy of its outputs)
        capacity = queue_size + _ENGINE_HEADROOM
        self.q_inferred: StageQueue[_Finished] = StageQueue("inferred", capacity, "block")
        self.heartbeat: dict[str, float] = {}
        """Last time each stage made progress (monotonic), for watchdogs."""
        self.inflight: Inflight[_Flight] = Inflight()
        """Inferences started and not yet taken by the deciding thread: the inference watchdog reads their
        start times."""
        self.on_tick = on_tick
        """Called by the deciding loop after every result, and every ``tick_s`` when idle (WATCHDOG=1)."""
        self._tick_s = tick_s
        self._thread_init = thread_init
        """Called first on each stage thread (runtime.scheduling, runtime/sched.py)."""
        self._swap_lock = threading.Lock()
        """Held while one frame is decided: rules and engine are swapped between frames, never during one."""
        self._infer_generation = 0
        self._restart_source: dict[str, threading.Event] = {
            camera: threading.Event() for camera in self.sources
        }
        self._threads: list[threading.Thread] = []
        self._last_grab: dict[str, float] = {}
        """Per camera, when it last gave a frame (or was started, or reopened): the no-frame probe."""
        self._stopping = threading.Event()
        self.done = threading.Event()
        for q in (self.q_frames, self.q_prepared, self.q_inferred):
            stats.gauges[f"queue.{q.name}"] = q.__len__

    @property
    def source(self) -> FrameSource:
        """The first camera's source (the only one of a one-camera station)."""
        return next(iter(self.sources.values()))

    # ------------------------------------------------------------------------------------------ control

    def start(self) -> None:
        self._last_grab = dict.fromkeys(self.sources, time.monotonic())
        grabbing = [
            (f"source-{camera}" if len(self.sources) > 1 else "source", self._grab_loop(camera))
            for camera in self.sources
        ]
        stages = (
            *grabbing,
            ("preprocess", self._preprocess_loop),
            ("infer", lambda: self._infer_loop(0)),
            ("decide", self._decide_loop),
        )
        for name, target in stages:
            thread = threading.Thread(target=self._guard(name, target), name=f"stage-{name}", daemon=True)
            self._threads.append(thread)
            self.heartbeat[name] = time.monotonic()
            thread.start()

    def stop(self) -> None:
        """Stop taking new frames; frames already taken are still processed and published."""
        self._stopping.set()
        for source in self.sources.values():
            source.stop()

    def join(self, timeout: float | None = None) -> bool:
        """Wait until every frame is published; False if ``timeout`` ran out first."""
        return self.done.wait(timeout)

    def run(self) -> None:
        self.start()
        self.join()

    def _guard(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                self._thread_init()
                target()
            except Exception:
                # a bug in a stage loop: say so loudly, and let the daemon's supervisor see the pipeline end
                log.exception("stage crashed", stage=name)
                self.stats.count(f"stage_crash.{name}")
                self._stopping.set()
                for q in (self.q_frames, self.q_prepared, self.q_inferred):
                    q.close()
                self.done.set()

        return run

    # ------------------------------------------------------------------------------------------- stages

    def _grab_loop(self, camera: str) -> Callable[[], None]:
        source = self.sources[camera]
        return lambda: self._source_loop(camera, source)

    def _source_loop(self, camera: str, source: FrameSource) -> None:
        restart = self._restart_source[camera]
        try:
            opened = True
            while True:
                if opened:
                    for frame in source.frames():
                        self._take(camera, frame)
                        if self._stopping.is_set():
                            break
                elif not self._stopping.is_set():
                    restart.wait(0.5)
                if self._stopping.is_set() or not restart.is_set():
                    return  # the source has ended (a replay's last pass), or the daemon stops
                restart.clear()
                opened = self._reopen_source(camera, source)
        finally:
            self.q_frames.close_lane(camera)

    def _take(self, camera: str, frame: Frame) -> None:
        """One grabbed frame into its camera's lane, tied to its part first."""
        self.heartbeat["source"] = self._last_grab[camera] = time.monotonic()
        self.stats.count("grabbed")
        if self.parts is not None:
            frame = self.parts.tag(frame)
        dropped = self.q_frames.put(camera, frame)
        if dropped is not None:
            self.stats.count("dropped.frames")
            if self.parts is not None and dropped.part is not None:
                self.parts.dropped(dropped)

    def _reopen_source(self, camera: str, source: FrameSource) -> bool:
        """Close and open the source again (the no-frame watchdog's remedy); False if it did not open."""
        self.stats.count("restarts.source")
        try:
            source.close()
            source.open()
        except Exception as exc:
            log.error("source restart failed; waiting for the next attempt", camera=camera, error=str(exc))
            self.stats.count("restart_failed.source")
            return False
        finally:
            # the reopened camera's silence counts anew
            self.heartbeat["source"] = self._last_grab[camera] = time.monotonic()
        log.warning("source restarted", camera=camera)
        return True

    def _preprocess_loop(self) -> None:
        try:
            while True:
                try:
                    frame = self.q_frames.get()
                except Closed:
                    return
                self.heartbeat["preprocess"] = time.monotonic()
                if frame.image is None or frame.error is not None:
                    self.q_prepared.put(_Failed(frame, frame.error or "source gave no image"))
                    continue
                start = time.monotonic()
                try:
                    prepared = self.inspector.prepare(frame)
                except Exception as exc:  # one bad frame is one ERROR result, never a dead loop
                    self.q_prepared.put(
                        _Failed(frame, f"preprocess: {exc}", {"preprocess": _ms_since(start)})
                    )
                    continue
                self.stats.latency("preprocess", prepared.preprocess_ms)
                self.q_prepared.put(prepared)
        finally:
            self.q_prepared.close()

    def _infer_loop(self, generation: int) -> None:
        """Submit frames to the engine. An engine restart starts a new loop (``generation``); the old one,
        possibly stuck inside the old engine, leaves as soon as it gets control back."""
        try:
            while generation == self._infer_generation:
                try:
                    work = self.q_prepared.get()
                except Closed:
                    break
                self.heartbeat["infer"] = time.monotonic()
                if isinstance(work, _Failed):
                    self.q_inferred.put(work)
                    continue
                self._submit(work)
            if generation == self._infer_generation:
                self.inflight.wait_idle()
        finally:
            if generation == self._infer_generation:
                self.q_inferred.close()

    def _submit(self, prepared: Prepared) -> None:
        start = time.monotonic()
        flight = _Flight(prepared)
        token = self.inflight.begin(flight)
        inspector = self.inspector
        try:
            fold = inspector.finish.fold(prepared)
            if fold is not None:
                self._stream(prepared, fold, flight, token, start)
                return
            pending = flight.pending = inspector.engine.start(prepared.rows())
        except Exception as exc:  # the frame could not start: one ERROR result
            if self.inflight.claim(token):  # else a restart has answered it
                try:
                    self.q_inferred.put(_Done(prepared, None, exc, _ms_since(start)))
                finally:
                    self.inflight.released()
            return
        self.q_inferred.put(_Started(prepared, pending, token, start))

    def _stream(self, prepared: Prepared, fold: TileFold, flight: _Flight, token: int, start: float) -> None:
        """Start a streamed frame's requests one by one; the deciding thread folds them as they finish."""
        engine = self.inspector.engine
        step = engine.input_spec.shape[0]
        stream = flight.pending = StreamedFrame(fold, -(-prepared.tiles // step))
        self.q_inferred.put(_Started(prepared, stream, token, start))
        for first in range(0, prepared.tiles, step):
            if stream.ended or not self.inflight.holds(token):
                return  # failed or abandoned: the deciding thread answers it
            try:
                # cut on demand for a frame of many tiles: only the requests in flight hold its input
                pending = engine.start(prepared.rows(first, step))
            except Exception as exc:
                stream.fail(exc)
                return
            if not stream.add(pending):
                return

    # ------------------------------------------------------------------------------ restarts and swaps

    def last_frame(self) -> float:
        """When the most silent camera last gave a frame (any camera's, for a station of one): what the
        no-frame watchdog reads, so one silent camera is seen while the others still deliver."""
        return min(self._last_grab.values(), default=time.monotonic())

    def silent_cameras(self, since: float) -> list[str]:
        """Cameras whose last frame is older than ``since`` (monotonic)."""
        return [camera for camera, last in self._last_grab.items() if last < since]

    def request_source_restart(self, cameras: Sequence[str] | None = None) -> None:
        """Ask the source loops of ``cameras`` (None: every camera) to close and re-open their sources
        (the current ``frames()`` are stopped); the other cameras keep grabbing."""
        for camera in self.sources if cameras is None else cameras:
            self._restart_source[camera].set()
            self.sources[camera].stop()

    def restart_engine(self, new_engine: Engine, reason: str) -> Engine:
        """Swap in ``new_engine`` between frames; every frame in flight on the old one gets an ERROR
        result now (none vanishes). Returns the old engine, for the caller to close."""
        with self._swap_lock:
            old = self.inspector.engine
            self.inspector = replace(self.inspector, engine=new_engine)
            self._infer_generation += 1
            generation = self._infer_generation
        self.abandon_inflight(f"{reason}; the engine was restarted")
        self.stats.count("restarts.engine")
        thread = threading.Thread(
            target=self._guard("infer", lambda: self._infer_loop(generation)), name="stage-infer", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return old

    def oldest_inference(self) -> float | None:
        """When the oldest inference still running started (monotonic), for the inference watchdog; a
        frame the engine has finished, waiting for the deciding thread, is not counted."""
        return self.inflight.oldest_start(unless=_Flight.finished)

    def abandon_inflight(self, reason: str) -> int:
        """Answer every inference still running with an ERROR result saying ``reason`` (a stuck engine at
        a restart or at shutdown); a late answer from the engine is then ignored. Frames the engine has
        finished are decided as usual. Returns how many were abandoned."""
        abandoned = self.inflight.abandon(keep=_Flight.finished)
        try:
            for flight, started in abandoned:
                elapsed_ms = (time.monotonic() - started) * 1000.0
                self.q_inferred.put(_Done(flight.prepared, None, EngineError(reason), elapsed_ms))
        except Closed:
            log.error("frames in flight could not be answered: the pipeline has ended", frames=len(abandoned))
        finally:
            self.inflight.released(len(abandoned))
        return len(abandoned)

    def swap_decision(self, finish: Finish, make_result: ResultFactory) -> None:
        """New decision rules (and the result factory that records them), applied between two frames."""
        with self._swap_lock:
            self.inspector = replace(self.inspector, finish=finish)
            self.make_result = make_result

    def _decide_loop(self) -> None:
        """Decide each frame and hand its result to the sinks; ticks while idle (no part, no trigger)."""
        try:
            while True:
                try:
                    item = self.q_inferred.get(timeout=self._tick_s)
                except Closed:
                    return
                except TimeoutError:
                    self._tick()  # the loop still proves it is alive
                    continue
                if isinstance(item, _Started):
                    finished = (
                        self._await_streamed(item, item.pending)
                        if isinstance(item.pending, StreamedFrame)
                        else self._await(item, item.pending)
                    )
                    if finished is None:
                        continue  # abandoned by an engine restart: its ERROR result is queued behind
                    item = finished
                self.heartbeat["decide"] = time.monotonic()
                try:
                    with self._swap_lock:
                        result = self._to_result(item)
                finally:
                    if isinstance(item, _Done) and item.pending is not None:
                        item.pending.release()
                self.heartbeat["publish"] = time.monotonic()
                self._deliver(result)
                self._tick()
        finally:
            self.done.set()

    def _await(self, item: _Started, pending: Pending) -> _Done | None:
        """Wait for a started frame's outputs, ticking meanwhile; None if a restart abandoned it."""
        poll_s = min(self._tick_s, _ABANDON_POLL_S)
        while True:
            try:
                outputs = pending.wait(poll_s)
            except Exception as exc:  # the frame's inference failed: one ERROR result
                return self._claim(item, pending, None, exc)
            if outputs is not None:
                return self._claim(item, pending, outputs, None)
            if not self.inflight.holds(item.token):
                pending.release()  # given up: the engine may reuse the request once it finishes
                return None
            self._tick()

    def _await_streamed(self, item: _Started, stream: StreamedFrame) -> _Done | None:
        """Fold a streamed frame's requests as they finish, ticking meanwhile; None if abandoned."""
        poll_s = min(self._tick_s, _ABANDON_POLL_S)
        while True:
            try:
                if stream.fold_ready(poll_s):
                    return self._claim(item, None, None, None, stream.fold)
            except Exception as exc:  # a request failed, or its rows did not fit: one ERROR result
                return self._claim(item, None, None, exc)
            if not self.inflight.holds(item.token):
                stream.close()  # given up: every request it holds goes back to the engine
                return None
            self._tick()

    def _claim(
        self,
        item: _Started,
        pending: Pending | None,
        outputs: FloatArray | None,
        error: BaseException | None,
        fold: TileFold | None = None,
    ) -> _Done | None:
        infer_ms = _ms_since(item.started)
        if not self.inflight.take(item.token):
            if pending is not None:
                pending.release()  # a restart answered it meanwhile
            return None
        return _Done(item.prepared, outputs, error, infer_ms, pending, fold)

    def _to_result(self, item: _Done | _Failed) -> InspectionResult:
        if isinstance(item, _Failed):
            return self.make_result(item.frame, None, item.error, dict(item.timings))
        frame = item.prepared.frame
        timings = {"preprocess": item.prepared.preprocess_ms, "infer": item.infer_ms}
        self.stats.latency("infer", item.infer_ms)
        outputs, fold = item.outputs, item.fold
        if item.error is not None or (outputs is None and fold is None):
            return self.make_result(frame, None, f"inference: {item.error}", timings)
        start = time.monotonic()
        try:
            if fold is not None:
                decision = fold.decide()
            elif outputs is not None:
                decision = self.inspector.finish(item.prepared, outputs)
        except Exception as exc:
            timings["decide"] = _ms_since(start)
            return self.make_result(frame, None, f"decision: {exc}", timings)
        timings["decide"] = _ms_since(start)
        self.stats.latency("decide", timings["decide"])
        return self.make_result(frame, decision, None, timings)

    def _tick(self) -> None:
        if self.on_tick is not None:
            try:
                self.on_tick()
            except Exception as exc:
                log.error("tick hook failed", error=str(exc))

    def _deliver(self, result: InspectionResult) -> None:
        if result.verdict is Verdict.ERROR:
            self.stats.count("errors")
            if self.stats.counter("errors") <= self._max_errors_logged:
                log.warning("frame failed", seq=result.seq, source=result.source.path, error=result.error)
        for sink in self.sinks:
            try:
                sink.handle(result)
            except Exception as exc:
                self.stats.count(f"sink_errors.{sink.name}")
                log.error("sink failed", sink=sink.name, seq=result.seq, error=str(exc))
        self.stats.verdict(result.verdict)
        if "total" in result.timings_ms:
            self.stats.latency("total", result.timings_ms["total"])
        if self.on_frame_done is not None:
            self.on_frame_done(result)
