"""A station's cameras and its parts: which cameras one daemon serves, and how a part is triggered.

``cameras:`` lists 1 to 8 cameras, each with its own source and, optionally, its own ``preprocess``
and ``decision`` settings laid over the station's (a field the camera sets replaces the station's). The
one-camera form (``camera:`` + ``source:``) means a list of one. ``part:`` says what a part is: with
``trigger: free`` every frame is a part of its own (no part messages); with ``mqtt`` a trigger message
fires every camera and the part's verdict combines ``shots`` frames of each.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import Field, model_validator

from edge_inspect.config.base import ID_PATTERN, StrictModel
from edge_inspect.config.decision import DecisionConfig
from edge_inspect.config.preprocess import PreprocessConfig
from edge_inspect.config.sources import ReplaySourceConfig, SourceConfig

MAX_CAMERAS = 8
PartTrigger = Literal["free", "mqtt", "plc"]


class CameraConfig(StrictModel):
    """One camera of the station: its id (a topic level), its source, and optional overrides."""

    id: str = Field(
        max_length=64, pattern=ID_PATTERN, description="Camera id (topic level, 1-64 characters)."
    )
    source: SourceConfig = Field(
        description="Where this camera's frames come from; 'type' selects the plug-in."
    )
    preprocess: PreprocessConfig | None = Field(
        None, description="This camera's region of interest etc.; the fields it sets replace the station's."
    )
    decision: DecisionConfig | None = Field(
        None, description="This camera's decision overrides; the fields it sets replace the station's."
    )


class PartConfig(StrictModel):
    """What a part is and when its verdict is due."""

    trigger: PartTrigger = Field(
        "free",
        description="'free': every frame is a part of its own (no part messages); 'mqtt': a message on "
        "{prefix}/{station}/trigger starts a part and fires every camera; 'plc': the PLC starts parts.",
    )
    shots: int | dict[str, int] = Field(
        1,
        description="Frames each camera takes per part: one number for all, or camera id -> number "
        "(cameras not named take 1).",
    )
    timeout_ms: int = Field(
        2000,
        ge=1,
        le=600_000,
        description="Deadline from trigger to the part's verdict: a shot not arrived by then makes the part "
        "ERROR, naming the camera.",
    )
    max_pending: int = Field(
        32,
        ge=1,
        le=10_000,
        description="Parts triggered and not yet decided; a trigger beyond this is an ERROR part at once "
        "(reason 'trigger queue full', counted in parts.overflow), never dropped silently.",
    )

    @model_validator(mode="after")
    def _shots(self) -> PartConfig:
        counts = self.shots.values() if isinstance(self.shots, dict) else [self.shots]
        if any(not 1 <= n <= 64 for n in counts):
            msg = "shots: each camera takes 1 to 64 shots per part"
            raise ValueError(msg)
        return self

    def shots_of(self, camera: str) -> int:
        if isinstance(self.shots, dict):
            return self.shots.get(camera, 1)
        return self.shots


_Settings = TypeVar("_Settings", PreprocessConfig, DecisionConfig)


def overlay(station: _Settings, camera: _Settings | None) -> _Settings:
    """``station``'s settings with the fields ``camera`` sets laid over them."""
    if camera is None:
        return station
    return station.model_copy(update={name: getattr(camera, name) for name in camera.model_fields_set})


def camera_problems(cameras: list[CameraConfig], part: PartConfig) -> list[str]:
    """Cross-field problems of ``cameras`` and ``part`` (ids unique, shots naming known cameras)."""
    problems: list[str] = []
    if not 1 <= len(cameras) <= MAX_CAMERAS:
        problems.append(f"cameras: {len(cameras)} listed; a station serves 1 to {MAX_CAMERAS}")
    seen: set[str] = set()
    for index, camera in enumerate(cameras):
        if camera.id in seen:
            problems.append(f"cameras.{index}.id: {camera.id!r} is listed twice")
        seen.add(camera.id)
    if isinstance(part.shots, dict):
        problems += [
            f"part.shots.{name}: no camera has this id (cameras: {', '.join(sorted(seen))})"
            for name in part.shots
            if name not in seen
        ]
    for index, camera in enumerate(cameras):
        source = camera.source
        if part.trigger == "free" and isinstance(source, ReplaySourceConfig) and source.trigger == "software":
            problems.append(
                f"cameras.{index}.source.trigger: 'software' releases a file per part trigger, and "
                "part.trigger is 'free' (nothing triggers): set part.trigger to 'mqtt' or 'plc'"
            )
    return problems
