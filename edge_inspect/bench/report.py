"""The bench's results as data, the targets they are judged on, and their text and JSON forms.

Pure: the runners hand in :class:`ModeResult` records, this module computes ratios and target checks and
renders them; the text and the JSON carry the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from edge_inspect.bench.figures import LatencySummary, RssTrend, ratio
from edge_inspect.bench.resources import Usage

ENGINE, WRAPPER, DAEMON, NAIVE, LOAD, SOAK = "engine", "wrapper", "daemon", "naive", "load", "soak"

TITLES = {
    ENGINE: "(a) engine alone",
    WRAPPER: "(a') engine wrapper",
    DAEMON: "(b) daemon",
    NAIVE: "(c) naive loop",
    LOAD: "(d) daemon, fixed rate",
    SOAK: "(e) daemon, long run",
}
"""Report line of each mode, in the order they print."""

MIN_DAEMON_TO_ENGINE = 0.90
"""Target: the daemon keeps at least 90 % of its engine's throughput."""
MAX_P99_TO_ENGINE_P50 = 2.0
"""Target: at the fixed offered load, p99 frame-to-PUBACK is at most twice the engine's median latency."""
MAX_RSS_GROWTH_PCT = 5.0
"""Target: resident memory grows by less than 5 % over a long run."""
SOAK_TARGET_S = 1800.0
"""The long run the RSS target is stated for (30 minutes)."""


@dataclass(frozen=True, slots=True)
class ModeResult:
    """One mode's figures. ``latency`` is per frame: request latency for (a), frame-to-PUBACK otherwise."""

    mode: str
    frames: int
    """Frames completed (acknowledged, for modes that publish), warm-up included."""
    measured: int
    """Frames in the steady window the fps is computed over."""
    fps: float
    latency: LatencySummary
    usage: Usage | None
    offered_fps: float | None = None
    """Fixed-rate modes: the rate frames were released at (measured, not the setting)."""
    failed: int = 0
    """Frames that ended as ERROR results, or were never acknowledged."""
    broker_cpu_pct: float | None = None
    """CPU of the broker process over the mode, when the bench started it (so it can be read)."""
    rss: RssTrend | None = None
    rss_anon: RssTrend | None = None
    """The anonymous part of RSS (heap, arrays) over the same run: where a leak would show."""
    notes: tuple[str, ...] = ()
    round_cpu_ms: tuple[float, ...] = ()
    """CPU ms per frame of every round, when the mode ran in several (see :func:`pick_median`)."""

    @property
    def title(self) -> str:
        return TITLES.get(self.mode, self.mode)

    @property
    def cpu_ms_per_frame(self) -> float:
        """CPU time this process spent per frame in the measured window, ms (NaN when not measured).

        Unlike fps it moves little when other work shares the machine, so it is the figure to compare
        on a busy machine (see :func:`ratios`); over several rounds, their median.
        """
        if self.round_cpu_ms:
            return (
                float(np.nanmedian(self.round_cpu_ms))
                if any(map(math.isfinite, self.round_cpu_ms))
                else math.nan
            )
        return self.own_cpu_ms_per_frame

    @property
    def thread_ms_per_frame(self) -> dict[str, float]:
        """CPU ms per frame of each thread label in the measured window, largest first ({} unmeasured)."""
        if self.usage is None:
            return {}
        frames = self.fps * self.usage.seconds
        spent = sorted(self.usage.thread_cpu_s.items(), key=lambda item: -item[1])
        return {label: ratio(seconds * 1000.0, frames) for label, seconds in spent}

    @property
    def own_cpu_ms_per_frame(self) -> float:
        """CPU ms per frame of this run alone (ignoring other rounds)."""
        if self.usage is None:
            return math.nan
        return ratio(self.usage.cpu_pct * 10.0, self.fps)


@dataclass(frozen=True, slots=True)
class TargetCheck:
    """One target: ``value op limit``; ``met`` is None when the mode it needs was not run."""

    name: str
    value: float
    limit: float
    op: Literal[">=", "<=", "<"]
    met: bool | None
    unit: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class BenchReport:
    header: Mapping[str, Any]
    """Machine, model, engine settings, broker, frame counts: what the figures were taken with."""
    modes: tuple[ModeResult, ...]
    ratios: Mapping[str, float] = field(default_factory=dict)
    targets: tuple[TargetCheck, ...] = ()


def _by_mode(modes: Sequence[ModeResult]) -> dict[str, ModeResult]:
    return {m.mode: m for m in modes}


def ratios(modes: Sequence[ModeResult]) -> dict[str, float]:
    """``b/a`` (daemon over engine) and ``b/c`` (daemon over naive loop) fps, for the modes that ran.

    ``b/a by CPU cost`` is the engine's CPU time per frame over the daemon's: what b/a comes to on a
    machine with nothing else running, when both keep every core busy (a guide otherwise). On a
    shared machine the fps ratio is skewed, because the scheduler shares cores per thread and the
    daemon has more threads than the engine alone; CPU time per frame is not.
    """
    found = _by_mode(modes)
    out: dict[str, float] = {}
    if DAEMON in found and ENGINE in found:
        out["b/a"] = ratio(found[DAEMON].fps, found[ENGINE].fps)
        out["b/a by CPU cost"] = ratio(found[ENGINE].cpu_ms_per_frame, found[DAEMON].cpu_ms_per_frame)
    if DAEMON in found and NAIVE in found:
        out["b/c"] = ratio(found[DAEMON].fps, found[NAIVE].fps)
    if WRAPPER in found and ENGINE in found:
        out["a'/a"] = ratio(found[WRAPPER].fps, found[ENGINE].fps)
    return out


def _met(value: float, op: str, limit: float) -> bool | None:
    if math.isnan(value):
        return None
    if op == ">=":
        return value >= limit
    if op == "<=":
        return value <= limit
    return value < limit


def check_targets(modes: Sequence[ModeResult]) -> tuple[TargetCheck, ...]:
    """The issue's three targets, judged on whatever modes ran; unmeasured ones have ``met=None``."""
    found = _by_mode(modes)
    nan = math.nan
    b_a = ratios(modes).get("b/a", nan)
    checks = [
        TargetCheck(
            "daemon fps / engine fps (b/a)",
            b_a,
            MIN_DAEMON_TO_ENGINE,
            ">=",
            _met(b_a, ">=", MIN_DAEMON_TO_ENGINE),
        )
    ]

    engine_p50 = found[ENGINE].latency.p50 if ENGINE in found else nan
    load = found.get(LOAD)
    p99 = load.latency.p99 if load is not None else nan
    limit = MAX_P99_TO_ENGINE_P50 * engine_p50
    offered = f" at {load.offered_fps:.1f} fps offered" if load and load.offered_fps else ""
    checks.append(
        TargetCheck(
            f"p99 frame-to-PUBACK{offered} <= 2 x engine p50",
            p99,
            limit,
            "<=",
            _met(p99, "<=", limit) if not math.isnan(limit) else None,
            unit="ms",
        )
    )

    soak = found.get(SOAK)
    growth = soak.rss.growth_pct if soak is not None and soak.rss is not None else nan
    span_note = ""
    if soak is not None and soak.rss is not None and soak.rss.span_s < SOAK_TARGET_S:
        span_note = f"run lasted {soak.rss.span_s / 60:.1f} min; the target is stated for 30 min"
    checks.append(
        TargetCheck(
            "RSS growth over the long run",
            growth,
            MAX_RSS_GROWTH_PCT,
            "<",
            _met(growth, "<", MAX_RSS_GROWTH_PCT),
            unit="%",
            note=span_note,
        )
    )
    return tuple(checks)


def pick_median(rounds: Sequence[ModeResult], *, by: Literal["fps", "p99"] = "fps") -> ModeResult:
    """The round with the median fps (``by="p99"``: the median p99 latency, for the fixed-rate mode,
    whose fps is set), the lower middle one of an even count; the spread is noted.

    Rounds of one mode interleave with the other modes', so a burst of other work on the machine hits
    every mode alike; the median round is what the report shows.
    """
    if not rounds:
        msg = "pick_median needs at least one round"
        raise ValueError(msg)
    if len(rounds) == 1:
        return rounds[0]
    figure: Callable[[ModeResult], float] = (lambda r: r.latency.p99) if by == "p99" else (lambda r: r.fps)
    # a missing figure sorts as the worst: no fps is the lowest, no p99 the highest
    worst = math.inf if by == "p99" else -math.inf
    ordered = sorted(rounds, key=lambda r: worst if math.isnan(figure(r)) else figure(r))
    chosen = ordered[(len(ordered) - 1) // 2]
    spread = ", ".join("-" if math.isnan(r.fps) else f"{r.fps:.2f}" for r in rounds)
    cpu = tuple(r.own_cpu_ms_per_frame for r in rounds)
    cpu_spread = ", ".join("-" if math.isnan(c) else f"{c:.1f}" for c in cpu)
    note = f"median of {len(rounds)} rounds: fps ({spread}), CPU ms/frame ({cpu_spread})"
    if by == "p99":
        p99 = ", ".join("-" if math.isnan(r.latency.p99) else f"{r.latency.p99:.1f}" for r in rounds)
        note = note.replace("rounds: fps", f"rounds by p99: p99 ms ({p99}), fps", 1)
    return replace(chosen, notes=(*chosen.notes, note), round_cpu_ms=cpu)


def build_report(header: Mapping[str, Any], modes: Sequence[ModeResult]) -> BenchReport:
    ordered = sorted(modes, key=lambda m: list(TITLES).index(m.mode) if m.mode in TITLES else len(TITLES))
    return BenchReport(dict(header), tuple(ordered), ratios(ordered), check_targets(ordered))
