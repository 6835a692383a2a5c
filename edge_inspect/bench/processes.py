"""The daemons a bench starts as real ``edge-inspect run`` processes: what they replay, how they start
and stop, and the machine line of the report they go into."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

_STOP_S = 60.0


def triggered_replay(samples: str) -> dict[str, Any]:
    """A camera's source for a bench daemon: ``samples`` from memory, one file per part trigger."""
    return {
        "type": "replay",
        "path": samples,
        "loop": 0,
        "trigger": "software",
        "cache_in_memory": True,
        "ground_truth": None,
        "drop_policy": "block",
    }


def start_daemon(folder: Path, name: str, config: dict[str, Any]) -> subprocess.Popen[bytes]:
    """``config`` written to ``folder/name.yaml`` and run, its output in ``folder/name.log``."""
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), "utf-8")
    log = (folder / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "edge_inspect.cli", "run", "--config", str(path)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def stop_daemons(daemons: Sequence[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to every daemon still running, then wait for each (killed after a minute)."""
    for daemon in daemons:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
    for daemon in daemons:
        try:
            daemon.wait(_STOP_S)
        except subprocess.TimeoutExpired:
            daemon.kill()


def machine_line(host: dict[str, object], load: float) -> str:
    """The report header's machine: cores, CPU model and the load average when the bench started."""
    return f"{host['cores']} cores ({host['cpu_model']}), load average {load:.2f} at start"
