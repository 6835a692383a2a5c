"""The bench report as text (a fixed-width table) and as JSON; both carry the same figures."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from edge_inspect.bench.report import BenchReport, ModeResult, TargetCheck

# ------------------------------------------------------------------------------------------------ text


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.{digits}f}"


_THREAD_FLOOR_MS = 0.005
"""Threads that took less CPU than this per frame are left out of the notes."""

_KEPT_UP = 0.97
"""A fixed-rate mode whose fps is below this share of the offered rate was saturated."""

_COLUMNS = ("mode", "frames", "fps", "p50 ms", "p95 ms", "p99 ms", "CPU %", "CPU ms/f", "RSS MB", "load1")
_WIDTHS = (24, 7, 8, 8, 8, 8, 6, 8, 7, 6)


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
            _num(m.cpu_ms_per_frame, 1),
            _num(usage.rss_end_mb, 0) if usage else "-",
            _num(usage.load1, 2) if usage else "-",
        )
    )


def _mode_notes(m: ModeResult) -> list[str]:
    notes = []
    if m.offered_fps is not None:
        notes.append(f"offered {m.offered_fps:.2f} fps")
        if m.fps < _KEPT_UP * m.offered_fps:
            notes.append("fell behind the offered rate: frames queued, latency grew with the run")
    if m.failed:
        notes.append(f"{m.failed} frames failed or unacknowledged")
    if m.broker_cpu_pct is not None:
        notes.append(f"broker CPU {m.broker_cpu_pct:.0f} %")
    for label, r in (("RSS", m.rss), ("of which anonymous", m.rss_anon)):
        if r is not None:
            notes.append(
                f"{label} {r.start_mb:.0f} -> {r.end_mb:.0f} MB (max {r.max_mb:.0f}), {r.growth_pct:+.2f} %, "
                f"{r.slope_mb_per_h:+.1f} MB/h over {r.span_s / 60:.1f} min, {r.samples} samples"
            )
    threads = [(label, ms) for label, ms in m.thread_ms_per_frame.items() if ms >= _THREAD_FLOOR_MS]
    if threads:
        notes.append("CPU ms/frame by thread: " + ", ".join(f"{label} {ms:.2f}" for label, ms in threads))
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
        mode = asdict(m)
        mode["title"] = m.title
        mode["cpu_ms_per_frame"] = m.cpu_ms_per_frame
        mode["thread_cpu_ms_per_frame"] = m.thread_ms_per_frame
        modes.append(mode)
    data: dict[str, Any] = _clean(
        {
            "header": dict(report.header),
            "modes": modes,
            "ratios": dict(report.ratios),
            "targets": [asdict(t) for t in report.targets],
        }
    )
    return data
