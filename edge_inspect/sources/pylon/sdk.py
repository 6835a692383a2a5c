"""The one place pypylon is imported: lazily, so a station without the 'pylon' extra never loads it."""

from __future__ import annotations

from types import ModuleType

from edge_inspect.errors import MissingDependencyError


def load_pylon() -> tuple[ModuleType, ModuleType]:
    """``(pypylon.pylon, pypylon.genicam)``, or :class:`MissingDependencyError` naming the extra."""
    try:
        from pypylon import genicam, pylon  # noqa: PLC0415 (lazy: the optional 'pylon' extra)
    except ImportError as exc:
        raise MissingDependencyError("pypylon", "pylon", "The pylon camera source") from exc
    return pylon, genicam
