"""The PLC handshake in config: the register map's defaults, and every bad field named with its file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge_inspect.config import build_config
from edge_inspect.errors import ConfigError

BASE = {"model": {"path": "m"}, "source": {"type": "replay", "path": "images", "trigger": "software"}}


def config(data: dict[str, Any]) -> Any:
    return build_config({**BASE, **data}, source="station.yaml", base_dir=Path("/srv"), environ={})


def test_the_documented_defaults() -> None:
    plc = config({"part": {"trigger": "plc"}, "plc": {"type": "modbus"}}).plc
    assert (plc.host, plc.port, plc.unit, plc.base) == ("127.0.0.1", 5020, 1, 0)
    assert plc.heartbeat_ms == 100
    assert plc.reject_output is None


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"part": {"trigger": "plc"}}, "part.trigger: 'plc' needs the PLC handshake"),
        ({"part": {"trigger": "mqtt"}, "plc": {"type": "modbus"}}, "set part.trigger to 'plc'"),
        ({"part": {"trigger": "plc"}, "plc": {"type": "profinet"}}, "plc.type"),
        ({"part": {"trigger": "plc"}, "plc": {"type": "modbus", "unit": 256}}, "plc.unit"),
        ({"part": {"trigger": "plc"}, "plc": {"type": "modbus", "base": 65500}}, "plc.base"),
        ({"part": {"trigger": "plc"}, "plc": {"type": "modbus", "heartbeat_ms": 0}}, "plc.heartbeat_ms"),
        ({"part": {"trigger": "plc"}, "plc": {"type": "modbus", "coil": 1}}, "plc.coil"),
        (
            {
                "part": {"trigger": "plc"},
                "plc": {"type": "modbus", "reject_output": {"host": "127.0.0.1", "port": 5020}},
            },
            "points at the station's own PLC server",
        ),
        (
            {
                "part": {"trigger": "plc"},
                "plc": {"type": "modbus", "reject_output": {"host": "io", "pulse_ms": 1}},
            },
            "plc.reject_output.pulse_ms",
        ),
    ],
)
def test_a_bad_plc_section_is_refused_naming_the_file_and_field(data: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(data)
    assert "station.yaml" in str(caught.value)
    assert says in str(caught.value)
