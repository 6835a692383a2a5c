"""Hold published messages to the committed JSON Schemas (edge_inspect/schemas/*.schema.json).

Any test that sees a message on the wire, or builds one, can call ``validate(kind, payload)``; the schemas
are read from the installed package data, the same files subscribers are given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any, Literal

from jsonschema import Draft202012Validator, FormatChecker

Kind = Literal["result", "status", "stats", "part", "plc"]
KINDS: tuple[Kind, ...] = ("result", "status", "stats", "part", "plc")


@cache
def schema(kind: Kind) -> dict[str, Any]:
    """The committed schema of one message kind."""
    text = resources.files("edge_inspect").joinpath("schemas", f"{kind}.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def validator(kind: Kind) -> Draft202012Validator:
    """A draft 2020-12 validator that also checks ``format`` (date-time)."""
    checked = schema(kind)
    Draft202012Validator.check_schema(checked)
    return Draft202012Validator(checked, format_checker=FormatChecker())


def errors(kind: Kind, payload: Mapping[str, Any] | bytes | str) -> list[str]:
    """Every way ``payload`` breaks the schema, as ``path: message`` lines (empty when it is valid)."""
    document = json.loads(payload) if isinstance(payload, bytes | str) else payload
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in sorted(validator(kind).iter_errors(document), key=lambda e: list(map(str, e.path)))
    ]


def validate(kind: Kind, payload: Mapping[str, Any] | bytes | str) -> None:
    """Raise AssertionError listing every schema violation; ``payload`` may be a dict or the wire bytes."""
    problems = errors(kind, payload)
    if problems:
        raise AssertionError(f"{kind} payload breaks {kind}.schema.json:\n" + "\n".join(problems))
