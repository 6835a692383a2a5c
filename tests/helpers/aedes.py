"""A real MQTT 3.1.1-only broker for tests: aedes (Node.js) in tests/helpers/node (.ci/run installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from edge_inspect.net import free_loopback_port

NODE_DIR = Path(__file__).resolve().parent / "node"
INSTALL = f"npm install --prefix {NODE_DIR}"


def available() -> str | None:
    """Why aedes cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (NODE_DIR / "node_modules" / "aedes").is_dir():
        return f"aedes is not installed ({INSTALL})"
    return None


def require() -> None:
    """Skip where aedes is missing on a developer's machine; in CI (CI=true) a missing broker fails."""
    missing = available()
    if missing is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"the MQTT 3.1.1 broker is missing in CI: {missing}")
    pytest.skip(missing)


class Aedes:
    """``with Aedes() as broker:`` an aedes broker on a free 127.0.0.1 port, stopped at the end."""

    def __init__(self) -> None:
        self.port = free_loopback_port()
        self.proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> Aedes:
        self.proc = subprocess.Popen(
            ["node", str(NODE_DIR / "aedes_broker.mjs"), str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("listening"):
            self.proc.kill()
            raise RuntimeError(f"aedes did not start: {line!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
