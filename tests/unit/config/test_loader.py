"""The config loader: YAML -> validated AppConfig, with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_inspect.config import load_config
from edge_inspect.config.engines import OpenVINOEngineConfig
from edge_inspect.config.loader import env_overrides, parse_override
from edge_inspect.config.sources import ReplaySourceConfig
from edge_inspect.errors import ConfigError

MINIMAL = """
source: {type: replay, path: images}
model: {path: models/m}
"""


def write(tmp_path: Path, text: str, name: str = "station.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_given_a_minimal_file_when_loaded_then_defaults_fill_the_rest(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert config.engine.type == "openvino"
    assert config.engine.precision == "f32"
    assert config.mqtt.qos == 1
    assert config.station_cameras[0].source.type == "replay"


def test_given_relative_paths_when_loaded_then_they_resolve_against_the_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={})
    assert isinstance(config.source, ReplaySourceConfig)
    assert Path(config.source.path) == tmp_path / "images"
    assert config.model.path == tmp_path / "models" / "m"


def test_given_several_bad_fields_when_loaded_then_every_one_is_named_with_the_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
source: {type: replay, path: x, fsp: 3}
model: {path: m}
mqtt: {port: 70000}
engine: {type: openvino, precision: f64}
""",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    problems = info.value.problems
    assert (
        f"{path}:2: source.fsp: unknown field (check the spelling; see `edge-inspect config-schema`)"
        in problems
    )
    assert any(p.startswith(f"{path}:4: mqtt.port: ") for p in problems)
    assert any(p.startswith(f"{path}:5: engine.precision: ") for p in problems)
    assert len(problems) == 3


def test_given_an_unknown_plugin_type_when_loaded_then_the_error_names_source_type(tmp_path: Path) -> None:
    path = write(tmp_path, "source: {type: gige, path: x}\nmodel: {path: m}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith(f"{path}:1: source")
    assert "gige" in info.value.problems[0]


def test_given_set_overrides_when_loaded_then_they_win_and_are_typed(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, MINIMAL), ["mqtt.port=1884", "source.loop=0", "station=line-7"], environ={}
    )
    assert config.mqtt.port == 1884
    assert isinstance(config.source, ReplaySourceConfig)
    assert config.source.loop == 0
    assert config.station == "line-7"


def test_given_a_bad_override_when_parsed_then_it_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"expected dotted\.key=value"):
        parse_override("mqtt.port")
    assert parse_override("a.b=[1, 2]") == ("a.b", [1, 2])


def test_given_the_password_in_the_environment_when_loaded_then_it_is_set_and_hidden(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, MINIMAL), environ={"EDGE_INSPECT_MQTT__PASSWORD": "s3cret"})
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    assert env_overrides({"EDGE_INSPECT_MQTT__HOST": "h", "OTHER": "x"}) == [("mqtt.host", "h")]


def test_given_includes_when_loaded_then_the_including_file_wins(tmp_path: Path) -> None:
    (tmp_path / "devices").mkdir()
    write(tmp_path, "engine: {type: openvino, device: GPU, precision: f16}\n", "devices/nuc.yaml")
    path = write(tmp_path, "include: [devices/nuc.yaml]\n" + MINIMAL + "engine: {precision: f32}\n")
    config = load_config(path, environ={})
    assert isinstance(config.engine, OpenVINOEngineConfig)
    assert config.engine.device == "GPU"
    assert config.engine.precision == "f32"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("source: [unclosed\n", "invalid YAML"),
        ("- a list\n", "the top level must be a mapping"),
    ],
)
def test_given_broken_yaml_when_loaded_then_the_error_names_the_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.problems[0].startswith(str(path))
    assert expected in info.value.problems[0]


def test_given_a_missing_file_when_loaded_then_the_error_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml", environ={})


def test_given_a_relative_cache_dir_when_loaded_then_it_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "paths: {cache_dir: cache}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert "paths.cache_dir" in info.value.problems[0]
    assert "absolute" in info.value.problems[0]


def test_given_a_plugin_section_without_type_when_loaded_then_the_error_names_the_type_field(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, "source: {path: x}\nmodel: {path: m}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.problems == [
        f"{path}:1: source.type: field required: it selects the plug-in (see `edge-inspect config-schema`)"
    ]


def test_given_a_bad_key_in_an_included_file_when_loaded_then_the_include_and_its_line_are_named(
    tmp_path: Path,
) -> None:
    (tmp_path / "devices").mkdir()
    inc = write(tmp_path, "engine:\n  type: openvino\n  precison: f16\n", "devices/nuc.yaml")
    path = write(tmp_path, "include: [devices/nuc.yaml]\n" + MINIMAL)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.problems == [
        f"{inc}:3: engine.precison: unknown field (check the spelling; see `edge-inspect config-schema`)"
    ]


def test_given_a_bad_value_from_the_environment_or_set_when_loaded_then_that_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "mqtt: {port: 1883}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"EDGE_INSPECT_MQTT__PORT": "abc"})
    (problem,) = info.value.problems
    assert problem.startswith("environment variable EDGE_INSPECT_MQTT__PORT: mqtt.port: ")
    with pytest.raises(ConfigError) as info:
        load_config(path, ["mqtt.port=abc"], environ={})
    (problem,) = info.value.problems
    assert problem.startswith("--set mqtt.port=abc: mqtt.port: ")
    assert str(path) not in problem


def test_given_relative_paths_in_an_include_when_loaded_then_they_resolve_against_the_include(
    tmp_path: Path,
) -> None:
    (tmp_path / "profiles").mkdir()
    write(tmp_path, "model: {path: ../packages/m}\nsource: {type: replay, path: imgs}\n", "profiles/p.yaml")
    path = write(tmp_path, "include: [profiles/p.yaml]\n")
    config = load_config(path, environ={})
    assert config.model.path == tmp_path / "packages" / "m"
    assert isinstance(config.source, ReplaySourceConfig)
    assert Path(config.source.path) == tmp_path / "profiles" / "imgs"
    # an override still resolves against the config file's own folder
    config = load_config(path, ["model.path=here"], environ={})
    assert config.model.path == tmp_path / "here"


@pytest.mark.parametrize(
    ("yaml_value", "override"), [("5", "mqtt.protocol=5"), ("'3.1.1'", "mqtt.protocol=3.1.1")]
)
def test_given_the_protocol_as_a_number_or_string_when_loaded_then_both_are_accepted(
    tmp_path: Path, yaml_value: str, override: str
) -> None:
    config = load_config(write(tmp_path, MINIMAL + f"mqtt: {{protocol: {yaml_value}}}\n"), environ={})
    assert config.mqtt.protocol == override.split("=")[1]
    assert (
        load_config(write(tmp_path, MINIMAL), [override], environ={}).mqtt.protocol == override.split("=")[1]
    )
