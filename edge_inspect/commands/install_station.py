"""``edge-inspect install-station``: lay out a station's model, config folders and systemd unit from the
installed package (the wheel carries them; see edge_inspect/install.py for what is replaced and kept)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edge_inspect.shipped import CONFIG_DIR, PREFIX


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "install-station",
        help="lay out the shipped model, the config and credentials folders and the systemd unit",
    )
    parser.add_argument("--prefix", type=Path, default=Path(PREFIX), help="models go under PREFIX/models")
    parser.add_argument(
        "--config-dir", type=Path, default=Path(CONFIG_DIR), help="config.yaml, tls/, credentials/"
    )
    parser.add_argument(
        "--unit-dir", type=Path, default=Path("/etc/systemd/system"), help="where edge-inspect.service goes"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_inspect.install import Layout, default_executable, install_station

    layout = Layout(
        prefix=args.prefix.absolute(),
        config_dir=args.config_dir.absolute(),
        unit_dir=args.unit_dir.absolute(),
        executable=default_executable(),
    )
    for line in install_station(layout):
        print(line)
    print(
        "next: edit the config, put the broker's CA and client certificate in "
        f"{layout.config_dir}/tls/, the client key and the password in {layout.config_dir}/credentials/ "
        "as client.key and password, then "
        f"`edge-inspect check-config {layout.config_dir}/config.yaml` and "
        "`systemctl daemon-reload && systemctl enable --now edge-inspect`"
    )
    return 0
