"""The files an install carries beside the code: the example model package, sample images, configs, units.

A wheel holds them under ``edge_inspect/_shipped/`` (added by the build hook in ``hatch_build.py``); a
source checkout (``pip install -e .``) has them at the top of the repository. Both
keep the repository's layout, so ``shipped("models/dagm-unet")`` names the same package in either.
"""

from __future__ import annotations

from pathlib import Path

from edge_inspect.errors import EdgeInspectError

_WHEEL = Path(__file__).resolve().parent / "_shipped"
_CHECKOUT = Path(__file__).resolve().parents[1]

MODEL = "models/dagm-unet"
SAMPLES = "models/dagm-sample"
REPLAY_CONFIG = "config/replay.yaml"
STATION_CONFIG = "systemd/config.example.yaml"
UNIT = "systemd/edge-inspect.service"
DROPINS = "systemd/dropins"
ENVIRONMENT = "systemd/environment.example"

PREFIX = "/opt/edge-inspect"
"""Where the shipped station config and unit expect the venv and the models."""
CONFIG_DIR = "/etc/edge-inspect"
"""Where the shipped unit expects the config, TLS files and credentials."""


def shipped(relative: str) -> Path:
    """The installed copy of ``relative`` (a path in the repository's layout)."""
    for root in (_WHEEL, _CHECKOUT):
        candidate = root / relative
        if candidate.exists():
            return candidate
    msg = (
        f"{relative} is not in this install (looked in {_WHEEL} and {_CHECKOUT}): install the wheel built "
        "from the repository (README, 'Install on an inspection PC') or a source checkout (pip install -e .)"
    )
    raise EdgeInspectError(msg)
