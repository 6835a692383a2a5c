"""Lay out a station from the installed package: the model under the prefix, the config and secrets
folders, the systemd unit (``edge-inspect install-station``).

What the release owns is replaced on every run (the model package, the unit, the reference drop-ins);
what the integrator owns is never overwritten (``config.yaml``, ``environment``, the credentials and
TLS folders and their files). The shipped files name ``/opt/edge-inspect`` and ``/etc/edge-inspect``;
they are written with the folders given instead, and the unit starts the ``edge-inspect`` of the
environment that ran this command.
"""

from __future__ import annotations

import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from edge_inspect.errors import EdgeInspectError
from edge_inspect.model.package import load_package
from edge_inspect.shipped import (
    CONFIG_DIR,
    DROPINS,
    ENVIRONMENT,
    MODEL,
    PREFIX,
    STATION_CONFIG,
    UNIT,
    shipped,
)

SHIPPED_EXEC = f"{PREFIX}/venv/bin/edge-inspect"


@dataclass(frozen=True)
class Layout:
    """Where a station's files go."""

    prefix: Path
    """The model packages (``<prefix>/models``) and reference files (``<prefix>/share``)."""
    config_dir: Path
    """``config.yaml``, ``environment``, ``tls/`` and ``credentials/``."""
    unit_dir: Path
    """``edge-inspect.service``."""
    executable: Path
    """The ``edge-inspect`` the unit starts."""


def default_executable() -> Path:
    """The ``edge-inspect`` script of the running environment (a venv's ``bin/``)."""
    return Path(sys.prefix) / "bin" / "edge-inspect"


def install_station(layout: Layout) -> list[str]:
    """Write the station's files; return one line per thing done, for the user."""
    done: list[str] = []
    model = layout.prefix / "models" / Path(MODEL).name
    _replace_tree(shipped(MODEL), model)
    identity = load_package(model).identity()  # every hash checked on the copy
    done.append(f"model      {model} ({identity.name} {identity.version}, hashes checked)")
    share = layout.prefix / "share" / "systemd"
    _replace_tree(shipped(DROPINS), share / "dropins")
    shutil.copyfile(shipped(ENVIRONMENT), share / "environment.example")
    done.append(f"reference  {share}/dropins/*.conf, {share}/environment.example")

    _folder(layout.config_dir, 0o755)
    _folder(layout.config_dir / "tls", 0o755)
    _folder(layout.config_dir / "credentials", 0o700)  # root only: systemd hands the files over
    done.append(f"folders    {layout.config_dir}/tls (0755), {layout.config_dir}/credentials (0700)")
    config = layout.config_dir / "config.yaml"
    if config.exists():
        done.append(f"kept       {config} (yours; the shipped example is {shipped(STATION_CONFIG)})")
    else:
        _write(config, _render(shipped(STATION_CONFIG).read_text(encoding="utf-8"), layout), 0o644)
        done.append(f"config     {config} (edit the station, camera and broker)")

    unit = layout.unit_dir / Path(UNIT).name
    _folder(layout.unit_dir, 0o755)
    _write(unit, _render(shipped(UNIT).read_text(encoding="utf-8"), layout), 0o644)
    done.append(f"unit       {unit} (starts {layout.executable})")
    return done


def _render(text: str, layout: Layout) -> str:
    """A shipped file with the folders of ``layout`` in place of the shipped ones (in one pass: a new
    folder may itself contain a shipped one, e.g. a root of /tmp/x/opt/edge-inspect)."""
    new = {
        SHIPPED_EXEC: str(layout.executable),
        PREFIX: str(layout.prefix),
        CONFIG_DIR: str(layout.config_dir),
    }
    pattern = "|".join(re.escape(old) for old in new)  # the executable first: it starts with the prefix
    return re.sub(pattern, lambda match: new[match.group(0)], text)


def _replace_tree(source: Path, target: Path) -> None:
    """``target`` becomes a copy of ``source``: copied aside, then swapped in, so no half copy stays."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.new")
    old = target.with_name(f".{target.name}.old")
    for leftover in (staging, old):
        if leftover.exists():
            shutil.rmtree(leftover)
    try:
        shutil.copytree(source, staging)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise EdgeInspectError(f"cannot copy {source} to {staging}: {exc.strerror or exc}") from exc
    if target.exists():
        target.rename(old)
    staging.rename(target)
    if old.exists():
        shutil.rmtree(old)


def _folder(path: Path, mode: int) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
    except OSError as exc:
        raise EdgeInspectError(f"cannot create {path}: {exc.strerror or exc}") from exc


def _write(path: Path, text: str, mode: int) -> None:
    staging = path.with_name(f".{path.name}.new")
    try:
        staging.write_text(text, encoding="utf-8")
        staging.chmod(mode)
        staging.replace(path)
    except OSError as exc:
        raise EdgeInspectError(f"cannot write {path}: {exc.strerror or exc}") from exc
