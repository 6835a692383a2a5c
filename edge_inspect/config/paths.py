"""Relative paths in a config file resolve against that file's folder, passed as validation context."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import JsonValue, ValidationInfo

RELATIVE_KEY = "x-relative-to"
RELATIVE_VALUE = "config-file"
RELATIVE_TO_FILE: dict[str, JsonValue] = {RELATIVE_KEY: RELATIVE_VALUE}
"""``json_schema_extra`` of a path field whose relative value resolves against the folder of the file
that sets it (the loader reads the mark from the schema, so the list of such fields lives here alone)."""


def resolve(value: str | Path, info: ValidationInfo) -> Path:
    """Resolve ``value`` against ``info.context['base_dir']`` when relative; keep it when absolute."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    base = (info.context or {}).get("base_dir") if isinstance(info.context, dict) else None
    joined = (Path(base) / path) if base is not None else path.absolute()
    return Path(os.path.normpath(joined))


def must_be_absolute(value: Path | None) -> Path | None:
    """A folder the daemon writes to: absolute, since its working directory is '/' under systemd (the
    one check of the fields that must not resolve against the config file)."""
    if value is not None and not value.is_absolute():
        msg = "must be an absolute path (the daemon's working directory is '/' under systemd)"
        raise ValueError(msg)
    return value
