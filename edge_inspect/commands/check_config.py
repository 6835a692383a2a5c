"""``edge-inspect check-config FILE``: the resolved config, or every problem ``run`` would meet (exit 2).

The printout lists ``cameras:`` always, the one-camera form (``camera:`` + ``source:``) resolved to a
list of one, so what is printed is what the daemon serves.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from edge_inspect.commands.options import add_overrides

if TYPE_CHECKING:
    from edge_inspect.config import AppConfig


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser("check-config", help="validate a config file and print it resolved")
    parser.add_argument("config", help="YAML config file")
    parser.add_argument(
        "--syntax-only",
        action="store_true",
        help="check the file and its fields only, not the model package, files, secrets and folders it "
        "names (for a config written for another machine)",
    )
    add_overrides(parser, "mqtt.port=1884")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_inspect.config.loader import load_config_with_origins
    from edge_inspect.preflight import check

    loaded = load_config_with_origins(args.config, args.overrides)
    if not args.syntax_only:
        # as run would: the package and its hashes, the variant, files, secrets and folders
        check(loaded, for_run=False)
    print(json.dumps(resolved(loaded.config), indent=2))
    return 0


def resolved(config: AppConfig) -> dict[str, Any]:
    """The config as the daemon runs it: the one-camera form (camera + source) as a list of one."""
    data = config.model_dump(mode="json", exclude={"camera", "source", "cameras"})
    cameras = [camera.model_dump(mode="json") for camera in config.station_cameras]
    ordered: dict[str, Any] = {}
    for key, value in data.items():  # cameras where the camera was, right after station
        ordered[key] = value
        if key == "station":
            ordered["cameras"] = cameras
    return ordered
