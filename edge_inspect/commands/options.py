"""Command-line options shared by several sub-commands."""

from __future__ import annotations

import argparse


def add_overrides(parser: argparse.ArgumentParser, example: str = "mqtt.port=1884") -> None:
    """``--set dotted.key=value`` (repeatable), collected into ``args.overrides`` for ``load_config``."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config field, e.g. --set {example} (repeatable)",
    )
