"""``edge-inspect cameras``: list the Basler cameras pylon sees (serial, model, user name, IP, interface).

What a station's ``source.serial`` / ``user_name`` / ``ip_address`` should say, without pylon Viewer.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

COLUMNS = (("serial", "SERIAL"), ("model", "MODEL"), ("user_name", "USER NAME"), ("ip_address", "IP"),
           ("interface", "INTERFACE"))  # fmt: skip


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("cameras", help="list attached Basler cameras (needs the 'pylon' extra)")
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    parser.set_defaults(func=run)


def table(rows: Sequence[dict[str, str]]) -> str:
    """A plain aligned table of ``rows`` under :data:`COLUMNS`; empty cells show '-'."""
    cells = [[row.get(key) or "-" for key, _title in COLUMNS] for row in rows]
    titles = [title for _key, title in COLUMNS]
    widths = [max(len(line[i]) for line in [titles, *cells]) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(text.ljust(w) for text, w in zip(line, widths, strict=True)).rstrip()
                     for line in [titles, *cells])  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from edge_inspect.sources.pylon.select import list_cameras

    cameras = [asdict(camera) for camera in list_cameras()]
    if args.json:
        print(json.dumps(cameras, indent=2))
    elif cameras:
        print(table(cameras))
    else:
        print("no cameras found (check cable, power, network; GigE cameras need an IP in the NIC's subnet)")
    return 0
