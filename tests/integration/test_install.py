"""The README's "Install on an inspection PC" (and the full procedure in docs/operations.md), run as
written into a temporary root instead of ``/``, without ``systemctl``: a fresh venv, the wheel built from
this repository, ``install-station``, ``check-config``; then the installed unit verifies, the installed
demo runs from outside the checkout, and a second ``install-station`` keeps the station's config."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from edge_inspect.model.package import load_package
from tests.helpers.certs import make_pki
from tests.helpers.daemon import ROOT

pytestmark = pytest.mark.slow

EDIT_MARK = "# now edit"
"""The README's comment where the user edits the config and puts secrets in place."""
SKIPPED = ("systemctl", "journalctl")
"""Commands of a live system, not run here."""


def sh_block(markdown: Path, heading: str) -> list[str]:
    """The lines of the first ``sh`` block under ``heading``."""
    text = markdown.read_text(encoding="utf-8")
    after = text[text.index(heading) :]
    block = after[after.index("```sh\n") + len("```sh\n") :]
    return block[: block.index("```")].splitlines()


def in_root(line: str, root: Path) -> str:
    """``/opt/...`` and ``/etc/...`` paths of a command moved under ``root``."""
    return re.sub(r"(?<![^\s\"'=])/(opt|etc)/", f"{root}/\\1/", line)


def run_lines(lines: list[str], root: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    script = "\n".join(in_root(line, root) for line in lines if not line.lstrip().startswith(SKIPPED))
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        check=False,
    )


def test_the_readme_install_steps_lay_out_a_station_that_checks_and_runs(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    steps = sh_block(ROOT / "README.md", "## Install on an inspection PC")
    edit = next(i for i, line in enumerate(steps) if line.startswith(EDIT_MARK))
    before, after = steps[:edit], steps[edit:]

    done = run_lines(before, root, ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    opt, etc = root / "opt" / "edge-inspect", root / "etc" / "edge-inspect"
    model = opt / "models" / "dagm-unet"
    assert load_package(model).identity().name == "dagm-unet"  # the wheel carried it, hashes intact
    assert (etc / "credentials").stat().st_mode & 0o777 == 0o700
    config = etc / "config.yaml"
    assert f"path: {model}" in config.read_text(encoding="utf-8")

    # the user's edit: the broker's CA and the client certificate, the password
    pki = make_pki(tmp_path / "pki")
    shutil.copy(pki.ca, etc / "tls" / "ca.pem")
    shutil.copy(pki.client_cert, etc / "tls" / "client.pem")
    (etc / "credentials" / "password").write_text("secret\n")
    done = run_lines(after, root, ROOT)  # check-config exits 0, or bash -e fails here
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"station": "line1-st01"' in done.stdout

    venv_cli = opt / "venv" / "bin" / "edge-inspect"
    unit = root / "etc" / "systemd" / "system" / "edge-inspect.service"
    assert f"ExecStart={venv_cli} run --config {config}" in unit.read_text(encoding="utf-8")
    analyze = shutil.which("systemd-analyze")
    if analyze is not None:
        verified = subprocess.run(
            [analyze, "verify", "--man=no", str(unit)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert verified.returncode == 0, verified.stderr

    # the non-editable install runs the demo from anywhere: the model and samples came with the wheel
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    demo = subprocess.run(
        [str(venv_cli), "demo"], cwd=elsewhere, capture_output=True, text=True, timeout=300, check=False
    )
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert str(opt / "venv") in demo.stdout  # the samples are the installed copy, not the checkout's
    assert "40/40 results received" in demo.stdout

    # the full procedure of docs/operations.md on the same root, minus the venv it shares with the README
    config.write_text(config.read_text(encoding="utf-8") + "# edited by the integrator\n")
    certs = tmp_path / "certs"
    certs.mkdir()
    for name, source in (("ca.pem", pki.ca), ("client.pem", pki.client_cert), ("client.key", pki.client_key)):
        shutil.copy(source, certs / name)
    procedure = [
        line
        for line in sh_block(ROOT / "docs" / "operations.md", "## Install")
        if "python3 -m venv" not in line and "/pip install" not in line
    ]
    done = run_lines(procedure, root, certs)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "kept" in done.stdout
    assert config.read_text(encoding="utf-8").endswith("# edited by the integrator\n")
    assert (etc / "credentials" / "client.key").stat().st_mode & 0o777 == 0o600
    assert (root / "etc" / "systemd" / "system" / "edge-inspect.service.d" / "gige-camera.conf").exists()
