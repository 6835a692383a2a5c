"""``edge-inspect run --config FILE [--set k=v ...]``: the daemon, until a stop signal or the replay's end."""

from __future__ import annotations

import argparse
from typing import Any

from edge_inspect.commands.options import add_overrides


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run the inspection daemon")
    parser.add_argument("--config", required=True, help="YAML config file")
    add_overrides(parser, "mqtt.port=1884")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_inspect.app import App
    from edge_inspect.config import load_config
    from edge_inspect.config.loader import load_config_with_origins
    from edge_inspect.log import configure_logging
    from edge_inspect.preflight import check, prepare_folders

    loaded = load_config_with_origins(args.config, args.overrides)
    config = loaded.config
    configure_logging(config.logging.level, config.logging.format)
    check(loaded)  # what would fail later fails now, naming file and field (exit 2)
    prepare_folders(loaded)
    # SIGHUP reads the same file with the same overrides again
    return App(config, reload_config=lambda: load_config(args.config, args.overrides)).run()
