"""Load a YAML config: includes, ``--set`` overrides, environment secrets; errors name file and field."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edge_inspect.config.app import AppConfig
from edge_inspect.errors import ConfigError

ENV_PREFIX = "EDGE_INSPECT_"
"""``EDGE_INSPECT_MQTT__PASSWORD=x`` sets ``mqtt.password``; ``__`` separates levels."""

_MAX_INCLUDE_DEPTH = 8


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise ConfigError([f"{path}: {where}invalid YAML: {getattr(exc, 'problem', exc)}"]) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping, got {type(data).__name__}"])
    return data


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into ``base``: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _load_with_includes(path: Path, depth: int = 0) -> dict[str, Any]:
    """Read ``path``; its ``include:`` files (relative to it) are merged first, the file itself on top."""
    if depth > _MAX_INCLUDE_DEPTH:
        raise ConfigError([f"{path}: include: nested more than {_MAX_INCLUDE_DEPTH} levels (a cycle?)"])
    data = _read_yaml(path)
    includes = data.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError([f"{path}: include: must be a file name or a list of file names"])
    merged: dict[str, Any] = {}
    for name in includes:
        merged = deep_merge(merged, _load_with_includes((path.parent / name).resolve(), depth + 1))
    return deep_merge(merged, data)


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``'mqtt.port=1884'`` -> ``('mqtt.port', 1884)``; the value is read as a YAML scalar or flow value."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError([f"--set {text!r}: expected dotted.key=value"])
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def env_overrides(environ: Mapping[str, str]) -> list[tuple[str, Any]]:
    """Overrides from ``EDGE_INSPECT_SECTION__FIELD`` variables (kept as strings; pydantic converts)."""
    found = []
    for name, value in sorted(environ.items()):
        if name.startswith(ENV_PREFIX) and "__" in name:
            dotted = name[len(ENV_PREFIX) :].lower().replace("__", ".")
            found.append((dotted, value))
    return found


def _field_path(loc: tuple[int | str, ...], data: Any) -> str:
    """The dotted path of ``loc`` as the user wrote it, without the union tags pydantic inserts."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue  # the discriminator tag of a plug-in union, not a key in the file
        parts.append(str(part))
        node = node.get(part) if isinstance(node, dict) else None
    return ".".join(parts) or "(top level)"


def format_errors(source: str, error: ValidationError, data: Any = None) -> list[str]:
    """One ``file: dotted.path: message`` line per bad field."""
    lines = []
    for item in error.errors(include_url=False):
        loc = _field_path(item["loc"], data)
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see `edge-inspect config-schema`)"
        elif item["type"] == "missing":
            message = "field required"
        elif item["type"] == "union_tag_not_found":
            loc = f"{loc}.type" if loc != "(top level)" else "type"
            message = "field required: it selects the plug-in (see `edge-inspect config-schema`)"
        lines.append(f"{source}: {loc}: {message}")
    return lines


def build_config(
    data: Mapping[str, Any],
    *,
    source: str,
    base_dir: Path,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> AppConfig:
    """Validate a config mapping after applying environment and ``--set`` overrides (those win)."""
    merged = json.loads(json.dumps(data, default=str))  # deep copy of plain data
    for key, value in env_overrides(os.environ if environ is None else environ):
        _set_dotted(merged, key, value)
    for text in overrides:
        key, value = parse_override(text)
        _set_dotted(merged, key, value)
    try:
        return AppConfig.model_validate(merged, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(format_errors(source, exc, merged)) from exc


def load_config(
    path: str | Path, overrides: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> AppConfig:
    """Load and validate ``path``. Raises :class:`ConfigError` listing every bad field."""
    path = Path(path).expanduser().absolute()
    data = _load_with_includes(path)
    return build_config(data, source=str(path), base_dir=path.parent, overrides=overrides, environ=environ)


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the config file."""
    return AppConfig.model_json_schema()
