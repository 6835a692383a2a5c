"""A result sink that prints one line per frame, and the closing summary against ground truth."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from edge_inspect.types import InspectionResult, Verdict

_COLOURS = {Verdict.PASS: "\x1b[32m", Verdict.NG: "\x1b[31m", Verdict.ERROR: "\x1b[33m"}
_RESET = "\x1b[0m"


@dataclass
class ConsoleSink:
    """Prints ``seq verdict defects latency file`` for every result; keeps what the summary needs."""

    stream: TextIO = field(default_factory=lambda: sys.stdout)
    name: str = "console"
    results: list[InspectionResult] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, result: InspectionResult) -> None:
        with self._lock:
            self.results.append(result)
        colour = self.stream.isatty()
        verdict = result.verdict.value
        if colour:
            verdict = f"{_COLOURS[result.verdict]}{verdict:5}{_RESET}"
        defects = result.decision.defects if result.decision is not None else ()
        described = ", ".join(
            f"{d.class_name} {d.area_px}px @({d.bbox[0]},{d.bbox[1]}) p={d.max_score:.2f}" for d in defects
        )
        expected = f" gt={result.expected.value}" if result.expected is not None else ""
        name = Path(result.source.path).name if result.source.path else result.source.kind
        detail = result.error if result.error else (described or "-")
        line = (
            f"{result.seq:5d} {verdict:5} {result.timings_ms.get('total', 0.0):7.1f} ms  "
            f"{name:14} {len(defects)} defect(s){expected}  {detail}"
        )
        print(line, file=self.stream, flush=True)

    def close(self) -> None:
        return None


def summarise(
    results: list[InspectionResult], snapshot: dict[str, Any], *, paced: bool = False
) -> dict[str, Any]:
    """Frames, verdict counts, precision/recall against the ground truth, fps and latency percentiles."""
    counts = {v.value: sum(1 for r in results if r.verdict is v) for v in Verdict}
    judged = [r for r in results if r.expected is not None and r.verdict is not Verdict.ERROR]
    tp = sum(1 for r in judged if r.verdict is Verdict.NG and r.expected is Verdict.NG)
    fp = sum(1 for r in judged if r.verdict is Verdict.NG and r.expected is Verdict.PASS)
    fn = sum(1 for r in judged if r.verdict is Verdict.PASS and r.expected is Verdict.NG)
    tn = sum(1 for r in judged if r.verdict is Verdict.PASS and r.expected is Verdict.PASS)
    totals = np.array([r.timings_ms.get("total", np.nan) for r in results], dtype=np.float64)
    totals = totals[np.isfinite(totals)]
    return {
        "frames": len(results),
        "verdicts": counts,
        "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
        "precision": tp / (tp + fp) if tp + fp else None,
        "recall": tp / (tp + fn) if tp + fn else None,
        "fps": snapshot.get("fps", 0.0),
        "latency_ms": {
            "p50": float(np.percentile(totals, 50)) if totals.size else None,
            "p99": float(np.percentile(totals, 99)) if totals.size else None,
        },
        "infer_ms": snapshot.get("latency_ms", {}).get("infer", {}).get("p50"),
        "paced": paced,
    }


def format_summary(summary: dict[str, Any], received: int | None = None) -> str:
    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{100 * value:.2f} %"

    v = summary["verdicts"]
    c = summary["confusion"]
    lat = summary["latency_ms"]
    lines = [
        "",
        "summary",
        f"  frames      {summary['frames']}  (PASS {v['PASS']}, NG {v['NG']}, ERROR {v['ERROR']})",
        f"  vs truth    TP {c['tp']}  FP {c['fp']}  FN {c['fn']}  TN {c['tn']}",
        f"  precision   {pct(summary['precision'])}   recall {pct(summary['recall'])}",
        f"  throughput  {summary['fps']:.1f} fps",
        f"  latency     p50 {lat['p50'] or 0:.1f} ms   p99 {lat['p99'] or 0:.1f} ms  (capture to result)",
    ]
    if summary["infer_ms"] is not None:
        lines.append(f"  inference   p50 {summary['infer_ms']:.1f} ms  (the engine's own, submit to outputs)")
    if not summary["paced"]:
        lines.append(
            "              the replay offers frames as fast as the station takes them, so each waits behind "
            "those\n              before it: capture to result measures that queue. At a line rate below "
            "the throughput\n              (--set source.fps=25) it comes down to about the engine's own."
        )
    if received is not None:
        lines.append(f"  mqtt        {received}/{summary['frames']} results received by a subscriber")
    return "\n".join(lines)


def describe_engine(app: Any) -> str:
    """``model ... variant ... engine ... precision ... requests ...`` of a built station, for headers."""
    identity = app.package.identity(app.config.model.variant)
    engine = app.config.engine
    runtime = getattr(app.pipeline.inspector.engine, "runtime", None)
    parts = [
        f"model {identity.name} {identity.version}",
        f"variant {identity.variant}",
        f"engine {engine.type}",
    ]
    if runtime is not None:  # OpenVINO reads back what the compiled model runs with
        parts += [
            f"device {runtime.device}",
            f"precision {runtime.precision or 'device default'}",
            f"streams {runtime.streams if runtime.streams is not None else '-'}",
            f"requests {runtime.requests}",
        ]
    else:
        parts += [f"precision {getattr(engine, 'precision', None) or 'default'}"]
    return " · ".join(parts)
