"""What ``run`` would refuse, found before a camera is opened or a model compiled.

``check-config`` and ``run`` both call :func:`preflight` on a loaded config: the model package is present
and its hashes verify, the variant exists, the replay files and masks are there, the secrets and
certificates can be read, and every folder the daemon writes to exists or can be made the way systemd
makes a ``StateDirectory=`` (the last level only, under a parent that exists). Each problem is one line
naming where the value was set and the field, so the exit status is 2 and the user knows what to fix.

:func:`prepare_folders` then makes the missing folders (``run`` only) and says which it made.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from edge_inspect.config.images import images_folder
from edge_inspect.config.loader import LoadedConfig
from edge_inspect.config.mqtt import CREDENTIALS_VAR
from edge_inspect.config.sources import ReplaySourceConfig, SourceConfig
from edge_inspect.errors import ConfigError, EdgeInspectError
from edge_inspect.model import load_package
from edge_inspect.publish.tls import connection_security
from edge_inspect.sources.replay import find_files, mask_finder

log = structlog.get_logger(__name__)

FOLDER_MODE = 0o750
"""Mode of a folder the daemon makes (systemd's StateDirectoryMode= default is 0755; state is private)."""


@dataclass(frozen=True)
class Folder:
    """A folder the daemon writes to: the field that names it and whether it is our own default."""

    field: str
    path: Path
    defaulted: bool


def folders(loaded: LoadedConfig) -> list[Folder]:
    """Every folder the config makes the daemon write to (state, outbox, images, caches)."""
    config = loaded.config
    state = config.paths.state_dir
    defaulted = loaded.where("paths.state_dir").startswith("the default state folder")
    found: list[Folder] = []
    if state is not None:
        found.append(Folder("paths.state_dir", state, defaulted))
    if config.outbox.enabled is not False and config.outbox.path is not None:
        found.append(Folder("outbox.path", config.outbox.path.parent, defaulted=False))
    if config.images.enabled:
        folder = images_folder(config.images, state)
        if folder is not None:
            found.append(Folder("images.dir", folder, defaulted=config.images.dir is None and defaulted))
    if config.paths.cache_dir is not None:
        found.append(Folder("paths.cache_dir", config.paths.cache_dir, defaulted=False))
    engine_cache = getattr(config.engine, "cache_dir", None)
    if isinstance(engine_cache, Path):
        found.append(Folder("engine.cache_dir", engine_cache, defaulted=False))
    return found


def _folder_problem(folder: Folder, planned: set[Path]) -> str | None:
    """What stops ``folder`` from being used; ``planned`` holds the folders made before it."""
    path = folder.path
    if path.is_dir():
        return None if os.access(path, os.W_OK | os.X_OK) else f"{path}: not writable by this user"
    if path.exists():
        return f"{path}: exists and is not a folder"
    if folder.defaulted:
        ancestor = next((p for p in path.parents if p.exists()), None)
        usable = ancestor is not None and ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK)
        return None if usable else f"{path}: cannot be made (no writable folder above it)"
    return _parent_problem(path, planned)


def _parent_problem(path: Path, planned: set[Path]) -> str | None:
    """Only the last level is made: its parent must exist (or be made just before) and be writable."""
    parent = path.parent
    if parent in planned:
        return None  # made just before it (images under a state folder that is made first)
    if not parent.is_dir():
        state = "is not a folder" if parent.exists() else "does not exist"
        return (
            f"{path}: its parent {parent} {state}; only the last level is made (as systemd's "
            "StateDirectory= does), so make the parent or fix the path"
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{path}: cannot be made: {parent} is not writable by this user"
    return None


def _problem(loaded: LoadedConfig, field: str, message: str) -> str:
    return f"{loaded.where(field)}: {field}: {message}"


def _strip_field(message: str, field: str) -> str:
    """Messages of the lower layers start with the field (``mqtt.tls.ca_file: ...``) or with nothing."""
    for prefix in (f"{field}: ", f"{field} "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message


def _model_problems(loaded: LoadedConfig) -> list[str]:
    config = loaded.config
    try:
        package = load_package(config.model.path)
    except EdgeInspectError as exc:
        return [_problem(loaded, "model.path", line) for line in str(exc).splitlines()]
    try:
        package.identity(config.model.variant)
    except EdgeInspectError as exc:
        return [_problem(loaded, "model.variant", str(exc))]
    return []


def _source_problems(loaded: LoadedConfig) -> list[str]:
    config = loaded.config
    problems: list[str] = []
    for index, camera in enumerate(config.station_cameras):
        where = "source" if config.cameras is None else f"cameras.{index}.source"
        problems += _replay_problems(loaded, camera.source, where)
    return problems


def _replay_problems(loaded: LoadedConfig, source: SourceConfig, where: str) -> list[str]:
    if not isinstance(source, ReplaySourceConfig):
        return []  # a camera is checked when it is opened: it may be attached later
    try:
        files, _video = find_files(source.path, source.extensions)
    except EdgeInspectError as exc:
        return [_problem(loaded, f"{where}.path", _strip_field(str(exc), "source.path"))]
    try:
        mask_finder(source.ground_truth, files)
    except EdgeInspectError as exc:
        return [_problem(loaded, f"{where}.ground_truth", _strip_field(str(exc), "source.ground_truth"))]
    return []


def _secret_problems(loaded: LoadedConfig, environ: Mapping[str, str], *, for_run: bool) -> list[str]:
    mqtt = loaded.config.mqtt
    if not for_run and not environ.get(CREDENTIALS_VAR):
        # outside systemd, $CREDENTIALS_DIRECTORY/... cannot be read yet: check the other paths only
        paths = [mqtt.password_file] + (
            [mqtt.tls.ca_file, mqtt.tls.cert_file, mqtt.tls.key_file] if mqtt.tls else []
        )
        if any(p is not None and str(p).startswith(f"${CREDENTIALS_VAR}/") for p in paths):
            return []
    try:
        connection_security(mqtt, environ=environ)
    except ConfigError as exc:
        lines = []
        for line in exc.problems:
            field = line.split(":", 1)[0] if line.startswith("mqtt.") else "mqtt"
            lines.append(_problem(loaded, field, _strip_field(line, field)))
        return lines
    except EdgeInspectError as exc:
        return [_problem(loaded, "mqtt.tls", str(exc))]
    return []


def preflight(
    loaded: LoadedConfig, *, environ: Mapping[str, str] | None = None, for_run: bool = True
) -> list[str]:
    """Every problem ``run`` would meet later, one line each; empty when the station can start."""
    env = os.environ if environ is None else environ
    problems = _model_problems(loaded) + _source_problems(loaded)
    problems += _secret_problems(loaded, env, for_run=for_run)
    planned: set[Path] = set()
    for folder in folders(loaded):
        problem = _folder_problem(folder, planned)
        if problem is not None:
            problems.append(_problem(loaded, folder.field, problem))
        elif not folder.path.is_dir():
            planned.add(folder.path)
    return problems


def check(loaded: LoadedConfig, *, for_run: bool = True) -> None:
    """:func:`preflight`, raising :class:`ConfigError` (exit 2) when anything is wrong."""
    problems = preflight(loaded, for_run=for_run)
    if problems:
        raise ConfigError(problems)


def prepare_folders(loaded: LoadedConfig) -> list[Path]:
    """Make the missing folders (after :func:`check`); each one made is logged and returned."""
    made: list[Path] = []
    for folder in folders(loaded):
        if folder.path.is_dir():
            continue
        missing = [folder.path]
        if folder.defaulted:
            missing = [p for p in (folder.path, *folder.path.parents) if not p.exists()][::-1]
        for path in missing:
            try:
                path.mkdir(mode=FOLDER_MODE)
            except FileExistsError:
                continue
            except OSError as exc:
                raise ConfigError([_problem(loaded, folder.field, f"{path}: cannot make it: {exc}")]) from exc
            made.append(path)
            log.info("made folder", field=folder.field, path=str(path), mode=oct(FOLDER_MODE))
    return made
