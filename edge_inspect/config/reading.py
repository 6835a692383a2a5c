"""Read one YAML config file within fixed bounds, and remember the line each key came from.

A config file is small, trusted-looking input that is nevertheless read before anything else: a device
file, a binary, a "billion laughs" alias bomb or a file nested thousands of levels deep must give one
line naming the file, never a hang, a traceback or gigabytes of memory. The bounds are checked before the
data is built: the size on the open descriptor, nesting and the alias-expanded node count on YAML's event
stream (iterative, so a deep file cannot exhaust the interpreter's stack).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edge_inspect.errors import ConfigError

MAX_FILE_BYTES = 1 << 20
"""A config file larger than 1 MiB is refused: real ones are a few KiB."""
MAX_NODES = 100_000
"""Values in one file after every alias is expanded (what the daemon would hold and copy)."""
MAX_NESTING = 64
"""Mappings and lists inside each other."""

Origins = dict[tuple[str, ...], str]
"""Where each key was set: its dotted path (list items by index) -> ``file:line`` or an override's name."""


@dataclass
class YamlFile:
    """One file's top-level mapping and the origin of each key in it."""

    path: Path
    data: dict[str, Any]
    origins: Origins = field(default_factory=dict)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes: a regular file of at most :data:`MAX_FILE_BYTES`, opened without blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "a device, pipe or socket"
            raise ConfigError([f"{path}: not a regular file ({kind}); a config is a YAML file"])
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError([f"{path}: {info.st_size} bytes, larger than the {MAX_FILE_BYTES} allowed"])
        with os.fdopen(os.dup(fd), "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror or exc}"]) from exc
    finally:
        os.close(fd)
    if len(raw) > MAX_FILE_BYTES:  # grew while being read
        raise ConfigError([f"{path}: larger than the {MAX_FILE_BYTES} bytes allowed"])
    return raw


def _decode(path: Path, raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{path}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        raise ConfigError([msg]) from None
    if "\x00" in text:
        raise ConfigError([f"{path}: holds NUL bytes: a binary file, not YAML"])
    return text


def _where(path: str | Path, mark: Any) -> str:
    return f"{path}:{mark.line + 1}" if mark is not None else str(path)


class _Budget:
    """Counts the document's nodes as YAML's events arrive, an alias counting the nodes it repeats."""

    def __init__(self, path: str | Path) -> None:
        self.path = path
        self.sizes: dict[str, int] = {}  # anchor -> expanded node count of the node it names
        self.stack: list[list[Any]] = []  # open collections: [anchor, nodes inside so far]
        self.total = 0

    def start(self, event: yaml.CollectionStartEvent) -> None:
        self.stack.append([event.anchor, 1])
        self.add(1, event)
        if len(self.stack) > MAX_NESTING:
            msg = f"{_where(self.path, event.start_mark)}: nested more than {MAX_NESTING} levels deep"
            raise ConfigError([msg])

    def end(self) -> None:
        anchor, count = self.stack.pop()
        if anchor is not None:
            self.sizes[anchor] = count
        if self.stack:
            self.stack[-1][1] += count

    def leaf(self, event: yaml.NodeEvent) -> None:
        if isinstance(event, yaml.AliasEvent):
            if event.anchor not in self.sizes:
                where = _where(self.path, event.start_mark)
                raise ConfigError([f"{where}: alias *{event.anchor} refers to itself or to no anchor"])
            count = self.sizes[event.anchor]
        else:
            count = 1
            if event.anchor is not None:
                self.sizes[event.anchor] = 1
        if self.stack:
            self.stack[-1][1] += count
        self.add(count, event)

    def add(self, count: int, event: yaml.Event) -> None:
        self.total += count
        if self.total > MAX_NODES:
            msg = (
                f"{_where(self.path, event.start_mark)}: more than {MAX_NODES} values once aliases are "
                "expanded (an alias bomb?)"
            )
            raise ConfigError([msg])


def check_yaml_text(path: str | Path, text: str) -> None:
    """Walk YAML's event stream once: nesting depth and the alias-expanded size stay bounded."""
    budget = _Budget(path)
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                budget.start(event)
            elif isinstance(event, yaml.CollectionEndEvent):
                budget.end()
            elif isinstance(event, yaml.AliasEvent | yaml.ScalarEvent):
                budget.leaf(event)
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from exc


def _yaml_error(path: str | Path, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return ConfigError([f"{path}: {where}invalid YAML: {getattr(exc, 'problem', None) or exc}"])


def _record_origins(path: Path, node: yaml.Node, prefix: tuple[str, ...], origins: Origins) -> None:
    """Each key's line, by dotted path; an aliased node is walked once (the budget above holds)."""
    seen: set[int] = set()
    todo: list[tuple[yaml.Node, tuple[str, ...]]] = [(node, prefix)]
    while todo:
        current, at = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.MappingNode):
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode):
                    origins[(*at, str(key.value))] = _where(path, key.start_mark)
                    todo.append((value, (*at, str(key.value))))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                origins[(*at, str(index))] = _where(path, item.start_mark)
                todo.append((item, (*at, str(index))))


def read_yaml_file(path: Path) -> YamlFile:
    """Read ``path`` as a YAML mapping within the bounds above; every failure is one line naming it."""
    text = _decode(path, _read_bytes(path))
    check_yaml_text(path, text)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(path, exc) from exc
    finally:
        loader.dispose()
    if data is None:
        return YamlFile(path, {})
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping, got {type(data).__name__}"])
    origins: Origins = {}
    if node is not None:
        _record_origins(path, node, (), origins)
    return YamlFile(path, data, origins)
