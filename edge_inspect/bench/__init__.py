"""``edge-inspect bench``: how much of its engine's throughput the daemon keeps, and at what latency.

Modes, in one invocation on the same model, engine settings and images:
(a) the engine alone on pre-made tensors (what ``benchmark_app`` measures); (a') the same through the
engine's Python wrapper; (b) the whole daemon, replaying from memory and publishing at QoS 1 to a real
broker, a frame counted at its PUBACK; (c) a naive sequential loop; (d) the daemon at a fixed offered
rate; (e) the daemon for a long time, for the RSS trend.
"""

from edge_inspect.bench.figures import (
    LatencySummary,
    RssTrend,
    ratio,
    rss_trend,
    summarize_latencies,
    window_fps,
)
from edge_inspect.bench.render import format_text, report_json
from edge_inspect.bench.report import (
    BenchReport,
    ModeResult,
    TargetCheck,
    build_report,
)
from edge_inspect.bench.runner import BenchOptions, run_bench

__all__ = [
    "BenchOptions",
    "BenchReport",
    "LatencySummary",
    "ModeResult",
    "RssTrend",
    "TargetCheck",
    "build_report",
    "format_text",
    "ratio",
    "report_json",
    "rss_trend",
    "run_bench",
    "summarize_latencies",
    "window_fps",
]
