"""Properties of the config loader, over generated input (hypothesis).

Whatever the file holds, loading it either gives a valid AppConfig or raises ConfigError whose lines
name the file and each bad field; no other exception escapes, and a good value is never altered.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from edge_inspect.config import build_config, load_config
from edge_inspect.config.loader import deep_merge, env_overrides, parse_override
from edge_inspect.errors import ConfigError

BASE: dict[str, Any] = {
    "source": {"type": "replay", "path": "images"},
    "model": {"path": "models/m"},
    "engine": {"type": "openvino"},
}
SOURCE = "station.yaml"
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# Bounded numeric fields: (dotted path, a valid value strategy, an invalid value strategy).
BOUNDED: list[tuple[str, st.SearchStrategy[Any], st.SearchStrategy[Any]]] = [
    ("mqtt.port", st.integers(1, 65535), st.one_of(st.integers(max_value=0), st.integers(min_value=65536))),
    ("mqtt.qos", st.integers(0, 2), st.one_of(st.integers(max_value=-1), st.integers(min_value=3))),
    ("mqtt.keepalive_s", st.integers(5, 3600), st.integers(max_value=4)),
    ("runtime.queue_size", st.integers(1, 1000), st.integers(max_value=0)),
    ("outbox.max_rows", st.integers(1, 10**9), st.integers(max_value=0)),
    ("outbox.max_bytes", st.integers(4096, 1 << 40), st.integers(max_value=4095)),
    (
        "outbox.keep_acked_s",
        st.floats(0, 86400),
        st.one_of(
            st.floats(max_value=-1e-6, allow_nan=False), st.floats(min_value=86400.5, allow_infinity=False)
        ),
    ),
    (
        "outbox.max_resends",
        st.integers(1, 10),
        st.one_of(st.integers(max_value=0), st.integers(min_value=11)),
    ),
    ("metrics.max_connections", st.integers(1, 1024), st.integers(max_value=0)),
    ("metrics.idle_timeout_s", st.floats(0.001, 300), st.floats(max_value=0, allow_nan=False)),
    ("watchdog.max_restarts_per_minute", st.integers(1, 1000), st.integers(max_value=0)),
    ("watchdog.check_interval_s", st.floats(0.001, 60), st.floats(max_value=0, allow_nan=False)),
    ("watchdog.inference_timeout_s", st.floats(0.001, 1e6), st.floats(max_value=0, allow_nan=False)),
    ("source.fps", st.floats(0, 1e4), st.floats(max_value=-1e-6, allow_nan=False)),
]
SECTIONS = [
    "mqtt",
    "runtime",
    "outbox",
    "watchdog",
    "logging",
    "paths",
    "source",
    "model",
    "engine",
    "metrics",
]
names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=12)


def with_value(data: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    keys = dotted.split(".")
    patch: dict[str, Any] = {keys[-1]: value}
    for key in reversed(keys[:-1]):
        patch = {key: patch}
    return deep_merge(data, patch)


def lookup(config: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        config = getattr(config, key)
    return config


def build(data: dict[str, Any]) -> Any:
    return build_config(data, source=SOURCE, base_dir=Path("/srv/station"), environ={})


def problems_of(load: Callable[[], Any]) -> list[str]:
    """The ConfigError lines of ``load()``, or [] when it loads; any other exception propagates."""
    try:
        load()
    except ConfigError as exc:
        return exc.problems
    return []


@PROPS
@given(st.data())
def test_any_valid_bounded_values_load_unchanged(data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.sampled_from(BOUNDED), min_size=1, max_size=4, unique_by=lambda b: b[0]))
    values = {path: data.draw(valid, label=path) for path, valid, _invalid in chosen}
    config_data = BASE
    for path, value in values.items():
        config_data = with_value(config_data, path, value)

    config = build(config_data)

    for path, value in values.items():
        assert lookup(config, path) == value


@PROPS
@given(st.data())
def test_every_out_of_range_field_is_named_once_with_the_file(data: st.DataObject) -> None:
    chosen = data.draw(st.lists(st.sampled_from(BOUNDED), min_size=1, max_size=5, unique_by=lambda b: b[0]))
    config_data = BASE
    for path, _valid, invalid in chosen:
        config_data = with_value(config_data, path, data.draw(invalid, label=path))

    problems = problems_of(lambda: build(config_data))

    assert problems, "an out-of-range value was accepted"
    assert all(line.startswith(f"{SOURCE}: ") for line in problems)
    named = {line.split(": ")[1] for line in problems}
    assert named == {path for path, _valid, _invalid in chosen}


@PROPS
@given(section=st.sampled_from(SECTIONS), key=names)
def test_an_unknown_key_in_any_section_is_named_by_its_dotted_path(section: str, key: str) -> None:
    config_data = deep_merge(BASE, {section: {key: 1}})
    known = set(type(lookup(build(BASE), section)).model_fields)
    assume(key not in known)

    try:
        build(config_data)
    except ConfigError as exc:
        problems = exc.problems
    else:
        raise AssertionError(f"unknown key {section}.{key} was accepted")

    assert (
        f"{SOURCE}: {section}.{key}: unknown field (check the spelling; see `edge-inspect config-schema`)"
        in (problems)
    )


yaml_scalars = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.text(string.ascii_letters + string.digits + "-_./", min_size=1, max_size=20),
)


@PROPS
@given(keys=st.lists(names, min_size=1, max_size=4), value=yaml_scalars)
def test_set_overrides_read_back_as_the_value_written(keys: list[str], value: Any) -> None:
    dotted = ".".join(keys)
    text = yaml.safe_dump(value, default_flow_style=True).strip()
    text = text.removesuffix("\n...").removesuffix("...").strip()

    assert parse_override(f"{dotted}={text}") == (dotted, value)


@PROPS
@given(st.text(max_size=300))
def test_any_file_content_loads_or_fails_with_a_config_error_naming_the_file(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(text, encoding="utf-8")
    problems = problems_of(lambda: load_config(path, environ={}))

    assert all(line.startswith(str(path)) for line in problems)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)),
    max_leaves=12,
)


@PROPS
@given(tree=st.dictionaries(st.sampled_from([*SECTIONS, "station", "camera"]), json_values, max_size=6))
def test_any_structure_loads_or_fails_with_one_line_per_bad_field(tree: dict[str, Any]) -> None:
    problems = problems_of(lambda: build(deep_merge(BASE, tree)))

    assert all(line.startswith(f"{SOURCE}: ") and line.count(": ") >= 2 for line in problems)


@given(
    base=st.dictionaries(names, json_values, max_size=4), over=st.dictionaries(names, json_values, max_size=4)
)
def test_deep_merge_keeps_every_key_and_the_override_wins_at_the_leaves(
    base: dict[str, Any], over: dict[str, Any]
) -> None:
    merged = deep_merge(base, over)

    assert set(merged) == set(base) | set(over)
    assert deep_merge(base, {}) == base
    for key, value in over.items():
        if not (isinstance(value, dict) and isinstance(base.get(key), dict)):
            assert merged[key] == value


@given(st.dictionaries(st.lists(names, min_size=2, max_size=3).map(tuple), st.text(max_size=10), max_size=5))
def test_environment_variables_map_to_dotted_paths(pairs: dict[tuple[str, ...], str]) -> None:
    assume(all(all(not part.startswith("_") and not part.endswith("_") for part in k) for k in pairs))
    assume(all("__" not in part for k in pairs for part in k))
    environ = {"EDGE_INSPECT_" + "__".join(k).upper(): v for k, v in pairs.items()}
    environ["UNRELATED"] = "x"

    found = dict(env_overrides(environ))

    assert found == {".".join(k): v for k, v in pairs.items()}
