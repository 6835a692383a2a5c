"""Hostile config files: every one is refused with one line naming the file, quickly and in little memory.

Each case was a hang, a multi-GB allocation or a traceback before the loader bounded its input.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import pytest

from edge_inspect.config import load_config
from edge_inspect.config.loader import MAX_FILES, MAX_INCLUDE_DEPTH, parse_override
from edge_inspect.config.reading import MAX_FILE_BYTES, MAX_NESTING
from edge_inspect.errors import ConfigError

MINIMAL = "source: {type: replay, path: images}\nmodel: {path: models/m}\n"


def refused(path: Path, *overrides: str) -> list[str]:
    started = time.monotonic()
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides, environ={})
    assert time.monotonic() - started < 5, "a bounded check must not take seconds"
    return info.value.problems


def billion_laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_given_an_alias_bomb_when_loaded_then_it_is_refused_without_expanding_it(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(MINIMAL + billion_laughs(), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    problems = refused(path)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert len(problems) == 1
    assert problems[0].startswith(f"{path}:")
    assert "alias" in problems[0]
    assert grown_kib < 200_000  # the expansion would be 10**9 strings


def test_given_an_alias_bomb_in_a_set_override_when_parsed_then_it_is_refused() -> None:
    levels = ["&l0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 7)]
    assert parse_override("x=[" + ", ".join(levels[:2]) + "]")[0] == "x"  # small: accepted
    with pytest.raises(ConfigError, match=r"^--set x=.*alias bomb"):
        parse_override("x=[" + ", ".join(levels) + "]")


def test_given_a_self_referencing_alias_when_loaded_then_it_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(MINIMAL + "engine: &e {type: openvino, x: *e}\n", encoding="utf-8")
    assert "alias" in refused(path)[0]


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom"])
def test_given_a_device_file_when_loaded_or_included_then_it_is_refused(tmp_path: Path, target: str) -> None:
    if not Path(target).exists():
        pytest.skip(f"{target} is missing here")
    assert "not a regular file" in refused(Path(target))[0]
    path = tmp_path / "station.yaml"
    path.write_text(f"include: [{target}]\n" + MINIMAL, encoding="utf-8")
    problems = refused(path)
    assert problems[0].startswith(target)
    assert "not a regular file" in problems[0]


def test_given_a_folder_or_a_fifo_when_loaded_then_it_is_refused(tmp_path: Path) -> None:
    assert "not a regular file" in refused(tmp_path)[0]
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)
    assert "not a regular file" in refused(fifo)[0]  # opened without blocking on a writer


def test_given_a_file_over_the_size_limit_when_loaded_then_it_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(MINIMAL + "# " + "x" * MAX_FILE_BYTES + "\n", encoding="utf-8")
    assert "larger than" in refused(path)[0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"source: \xe9t\xe9\n", "not UTF-8"),  # Latin-1
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", "NUL"),
        (bytes(range(256)), "not UTF-8"),
    ],
)
def test_given_a_binary_or_latin1_include_when_loaded_then_one_line_names_it(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    (tmp_path / "inc.yaml").write_bytes(content)
    path = tmp_path / "station.yaml"
    path.write_text("include: [inc.yaml]\n" + MINIMAL, encoding="utf-8")
    problems = refused(path)
    assert problems == [problems[0]]
    assert problems[0].startswith(str(tmp_path / "inc.yaml"))
    assert expected in problems[0]


@pytest.mark.parametrize("depth", [MAX_NESTING + 1, 5000])
def test_given_deep_nesting_when_loaded_then_it_is_refused_without_recursion_error(
    tmp_path: Path, depth: int
) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(MINIMAL + "x: " + "[" * depth + "]" * depth + "\n", encoding="utf-8")
    assert "nested more than" in refused(path)[0]


def test_given_an_include_fan_out_when_loaded_then_the_file_count_bounds_it(tmp_path: Path) -> None:
    for level in range(7):
        names = ", ".join(f"l{level + 1}_{i}.yaml" for i in range(10))
        for i in range(10):
            (tmp_path / f"l{level}_{i}.yaml").write_text(f"include: [{names}]\n", encoding="utf-8")
    for i in range(10):
        (tmp_path / f"l7_{i}.yaml").write_text("{}\n", encoding="utf-8")
    path = tmp_path / "station.yaml"
    path.write_text("include: [l0_0.yaml]\n" + MINIMAL, encoding="utf-8")
    problems = refused(path)
    assert f"more than {MAX_FILES} files" in problems[0]


def test_given_includes_nested_too_deep_when_loaded_then_it_is_refused(tmp_path: Path) -> None:
    for level in range(MAX_INCLUDE_DEPTH + 2):
        (tmp_path / f"d{level}.yaml").write_text(f"include: [d{level + 1}.yaml]\n", encoding="utf-8")
    (tmp_path / f"d{MAX_INCLUDE_DEPTH + 2}.yaml").write_text("{}\n", encoding="utf-8")
    path = tmp_path / "station.yaml"
    path.write_text("include: [d0.yaml]\n" + MINIMAL, encoding="utf-8")
    assert f"nested more than {MAX_INCLUDE_DEPTH} levels" in refused(path)[0]


def test_given_an_include_cycle_when_loaded_then_the_error_names_the_files_of_the_cycle(
    tmp_path: Path,
) -> None:
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("include: [b.yaml]\n", encoding="utf-8")
    b.write_text("include: [a.yaml]\n", encoding="utf-8")
    path = tmp_path / "station.yaml"
    path.write_text("include: [a.yaml]\n" + MINIMAL, encoding="utf-8")
    (problem,) = refused(path)
    assert problem.startswith(f"{b}: include: a cycle: {a} -> {b} -> {a}")
    assert str(path) not in problem.split("cycle:")[1]  # the including file is not part of the cycle


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ("station=" + "s" * 100_000, "station"),
        ("mqtt.topic_prefix=" + "p" * 70_000, "mqtt.topic_prefix"),
        ("mqtt.topic_prefix=a//b", "mqtt.topic_prefix"),
        ("mqtt.topic_prefix=a/b/", "mqtt.topic_prefix"),
        ("mqtt.topic_prefix=$SYS/x", "mqtt.topic_prefix"),
        ("mqtt.topic_prefix=a/+/b", "mqtt.topic_prefix"),
        ("mqtt.host=" + "h" * 100_000, "mqtt.host"),
        ("runtime.shutdown_grace_s=.inf", "runtime.shutdown_grace_s"),
        ("runtime.shutdown_grace_s=.nan", "runtime.shutdown_grace_s"),
        ("mqtt.stats_interval_s=.inf", "mqtt.stats_interval_s"),
    ],
)
def test_given_values_that_crashed_later_when_validated_then_they_are_refused_naming_the_field(
    tmp_path: Path, override: str, field: str
) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    (problem,) = refused(path, override)
    assert problem.startswith(f"--set {override[:40]}")
    assert f": {field}: " in problem


def test_given_reconnect_min_above_max_when_validated_then_the_order_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "station.yaml"
    path.write_text(MINIMAL + "mqtt: {reconnect_min_s: 60, reconnect_max_s: 1}\n", encoding="utf-8")
    (problem,) = refused(path)
    assert problem.startswith(f"{path}:3: mqtt: ")
    assert "reconnect_min_s (60.0) is larger than reconnect_max_s (1.0)" in problem
