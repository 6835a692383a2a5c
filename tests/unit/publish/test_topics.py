"""Topics: one place for every topic name, refusing levels a broker or subscriber would misread."""

from __future__ import annotations

import pytest

from edge_inspect.config.app import AppConfig
from edge_inspect.errors import ConfigError
from edge_inspect.publish.topics import Topics


def test_given_a_station_and_camera_when_named_then_every_topic_follows_the_layout() -> None:
    topics = Topics("plant-a/aoi", "line-3", "cam-top")

    assert topics.result == "plant-a/aoi/line-3/cam-top/result"
    assert topics.camera_status == "plant-a/aoi/line-3/cam-top/camera"
    assert topics.thumbnail == "plant-a/aoi/line-3/cam-top/thumbnail"
    assert topics.status == "plant-a/aoi/line-3/status"
    assert topics.stats == "plant-a/aoi/line-3/stats"


def test_given_a_station_config_when_named_then_prefix_station_and_camera_come_from_it() -> None:
    config = AppConfig.model_validate(
        {
            "station": "st-9",
            "camera": "cam-2",
            "source": {"type": "replay", "path": "."},
            "model": {"path": "."},
            "mqtt": {"topic_prefix": "factory"},
        }
    )

    assert Topics.from_config(config).result == "factory/st-9/cam-2/result"


@pytest.mark.parametrize(
    ("prefix", "station", "camera", "line"),
    [
        ("ei", "line+1", "cam", "station: 'line+1' contains '+'"),
        ("ei", "line", "cam#", "camera: 'cam#' contains '#'"),
        ("ei", "a/b", "cam", "station: 'a/b' contains '/'; it must be a single topic level"),
        ("ei", "line", "", "camera: empty"),
        ("a//b", "line", "cam", "mqtt.topic_prefix: level 2 of 'a//b' is empty"),
        ("ei/", "line", "cam", "mqtt.topic_prefix: level 2 of 'ei/' is empty"),
        ("/ei", "line", "cam", "mqtt.topic_prefix: level 1 of '/ei' is empty"),
        ("ei/+/x", "line", "cam", "mqtt.topic_prefix: level 2 of 'ei/+/x' contains '+'"),
        ("$SYS", "line", "cam", "mqtt.topic_prefix: '$SYS' starts with '$'"),
        ("ei", "li\x00ne", "cam", "station: 'li\\x00ne' contains '\\x00'"),
    ],
)
def test_given_a_bad_level_when_named_then_config_error_names_the_field(
    prefix: str, station: str, camera: str, line: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Topics(prefix, station, camera)

    assert any(problem.startswith(line) for problem in caught.value.problems), caught.value.problems


def test_given_several_bad_levels_when_named_then_every_one_is_reported() -> None:
    with pytest.raises(ConfigError) as caught:
        Topics("", "#", "a/b")

    fields = [problem.split(":")[0] for problem in caught.value.problems]
    assert fields == ["mqtt.topic_prefix", "station", "camera"]
