"""The station's cameras and parts in config: both camera forms, overrides, and every bad field named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_inspect.config import build_config
from edge_inspect.config.station import overlay
from edge_inspect.errors import ConfigError

MODEL = {"path": "m"}


def replay(path: str = "images", **extra: Any) -> dict[str, Any]:
    return {"type": "replay", "path": path, **extra}


def config(data: dict[str, Any]) -> Any:
    return build_config({"model": MODEL, **data}, source="station.yaml", base_dir=Path("/srv"), environ={})


def problems(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as caught:
        config(data)
    return str(caught.value)


def test_the_one_camera_form_is_a_list_of_one_and_free_running() -> None:
    loaded = config({"camera": "top", "source": replay()})
    [camera] = loaded.station_cameras
    assert camera.id == "top"
    assert camera.source.path == "/srv/images"
    assert loaded.part.trigger == "free"


def test_a_list_of_cameras_each_with_its_own_source_and_overrides() -> None:
    loaded = config(
        {
            "cameras": [
                {"id": "top", "source": replay("top")},
                {"id": "side", "source": replay("side"), "decision": {"max_defects": 2}},
            ],
            "decision": {"max_defects": 0, "min_area_px": {"defect": 9}},
            "part": {"trigger": "mqtt", "shots": {"side": 2}, "timeout_ms": 800},
        }
    )
    top, side = loaded.station_cameras
    assert (top.id, side.id) == ("top", "side")
    assert side.source.path == "/srv/side"
    assert (loaded.part.shots_of("top"), loaded.part.shots_of("side")) == (1, 2)
    # a camera's override replaces the fields it sets, and keeps the station's others
    merged = overlay(loaded.decision, side.decision)
    assert (merged.max_defects, merged.min_area_px) == (2, {"defect": 9})
    assert overlay(loaded.decision, top.decision) == loaded.decision


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (
            {"cameras": [{"id": "a", "source": replay()}], "source": replay()},
            "cameras: listed together with source",
        ),
        ({"camera": "a"}, "source: required"),
        ({"cameras": []}, "cameras: 0 listed; a station serves 1 to 8"),
        ({"cameras": [{"id": f"c{n}", "source": replay()} for n in range(9)]}, "9 listed"),
        (
            {"cameras": [{"id": "a", "source": replay()}, {"id": "a", "source": replay()}]},
            "cameras.1.id: 'a' is listed twice",
        ),
        ({"cameras": [{"id": "a/b", "source": replay()}]}, "cameras.0.id"),
        ({"cameras": [{"id": "a"}]}, "cameras.0.source"),
        (
            {"cameras": [{"id": "a", "source": replay()}], "part": {"trigger": "mqtt", "shots": {"b": 2}}},
            "part.shots.b: no camera has this id",
        ),
        ({"source": replay(), "part": {"shots": 0}}, "1 to 64 shots"),
        ({"source": replay(), "part": {"timeout_ms": 0}}, "part.timeout_ms"),
        ({"source": replay(), "part": {"trigger": "sensor"}}, "part.trigger"),
        ({"source": replay(trigger="software")}, "set part.trigger to 'mqtt'"),
        (
            {"source": replay(trigger="software", drop_policy="drop_oldest"), "part": {"trigger": "mqtt"}},
            "drop_policy must be 'block'",
        ),
        ({"source": replay(), "part": {"trigger": "plc"}}, "needs the PLC handshake"),
        ({"cameras": [{"id": "a", "source": replay(), "lens": 8}]}, "cameras.0.lens"),
    ],
)
def test_a_bad_station_is_refused_naming_the_file_and_field(data: dict[str, Any], says: str) -> None:
    message = problems(data)
    assert "station.yaml" in message
    assert says in message


def test_the_shipped_line_simulation_is_two_software_triggered_replay_cameras() -> None:
    from edge_inspect.config import load_config

    loaded = load_config(Path(__file__).resolve().parents[3] / "config" / "line-replay.yaml")
    assert [camera.id for camera in loaded.station_cameras] == ["top", "side"]
    assert {getattr(camera.source, "trigger", None) for camera in loaded.station_cameras} == {"software"}
    assert loaded.part.trigger == "mqtt"
