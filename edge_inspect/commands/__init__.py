"""Sub-commands of ``edge-inspect``: one module each, exposing ``add_parser(subparsers)``.

``add_parser`` registers the sub-command and sets ``func=<callable(args) -> int exit code>`` as its default.
Heavy imports happen inside ``func``, so ``edge-inspect --help`` stays fast.
"""

from __future__ import annotations

# The one registry of sub-commands, in help order. Add a module name here to add a command.
COMMANDS: tuple[str, ...] = (
    "run",
    "demo",
    "tail",
    "check_config",
    "install_station",
    "config_schema",
    "cameras",
    "devices",
    "dataset",
    "train",
    "export",
    "eval",
    "bench",
)
