"""Load a YAML config: includes, ``--set`` overrides, environment secrets; errors name where values came from.

Every problem is one line that starts with the place that set the value: ``file:line`` for a key in the
config or in one of its includes, ``--set key=value`` for an override, the variable's name for an
``EDGE_INSPECT_*`` environment override. Relative paths resolve against the folder of the file that
holds them (an include's paths against the include's folder); overrides resolve against the config
file's folder.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edge_inspect.config.app import AppConfig
from edge_inspect.config.paths import RELATIVE_KEY, RELATIVE_VALUE
from edge_inspect.config.reading import Origins, check_yaml_text, read_yaml_file
from edge_inspect.config.runtime import default_state_dir
from edge_inspect.errors import ConfigError

ENV_PREFIX = "EDGE_INSPECT_"
"""``EDGE_INSPECT_MQTT__PASSWORD=x`` sets ``mqtt.password``; ``__`` separates levels."""

MAX_INCLUDE_DEPTH = 8
"""Includes inside includes."""
MAX_FILES = 32
"""Files read for one config: the config itself and every include."""
_MAX_SCHEMA_DEPTH = 32


@dataclass
class _Loaded:
    """A config's merged data and where each key came from (files, then overrides)."""

    origins: Origins = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config and the place each of its keys was set (for messages about late checks)."""

    config: AppConfig
    origins: Origins
    source: str

    def where(self, dotted: str) -> str:
        """``file:line`` (or the override) that set ``dotted``, else the nearest parent's, else the file."""
        return origin_of(self.origins, tuple(dotted.split(".")), self.source)


def origin_of(origins: Origins, key: tuple[str, ...], default: str) -> str:
    for end in range(len(key), 0, -1):
        found = origins.get(key[:end])
        if found is not None:
            return found
    return default


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into ``base``: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@cache
def path_keys() -> frozenset[tuple[str, ...]]:
    """The dotted keys whose relative paths resolve against their file's folder (marked in the schema
    with :data:`~edge_inspect.config.paths.RELATIVE_TO_FILE`; ``*`` = any list item)."""
    schema = AppConfig.model_json_schema()
    defs = schema.get("$defs", {})
    found: set[tuple[str, ...]] = set()

    def walk(node: Mapping[str, Any], at: tuple[str, ...], depth: int) -> None:
        if depth > _MAX_SCHEMA_DEPTH:
            return
        ref = node.get("$ref")
        if isinstance(ref, str):
            walk(defs.get(ref.rsplit("/", 1)[-1], {}), at, depth + 1)
        if node.get(RELATIVE_KEY) == RELATIVE_VALUE:
            found.add(at)
        for name, child in node.get("properties", {}).items():
            walk(child, (*at, name), depth + 1)
        for key in ("anyOf", "oneOf", "allOf"):
            for child in node.get(key, []):
                walk(child, at, depth + 1)
        if isinstance(node.get("items"), Mapping):
            walk(node["items"], (*at, "*"), depth + 1)

    walk(schema, (), 0)
    return frozenset(found)


def _anchor_paths(data: dict[str, Any], folder: Path) -> None:
    """Make the relative paths one file sets absolute against that file's folder."""
    for key in path_keys():
        _anchor_at(data, key, folder)


def _anchor_at(node: Any, key: tuple[str, ...], folder: Path) -> None:
    head, rest = key[0], key[1:]
    children: list[tuple[Any, Any]] = []
    if head == "*" and isinstance(node, list):
        children = list(enumerate(node))
    elif isinstance(node, dict) and head in node:
        children = [(head, node[head])]
    for name, value in children:
        if rest:
            _anchor_at(value, rest, folder)
        elif _relative(value):
            node[name] = os.path.normpath(folder / value)


def _relative(value: Any) -> bool:
    """A relative path as written (``auto``, ``$CREDENTIALS_DIRECTORY/...`` and ``~`` are left alone)."""
    if not isinstance(value, str) or not value or value == "auto" or value.startswith(("$", "~")):
        return False
    return not Path(value).is_absolute()


def _load_with_includes(path: Path, loaded: _Loaded, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read ``path``; its ``include:`` files (relative to it) are merged first, the file itself on top."""
    if path in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(path) :], path))
        raise ConfigError([f"{chain[-1]}: include: a cycle: {cycle}"])
    if len(chain) > MAX_INCLUDE_DEPTH:
        raise ConfigError([f"{chain[-1]}: include: nested more than {MAX_INCLUDE_DEPTH} levels"])
    if len(loaded.files) >= MAX_FILES:
        raise ConfigError([f"{chain[-1]}: include: more than {MAX_FILES} files in all"])
    loaded.files.append(path)
    read = read_yaml_file(path)
    data = read.data
    includes = data.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    where = read.origins.pop(("include",), str(path))
    if not isinstance(includes, list) or not all(isinstance(i, str) and i for i in includes):
        raise ConfigError([f"{where}: include: must be a file name or a list of file names"])
    _anchor_paths(data, path.parent)
    merged: dict[str, Any] = {}
    for name in includes:
        child = Path(os.path.normpath(path.parent / Path(name).expanduser()))
        merged = deep_merge(merged, _load_with_includes(child, loaded, (*chain, path)))
    for key in [k for k in loaded.origins if k and k[0] == "include"]:
        del loaded.origins[key]
    _forget_replaced(loaded.origins, data)
    loaded.origins.update(read.origins)  # the including file's keys win, as its values do
    return deep_merge(merged, data)


def _forget_replaced(origins: Origins, data: Mapping[str, Any], at: tuple[str, ...] = ()) -> None:
    """Drop the origins under a key whose whole value ``data`` replaces (a non-mapping value)."""
    for key, value in data.items():
        here = (*at, str(key))
        if isinstance(value, Mapping):
            _forget_replaced(origins, value, here)
        else:
            for known in [k for k in origins if len(k) > len(here) and k[: len(here)] == here]:
                del origins[known]


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


def _override(data: dict[str, Any], origins: Origins, dotted: str, value: Any, where: str) -> None:
    key = tuple(dotted.split("."))
    for known in [k for k in origins if k[: len(key)] == key]:
        del origins[known]
    _set_dotted(data, dotted, value)
    origins[key] = where


def parse_override(text: str) -> tuple[str, Any]:
    """``'mqtt.port=1884'`` -> ``('mqtt.port', 1884)``; the value is read as a YAML scalar or flow value."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError([f"--set {text!r}: expected dotted.key=value"])
    check_yaml_text(f"--set {text}", raw)
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


def _field_path(loc: tuple[int | str, ...], data: Any) -> tuple[str, ...]:
    """The path of ``loc`` as the user wrote it, without the union tags pydantic inserts."""
    parts: list[str] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("type") == part:
            continue  # the discriminator tag of a plug-in union, not a key in the file
        parts.append(str(part))
        node = node.get(part) if isinstance(node, dict) else (_item(node, part))
    return tuple(parts)


def _item(node: Any, part: int | str) -> Any:
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def format_errors(
    source: str, error: ValidationError, data: Any = None, origins: Origins | None = None
) -> list[str]:
    """One ``where: dotted.path: message`` line per bad field; ``where`` is the file (and line), the
    environment variable or the ``--set`` argument that set it."""
    lines = []
    for item in error.errors(include_url=False):
        key = _field_path(item["loc"], data)
        loc = ".".join(key) or "(top level)"
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "unknown field (check the spelling; see `edge-inspect config-schema`)"
        elif item["type"] == "missing":
            message = "field required"
        elif item["type"] == "union_tag_not_found":
            loc = f"{loc}.type" if loc != "(top level)" else "type"
            message = "field required: it selects the plug-in (see `edge-inspect config-schema`)"
        where = origin_of(origins or {}, key, source) if item["type"] != "missing" else source
        if item["type"] == "missing":
            where = origin_of(origins or {}, key[:-1], source) if len(key) > 1 else source
        lines.append(f"{where}: {loc}: {message}")
    return lines


def _apply_overrides(
    data: Mapping[str, Any], origins: Origins, overrides: Iterable[str], environ: Mapping[str, str] | None
) -> dict[str, Any]:
    merged: dict[str, Any] = json.loads(json.dumps(data, default=str))  # deep copy of plain data
    for key, value in env_overrides(os.environ if environ is None else environ):
        name = ENV_PREFIX + key.upper().replace(".", "__")
        _override(merged, origins, key, value, f"environment variable {name}")
    for text in overrides:
        key, value = parse_override(text)
        _override(merged, origins, key, value, f"--set {text}")
    return merged


def build_config(
    data: Mapping[str, Any],
    *,
    source: str,
    base_dir: Path,
    overrides: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
    origins: Origins | None = None,
) -> AppConfig:
    """Validate a config mapping after applying environment and ``--set`` overrides (those win)."""
    return _validate(
        data, source, base_dir=base_dir, overrides=overrides, environ=environ, origins=dict(origins or {})
    ).config


def _validate(
    data: Mapping[str, Any],
    source: str,
    *,
    base_dir: Path,
    overrides: Iterable[str],
    environ: Mapping[str, str] | None,
    origins: Origins,
) -> LoadedConfig:
    env = os.environ if environ is None else environ
    merged = _apply_overrides(data, origins, overrides, env)
    try:
        config = AppConfig.model_validate(merged, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(format_errors(source, exc, merged, origins)) from exc
    if config.paths.state_dir is None:
        folder, rule = default_state_dir(env, Path(env.get("HOME") or Path.home()), config.station)
        paths = config.paths.model_copy(update={"state_dir": folder})
        config = config.model_copy(update={"paths": paths})
        origins[("paths", "state_dir")] = f"the default state folder ({rule})"
    return LoadedConfig(config, origins, source)


def load_config_with_origins(
    path: str | Path, overrides: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Load and validate ``path``, keeping where each key was set. Raises :class:`ConfigError`."""
    path = Path(os.path.normpath(Path(path).expanduser().absolute()))
    loaded = _Loaded()
    data = _load_with_includes(path, loaded)
    return _validate(
        data, str(path), base_dir=path.parent, overrides=overrides, environ=environ, origins=loaded.origins
    )


def load_config(
    path: str | Path, overrides: Iterable[str] = (), environ: Mapping[str, str] | None = None
) -> AppConfig:
    """Load and validate ``path``. Raises :class:`ConfigError` listing every bad field."""
    return load_config_with_origins(path, overrides, environ).config


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the config file."""
    return AppConfig.model_json_schema()
