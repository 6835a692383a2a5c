"""Guarded imports of the ``train`` extra: torch, nncf are imported only when a tool needs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from edge_inspect.errors import MissingDependencyError


def require(module: str, purpose: str, package: str | None = None) -> ModuleType:
    """Import ``module`` or raise MissingDependencyError naming the ``train`` extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package or module.split(".", maxsplit=1)[0], "train", purpose) from None
