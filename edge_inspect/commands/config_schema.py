"""``edge-inspect config-schema``: print the JSON Schema of the config file."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("config-schema", help="print the JSON Schema of the config file")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_inspect.config import config_schema

    print(json.dumps(config_schema(), indent=2))
    return 0
