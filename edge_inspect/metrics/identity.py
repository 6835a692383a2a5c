"""Who this daemon is, for the ``*_info`` metrics: version, station, cameras, model, config hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from edge_inspect.config import AppConfig
from edge_inspect.types import ModelIdentity


@dataclass(frozen=True, slots=True)
class Identity:
    version: str
    station: str
    camera: str
    model_name: str
    model_version: str
    model_variant: str
    model_sha256: str
    recipe_hash: str
    config_sha256: str


def config_digest(config: AppConfig) -> str:
    """sha256 of the effective config as JSON with sorted keys; secrets appear masked, never in clear.

    Two stations that should run the same recipe can be compared by this hash on a dashboard.
    """
    data = config.model_dump(mode="json", exclude={"station", "camera"})
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def identity_of(config: AppConfig, model: ModelIdentity, recipe_hash: str, version: str) -> Identity:
    return Identity(
        version=version,
        station=config.station,
        camera=",".join(camera.id for camera in config.station_cameras),
        model_name=model.name,
        model_version=model.version,
        model_variant=model.variant,
        model_sha256=model.sha256,
        recipe_hash=recipe_hash,
        config_sha256=config_digest(config),
    )
