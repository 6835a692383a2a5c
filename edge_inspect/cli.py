"""The ``edge-inspect`` command line: parses arguments and hands over to one sub-command module."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from edge_inspect import __version__
from edge_inspect.commands import COMMANDS
from edge_inspect.errors import ConfigError, EdgeInspectError

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edge-inspect", description="Edge inspection daemon for AOI cameras."
    )
    parser.add_argument("--version", action="version", version=f"edge-inspect {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"edge_inspect.commands.{name}")
        module.add_parser(subparsers)
    return parser


def _quiet_stdout() -> None:
    """The reader of our output went away (``| head``): send what is left to /dev/null, say nothing."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return EXIT_CONFIG
    except EdgeInspectError as exc:
        print(f"edge-inspect: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
