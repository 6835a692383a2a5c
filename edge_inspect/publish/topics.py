"""The MQTT topics of one station and camera, in one place so that publisher and subscribers agree.

``{prefix}/{station}/{camera}/result``     one message per frame (QoS from config)
``{prefix}/{station}/{camera}/camera``     camera state online / offline / reconnecting, retained
``{prefix}/{station}/{camera}/thumbnail``  optional preview images
``{prefix}/{station}/status``              daemon online / offline, retained; also the last will
``{prefix}/{station}/stats``               periodic counters, retained
``{prefix}/{station}/part``                one message per part (part.trigger other than ``free``)
``{prefix}/{station}/trigger``             subscribed (part.trigger: mqtt): one message starts a part
``{prefix}/{station}/plc``                 PLC link connected / not, retained (part.trigger: plc)

A station of several cameras has the per-camera topics once per camera (``result_of(camera)`` ...);
``camera`` is the first (or only) one.

A level holding a wildcard (``+``, ``#``), a ``/`` (station, camera) or nothing would publish somewhere
no subscriber expects, so ``Topics`` refuses it at start-up with a ConfigError naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_inspect.config.app import AppConfig
from edge_inspect.errors import ConfigError

_FORBIDDEN = ("+", "#", "\x00")


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names for ``prefix`` (may span several levels, e.g. ``plant-a/aoi``), station and camera."""

    prefix: str
    station: str
    camera: str

    def __post_init__(self) -> None:
        problems = _level_problems("mqtt.topic_prefix", self.prefix, multi_level=True)
        problems += _level_problems("station", self.station, multi_level=False)
        problems += _level_problems("camera", self.camera, multi_level=False)
        if problems:
            raise ConfigError(problems)

    @classmethod
    def from_config(cls, config: AppConfig) -> Topics:
        """The topics of a station config: ``mqtt.topic_prefix``, ``station`` and ``camera``."""
        return cls(config.mqtt.topic_prefix, config.station, config.camera)

    @property
    def result(self) -> str:
        """One inspection result per frame."""
        return self.result_of(self.camera)

    def result_of(self, camera: str) -> str:
        """The result topic of ``camera``."""
        return f"{self.prefix}/{self.station}/{camera}/result"

    @property
    def part(self) -> str:
        """One message per part: its verdict and the frames it was decided from."""
        return f"{self.prefix}/{self.station}/part"

    @property
    def trigger(self) -> str:
        """Where the line starts a part (``part.trigger: mqtt``)."""
        return f"{self.prefix}/{self.station}/trigger"

    @property
    def plc(self) -> str:
        """Whether a PLC is connected to the handshake, retained."""
        return f"{self.prefix}/{self.station}/plc"

    @property
    def status(self) -> str:
        """The daemon's retained online / offline state, and its last will."""
        return f"{self.prefix}/{self.station}/status"

    @property
    def stats(self) -> str:
        """Periodic counters of the station."""
        return f"{self.prefix}/{self.station}/stats"

    @property
    def camera_status(self) -> str:
        """The camera's retained connection state."""
        return self.camera_status_of(self.camera)

    def camera_status_of(self, camera: str) -> str:
        return f"{self.prefix}/{self.station}/{camera}/camera"

    @property
    def thumbnail(self) -> str:
        """Preview images of inspected frames."""
        return self.thumbnail_of(self.camera)

    def thumbnail_of(self, camera: str) -> str:
        return f"{self.prefix}/{self.station}/{camera}/thumbnail"


def _level_problems(field: str, value: str, *, multi_level: bool) -> list[str]:
    """Why ``value`` cannot be used as topic level(s), as ``field: message`` lines (none when it can)."""
    if not value:
        return [f"{field}: empty; a topic level needs at least one character"]
    problems: list[str] = []
    if value.startswith("$"):
        problems.append(f"{field}: {value!r} starts with '$', which brokers reserve for their own topics")
    if not multi_level and "/" in value:
        problems.append(f"{field}: {value!r} contains '/'; it must be a single topic level")
    levels = value.split("/")
    for number, level in enumerate(levels, start=1):
        where = f"level {number} of {value!r}" if len(levels) > 1 else repr(value)
        if not level and multi_level:
            problems.append(f"{field}: {where} is empty (a leading, trailing or doubled '/')")
        bad = [char for char in _FORBIDDEN if char in level]
        if bad:
            shown = ", ".join(repr(char) for char in bad)
            problems.append(f"{field}: {where} contains {shown}, which an MQTT topic name may not hold")
    return problems
