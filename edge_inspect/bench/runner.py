"""One bench invocation: the modes in turn, on the same machine, model, engine settings and images.

Order: (a) engine alone [(a') wrapper], (c) naive loop, (b) daemon, repeated ``--repeat`` times and
interleaved, so that other work on the machine hits every mode alike; then (d) fixed rate (at a fraction
of (a)'s median fps, so after every round; also ``--repeat`` times, the round of median p99 shown), and
(e) the long run, once.
Every mode builds its own engine, so none inherits another's requests; the daemon sets OpenCV's thread
count from the config (process-wide), and the naive loop sets it back to OpenCV's default, as a
hand-written loop would leave it.
"""

from __future__ import annotations

import functools
import math
import tempfile
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edge_inspect.bench import report as rep
from edge_inspect.bench.broker import LocalMosquitto, check_reachable
from edge_inspect.bench.completions import Measured
from edge_inspect.bench.configs import (
    bench_config,
    naive_engine_config,
    passes_for,
    replay_source,
    samples_path,
)
from edge_inspect.bench.daemon import run_daemon
from edge_inspect.bench.engine_only import run_engine, run_openvino
from edge_inspect.bench.figures import summarize_latencies
from edge_inspect.bench.naive import run_naive
from edge_inspect.bench.resources import load1, machine, process_cpu_s
from edge_inspect.bench.tensors import frame_tensors
from edge_inspect.config import AppConfig
from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.engines import concrete_engine_config
from edge_inspect.engines.openvino.load import compiled_input
from edge_inspect.errors import ConfigError
from edge_inspect.model import ModelPackage, load_package
from edge_inspect.sources.replay import find_files

DEFAULT_MODES = (rep.ENGINE, rep.DAEMON, rep.NAIVE)
SELECTABLE = (rep.ENGINE, rep.WRAPPER, rep.DAEMON, rep.NAIVE)
Progress = Callable[[str], None]
_POLICY_WORDS = {"default": "as started", "batch": "SCHED_BATCH"}


@dataclass(frozen=True)
class BenchOptions:
    """What to run. ``load`` (a fraction of (a)'s fps) or ``rate`` (fps) adds the fixed-rate mode (d);
    ``duration_s`` adds the long run (e), at that fixed rate when one is given, else flat out."""

    frames: int = 200
    warmup: int = 20
    modes: tuple[str, ...] = DEFAULT_MODES
    load: float | None = None
    rate: float | None = None
    duration_s: float | None = None
    rss_every_s: float = 10.0
    broker: str = "config"
    samples: Path | None = None
    repeat: int = 1

    def problems(self) -> list[str]:
        out = []
        if self.frames <= self.warmup + 1:
            out.append(f"--frames {self.frames} must exceed --warmup {self.warmup} by at least 2")
        out += [f"--modes: unknown mode {m!r}; choose from {list(SELECTABLE)}" for m in self.modes
                if m not in SELECTABLE]  # fmt: skip
        if self.load is not None and self.rate is not None:
            out.append("--load and --rate are alternatives: give one")
        if self.load is not None and not 0 < self.load <= 1.5:
            out.append(f"--load {self.load}: a fraction of the engine's fps, within (0, 1.5]")
        if self.load is not None and rep.ENGINE not in self.modes:
            out.append("--load is a fraction of mode (a)'s fps: keep 'engine' in --modes, or use --rate")
        if self.rate is not None and self.rate <= 0:
            out.append(f"--rate {self.rate}: must be > 0 fps")
        if self.duration_s is not None and self.duration_s <= 0:
            out.append(f"--duration {self.duration_s}: must be > 0 seconds")
        if self.repeat < 1:
            out.append(f"--repeat {self.repeat}: must be >= 1")
        if self.broker not in ("config", "mosquitto"):
            out.append(f"--broker {self.broker!r}: 'config' or 'mosquitto'")
        return out


def _result(mode: str, m: Measured, **extra: Any) -> rep.ModeResult:
    return rep.ModeResult(
        mode=mode,
        frames=m.frames,
        measured=m.measured,
        fps=m.fps,
        latency=summarize_latencies(m.latency_ms),
        usage=m.usage,
        broker_cpu_pct=m.probe_pct,
        **extra,
    )


@dataclass
class _Context:
    """What every mode of one invocation shares."""

    config: AppConfig
    package: ModelPackage
    options: BenchOptions
    images: str
    scratch: Path
    broker_at: tuple[str, int] | None
    probe: Callable[[], float | None] | None
    frames: int
    passes: int
    tensors: list[Any] = field(default_factory=list)
    engine_settings: dict[str, Any] = field(default_factory=dict)

    def configured(self, name: str, *, passes: int, fps: float = 0.0) -> AppConfig:
        source = replay_source(self.config, self.images, passes=passes, fps=fps)
        return bench_config(self.config, source, self.scratch / name, self.broker_at)

    @property
    def engine(self) -> Any:
        return self.config.engine


def run_bench(
    config: AppConfig, options: BenchOptions, progress: Progress = lambda _m: None
) -> rep.BenchReport:
    """Run the chosen modes and return the report (:mod:`~edge_inspect.bench.render` prints it)."""
    problems = options.problems()
    if problems:
        raise ConfigError(problems)
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_at_start = load1()
    # the concrete engine (``auto`` probed once), so every mode runs the same backend
    config = config.model_copy(update={"engine": concrete_engine_config(config.engine)})
    package = load_package(config.model.path)
    images = samples_path(config, options.samples)
    files = len(find_files(images, replay_source(config, images, passes=1).extensions)[0])
    passes = passes_for(options.frames, files)
    with ExitStack() as stack:
        broker_at, probe, broker_text = None, None, f"{config.mqtt.host}:{config.mqtt.port} (from the config)"
        if options.broker == "mosquitto":
            local = stack.enter_context(LocalMosquitto())
            broker_at, pid = (local.host, local.port), local.pid
            probe = (lambda: process_cpu_s(pid)) if pid is not None else None
            broker_text = f"mosquitto {local.host}:{local.port} (started by the bench, {local.executable})"
        elif _publishes(options):
            check_reachable(config.mqtt.host, config.mqtt.port)
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-inspect-bench-")))
        ctx = _Context(config, package, options, images, scratch, broker_at, probe, passes * files, passes)
        ctx.engine_settings["type"] = config.engine.type
        rounds: dict[str, list[rep.ModeResult]] = {}
        for number in range(options.repeat):
            label = f"round {number + 1}/{options.repeat}: " if options.repeat > 1 else ""
            for result in _round(ctx, functools.partial(_labelled, progress, label)):
                rounds.setdefault(result.mode, []).append(result)
        results = [rep.pick_median(r) for r in rounds.values()]
        rate = _fixed_rate(options, results)
        if rate is not None:
            # repeated like the others: one slow spell of the machine must not be the p99 reported
            loaded = []
            for number in range(options.repeat):
                label = f"round {number + 1}/{options.repeat}: " if options.repeat > 1 else ""
                progress(f"{label}(d) daemon at {rate:.2f} fps")
                cfg = ctx.configured(f"load-{number}", passes=0, fps=rate)
                loaded.append(_daemon(rep.LOAD, cfg, options, frames=ctx.frames, probe=probe))
            results.append(rep.pick_median(loaded, by="p99"))
        if options.duration_s is not None:
            progress(f"(e) daemon for {options.duration_s:.0f} s")
            cfg = ctx.configured("soak", passes=0, fps=rate or 0.0)
            results.append(
                _daemon(rep.SOAK, cfg, options, frames=None, probe=probe, duration_s=options.duration_s)
            )
    header = _header(ctx, broker_text, load_at_start)
    return rep.build_report({"started_at": started_at, **header}, results)


def _round(ctx: _Context, progress: Progress) -> list[rep.ModeResult]:
    """(a), (a'), (c), (b) once each, in that order (see the module doc for why (c) precedes (b))."""
    options, results = ctx.options, []
    if (rep.ENGINE in options.modes or rep.WRAPPER in options.modes) and not ctx.tensors:
        progress("preparing input tensors")
        spec = ctx.package.manifest.input
        if isinstance(ctx.engine, OpenVINOEngineConfig):
            spec = compiled_input(ctx.engine, spec)
        ctx.tensors = frame_tensors(ctx.configured("tensors", passes=1), ctx.package, spec)
    if rep.ENGINE in options.modes:
        progress("(a) engine alone")
        if isinstance(ctx.engine, OpenVINOEngineConfig):
            measured, settings = run_openvino(
                ctx.engine, ctx.package, ctx.tensors, frames=ctx.frames, warmup=options.warmup,
                variant=ctx.config.model.variant, cache_dir=ctx.config.paths.cache_dir,
            )  # fmt: skip
            ctx.engine_settings.update(settings)
        else:
            measured = _through_wrapper(ctx)
        results.append(_result(rep.ENGINE, measured))
    if rep.WRAPPER in options.modes:
        progress("(a') engine wrapper")
        results.append(_result(rep.WRAPPER, _through_wrapper(ctx)))
    if rep.NAIVE in options.modes:
        progress("(c) naive loop")
        measured, errors = run_naive(
            ctx.configured("naive", passes=ctx.passes), ctx.package, naive_engine_config(ctx.engine),
            warmup=options.warmup, expected=ctx.frames, probe=ctx.probe,
        )  # fmt: skip
        results.append(_result(rep.NAIVE, measured, failed=errors))
    if rep.DAEMON in options.modes:
        progress("(b) daemon")
        cfg = ctx.configured("daemon", passes=0)  # replays until its window closes, then is stopped
        results.append(_daemon(rep.DAEMON, cfg, options, frames=ctx.frames, probe=ctx.probe))
    return results


def _publishes(options: BenchOptions) -> bool:
    """Whether any chosen mode publishes (all but the engine-only ones)."""
    modes = set(options.modes) - {rep.ENGINE, rep.WRAPPER}
    return (
        bool(modes) or options.load is not None or options.rate is not None or options.duration_s is not None
    )


def _labelled(progress: Progress, label: str, message: str) -> None:
    progress(label + message)


def _through_wrapper(ctx: _Context) -> Measured:
    return run_engine(
        ctx.engine, ctx.package, ctx.tensors, frames=ctx.frames, warmup=ctx.options.warmup,
        variant=ctx.config.model.variant, cache_dir=ctx.config.paths.cache_dir,
    )  # fmt: skip


def _daemon(
    mode: str,
    config: AppConfig,
    options: BenchOptions,
    *,
    frames: int | None,
    probe: Callable[[], float | None] | None,
    duration_s: float | None = None,
) -> rep.ModeResult:
    run = run_daemon(
        config,
        warmup=options.warmup,
        expected=frames,
        duration_s=duration_s,
        rss_every_s=options.rss_every_s if duration_s is not None else None,
        probe=probe,
    )
    offered = run.offered_fps if getattr(config.station_cameras[0].source, "fps", 0) > 0 else None
    failed = run.errors + run.unacknowledged
    return _result(mode, run.measured, failed=failed, offered_fps=offered, rss=run.rss, rss_anon=run.rss_anon)


def _fixed_rate(options: BenchOptions, results: Sequence[rep.ModeResult]) -> float | None:
    if options.rate is not None:
        return options.rate
    if options.load is None:
        return None
    engine = next((r for r in results if r.mode == rep.ENGINE), None)
    if engine is None or math.isnan(engine.fps):
        return None
    return options.load * engine.fps


def _header(ctx: _Context, broker: str, load_at_start: float) -> dict[str, Any]:
    host = machine()
    config, options, engine = ctx.config, ctx.options, ctx.engine_settings
    identity = ctx.package.identity(config.model.variant)
    settings = ", ".join(f"{k} {v}" for k, v in engine.items() if k not in ("type", "execution_devices"))
    threads = getattr(config.runtime, "opencv_threads", None)
    rounds = f"; {options.repeat} rounds of each, the median shown" if options.repeat > 1 else ""
    return {
        "machine": f"{host['cores']} cores ({host['cpu_model']}), load average {load_at_start:.2f} at start",
        "cores": host["cores"],
        "load_at_start": load_at_start,
        "model": f"{identity.name} {identity.version}, variant {identity.variant} ({ctx.package.root})",
        "engine": f"{engine['type']}: {settings}" if settings else engine["type"],
        "engine_settings": engine,
        "threads": f"OpenCV {threads if threads is not None else 'default'} (runtime.opencv_threads), "
        f"daemon threads {_POLICY_WORDS.get(config.runtime.scheduling, config.runtime.scheduling)} "
        "(runtime.scheduling)",
        "broker": f"{broker}, MQTT {config.mqtt.protocol}, QoS {config.mqtt.qos}",
        "frames": f"{ctx.frames} per mode, the first {options.warmup} left out (warm-up){rounds}"
        + (f"; long run {options.duration_s:.0f} s" if options.duration_s else ""),
        "options": {
            "frames": ctx.frames,
            "warmup": options.warmup,
            "repeat": options.repeat,
            "modes": list(options.modes),
            "load": options.load,
            "rate": options.rate,
            "duration_s": options.duration_s,
        },
    }
