"""``edge-inspect check-config FILE``: print the resolved config, or every bad field (exit 2)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from edge_inspect.commands.options import add_overrides


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("check-config", help="validate a config file and print it resolved")
    parser.add_argument("config", help="YAML config file")
    add_overrides(parser, "mqtt.port=1884")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_inspect.config import load_config

    config = load_config(args.config, args.overrides)
    print(json.dumps(config.model_dump(mode="json"), indent=2))
    return 0
