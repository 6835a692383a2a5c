"""The bench's results as data, the targets they are judged on, and their text and JSON forms.

Pure: the runners hand in :class:`ModeResult` records, this module computes ratios and target checks and
renders them; the text and the JSON carry the same figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

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
    notes: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return TITLES.get(self.mode, self.mode)


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
    """``b/a`` (daemon over engine) and ``b/c`` (daemon over naive loop) fps, for the modes that ran."""
    found = _by_mode(modes)
    out: dict[str, float] = {}
    if DAEMON in found and ENGINE in found:
        out["b/a"] = ratio(found[DAEMON].fps, found[ENGINE].fps)
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


def build_report(header: Mapping[str, Any], modes: Sequence[ModeResult]) -> BenchReport:
    ordered = sorted(modes, key=lambda m: list(TITLES).index(m.mode) if m.mode in TITLES else len(TITLES))
    return BenchReport(dict(header), tuple(ordered), ratios(ordered), check_targets(ordered))


# ------------------------------------------------------------------------------------------------ text


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


_COLUMNS = ("mode", "frames", "fps", "p50 ms", "p95 ms", "p99 ms", "CPU %", "RSS MB", "load1")
_WIDTHS = (24, 7, 8, 8, 8, 8, 7, 7, 6)


def _row(cells: Sequence[str]) -> str:
    first = cells[0].ljust(_WIDTHS[0])
    rest = (c.rjust(w) for c, w in zip(cells[1:], _WIDTHS[1:], strict=True))
    return " ".join((first, *rest)).rstrip()


def _mode_row(m: ModeResult) -> str:
    usage = m.usage
    return _row(
        (
            m.title,
            str(m.measured),
            _num(m.fps, 2),
            _num(m.latency.p50),
            _num(m.latency.p95),
            _num(m.latency.p99),
            _num(usage.cpu_pct, 0) if usage else "-",
            _num(usage.rss_end_mb, 0) if usage else "-",
            _num(usage.load1, 2) if usage else "-",
        )
    )


def _mode_notes(m: ModeResult) -> list[str]:
    notes = []
    if m.offered_fps is not None:
        notes.append(f"offered {m.offered_fps:.2f} fps")
    if m.failed:
        notes.append(f"{m.failed} frames failed or unacknowledged")
    if m.broker_cpu_pct is not None:
        notes.append(f"broker CPU {m.broker_cpu_pct:.0f} %")
    if m.rss is not None:
        r = m.rss
        notes.append(
            f"RSS {r.start_mb:.0f} -> {r.end_mb:.0f} MB (max {r.max_mb:.0f}), {r.growth_pct:+.2f} %, "
            f"{r.slope_mb_per_h:+.1f} MB/h over {r.span_s / 60:.1f} min, {r.samples} samples"
        )
    notes.extend(m.notes)
    return [f"    {m.title}: {'; '.join(notes)}"] if notes else []


def _target_line(t: TargetCheck) -> str:
    verdict = {True: "met", False: "NOT MET", None: "not measured"}[t.met]
    value = f"{_num(t.value, 3 if not t.unit else 1)}{' ' + t.unit if t.unit else ''}"
    limit = f"{_num(t.limit, 2 if not t.unit else 1)}{' ' + t.unit if t.unit else ''}"
    note = f" ({t.note})" if t.note else ""
    return f"  {t.name}: {value} {t.op} {limit}: {verdict}{note}"


def format_text(report: BenchReport) -> str:
    """The report as a fixed-width table with its header, ratios and targets."""
    lines = [f"edge-inspect bench  {report.header.get('started_at', '')}".rstrip()]
    for key in ("machine", "model", "engine", "threads", "broker", "frames"):
        if key in report.header:
            lines.append(f"{key:<9} {report.header[key]}")
    lines += ["", _row(_COLUMNS)]
    lines += [_mode_row(m) for m in report.modes]
    notes = [line for m in report.modes for line in _mode_notes(m)]
    if notes:
        lines += ["", "notes", *notes]
    lines.append("")
    lines.append(
        "latency: (a) per infer request; (b), (c), (d), (e) from frame release to its PUBACK. "
        "CPU % of one core (this process). fps over the frames after the warm-up."
    )
    if report.ratios:
        lines.append("ratios    " + "   ".join(f"{k} {_num(v, 3)}" for k, v in report.ratios.items()))
    lines.append("targets")
    lines += [_target_line(t) for t in report.targets]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ JSON


def _clean(value: Any) -> Any:
    """NaN -> None all the way down: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def report_json(report: BenchReport) -> dict[str, Any]:
    """The same figures as :func:`format_text`, as plain JSON-ready data (NaN becomes null)."""
    modes = []
    for m in report.modes:
        data = asdict(m)
        data["title"] = m.title
        modes.append(data)
    return _clean(
        {
            "header": dict(report.header),
            "modes": modes,
            "ratios": dict(report.ratios),
            "targets": [asdict(t) for t in report.targets],
        }
    )
