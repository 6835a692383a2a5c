"""``edge-inspect bench --config FILE``: the engine alone, the daemon and a naive loop, in one invocation.

Prints fps and latency percentiles of each mode, the ratios daemon/engine (b/a) and daemon/naive (b/c),
CPU and RSS, and the targets; ``--json FILE`` writes the same figures. ``--load 0.8`` adds the daemon at
a fixed offered rate of 80 % of the engine's fps (frame-to-PUBACK percentiles); ``--duration 1800`` adds
a 30-minute run for the RSS trend. ``--cameras 2`` instead runs one daemon serving 2 replay cameras
against 2 one-camera daemons (parts/s, CPU per part, trigger-to-verdict latency). See docs in
:mod:`edge_inspect.bench`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from edge_inspect.commands.options import add_overrides


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "bench",
        help="measure the engine alone, the whole daemon and a naive loop, and compare them",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=True, help="station YAML config (model, engine, broker)")
    parser.add_argument(
        "--frames",
        type=int,
        default=200,
        help="frames per mode, rounded up to whole passes over the images (default 200)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=20,
        help="first frames of each mode left out of the figures (default 20)",
    )
    parser.add_argument(
        "--modes",
        default="engine,daemon,naive",
        help="comma-separated: engine (a), wrapper (a': the engine through its "
        "Python wrapper), daemon (b), naive (c), or none (only --rate / --duration); "
        "default engine,daemon,naive",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run (a), (c), (b) N times interleaved, then (d) N times, and show each mode's median "
        "round ((d): by p99): steadier figures on a machine shared with other work (default 1)",
    )
    parser.add_argument(
        "--load",
        type=float,
        default=None,
        metavar="FRACTION",
        help="add mode (d): the daemon fed at FRACTION of (a)'s fps, e.g. 0.8",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="FPS",
        help="add mode (d) at a fixed FPS instead of a fraction of (a)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="add mode (e): the daemon for SECONDS (at the --load/--rate when given), "
        "RSS sampled for its growth; the RSS target is stated for 1800",
    )
    parser.add_argument(
        "--rss-every",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="RSS sampling period of mode (e) (default 10)",
    )
    parser.add_argument(
        "--broker",
        choices=("config", "mosquitto"),
        default="config",
        help="'config': the broker at mqtt.host/port; 'mosquitto': start a mosquitto "
        "on a free loopback port for the bench (default config)",
    )
    parser.add_argument(
        "--samples",
        type=Path,
        default=None,
        metavar="DIR",
        help="images to replay (default: the config's replay source.path)",
    )
    parser.add_argument(
        "--json",
        dest="json_path",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the report as JSON",
    )
    parser.add_argument(
        "--cameras",
        type=int,
        default=None,
        metavar="N",
        help="instead of the modes: one daemon serving N replay cameras against N one-camera daemons "
        "(parts/s, CPU per part, trigger-to-verdict latency; --frames parts, on a mosquitto the bench "
        "starts)",
    )
    parser.add_argument(
        "--window",
        type=int,
        default=8,
        metavar="PARTS",
        help="with --cameras: parts in the station at a time, as a line would keep them (default 8)",
    )
    parser.add_argument(
        "--plc",
        action="store_true",
        help="instead of the modes: the PLC handshake's trigger-to-RESULT_VALID latency over Modbus TCP "
        "(--frames parts at --load x the engine's capacity, default 0.5), next to the engine's "
        "single-request latency",
    )
    add_overrides(parser, "engine.num_requests=4")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_inspect.bench import BenchOptions, format_text, report_json, run_bench
    from edge_inspect.config import load_config
    from edge_inspect.log import configure_logging

    config = load_config(args.config, args.overrides)
    configure_logging("warning", "console" if sys.stderr.isatty() else "json")
    if args.cameras is not None:
        return _stations(config, args)
    if args.plc:
        return _plc(config, args)
    options = BenchOptions(
        frames=args.frames,
        warmup=args.warmup,
        modes=tuple(m.strip() for m in args.modes.split(",") if m.strip() not in ("", "none")),
        load=args.load,
        rate=args.rate,
        duration_s=args.duration,
        rss_every_s=args.rss_every,
        broker=args.broker,
        samples=args.samples,
        repeat=args.repeat,
    )

    report = run_bench(config, options, _progress(args))
    return _report(args, format_text(report), report_json(report))


def _report(args: argparse.Namespace, text: str, data: dict[str, Any]) -> int:
    """The report on stdout, and as JSON in ``--json FILE`` when given."""
    print(text)
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return 0


def _progress(args: argparse.Namespace) -> Callable[[str], None]:
    def progress(message: str) -> None:
        if not args.quiet:
            print(f"bench: {message}", file=sys.stderr, flush=True)

    return progress


def _stations(config: Any, args: argparse.Namespace) -> int:
    from edge_inspect.bench.station import StationOptions, format_station, run_station_bench, station_json

    options = StationOptions(
        cameras=args.cameras,
        parts=args.frames,
        warmup=args.warmup,
        window=args.window,
        repeat=args.repeat,
        samples=args.samples,
    )
    report = run_station_bench(config, options, _progress(args))
    return _report(args, format_station(report), station_json(report))


def _plc(config: Any, args: argparse.Namespace) -> int:
    from edge_inspect.bench.plc import PlcOptions, format_plc, plc_json, run_plc_bench

    options = PlcOptions(parts=args.frames, warmup=args.warmup, load=args.load or 0.5, samples=args.samples)
    report = run_plc_bench(config, options, _progress(args))
    return _report(args, format_plc(report), plc_json(report))
