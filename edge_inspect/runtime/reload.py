"""SIGHUP: what a reloaded config changes, and whether the running daemon can apply it.

Only ``decision.*`` (thresholds, areas, count limit, zones) is applied live, between two frames: it is
pure data for a pure function. So is a camera's own ``cameras[].decision`` when nothing else of the
cameras changed. Anything else (cameras, model, engine, broker, outbox...) holds resources opened at
start, so a change there is reported as needing a restart and is not applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_inspect.config import AppConfig

LIVE_SECTIONS = frozenset({"decision"})


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """Top-level sections that differ between the running config and the reloaded one."""

    live: tuple[str, ...]
    """Applied now (decision)."""
    restart: tuple[str, ...]
    """Need a restart; left as they run."""


def config_change(running: AppConfig, reloaded: AppConfig) -> ConfigChange:
    """Compare section by section (secrets by value, so a new password counts as a change)."""
    changed = [name for name in AppConfig.model_fields if getattr(running, name) != getattr(reloaded, name)]
    live = {name for name in changed if name in LIVE_SECTIONS}
    if "cameras" in changed and _without_decisions(running) == _without_decisions(reloaded):
        live.add("cameras")
    return ConfigChange(
        live=tuple(name for name in changed if name in live),
        restart=tuple(name for name in changed if name not in live),
    )


def _without_decisions(config: AppConfig) -> list[dict[str, object]] | None:
    if config.cameras is None:
        return None
    return [camera.model_dump(exclude={"decision"}) for camera in config.cameras]
