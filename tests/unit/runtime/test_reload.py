"""What a SIGHUP reload may apply live (decision) and what needs a restart (everything else)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_inspect.config import build_config
from edge_inspect.runtime.reload import config_change

BASE: dict[str, Any] = {"source": {"type": "replay", "path": "images"}, "model": {"path": "m"}}


def config(**sections: Any) -> Any:
    return build_config({**BASE, **sections}, source="t.yaml", base_dir=Path("/srv"), environ={})


def test_given_only_decision_changes_then_all_of_it_applies_live() -> None:
    change = config_change(config(), config(decision={"max_defects": 2}))

    assert change.live == ("decision",)
    assert change.restart == ()


def test_given_other_sections_change_then_they_are_listed_for_a_restart() -> None:
    change = config_change(
        config(decision={"max_defects": 0}),
        config(decision={"max_defects": 1}, mqtt={"port": 1884}, watchdog={"tick_s": 2}),
    )

    assert change.live == ("decision",)
    assert change.restart == ("mqtt", "watchdog")


def test_given_a_new_password_then_it_counts_as_a_change_although_it_prints_hidden() -> None:
    change = config_change(config(mqtt={"password": "a"}), config(mqtt={"password": "b"}))

    assert change.restart == ("mqtt",)


def test_given_the_same_file_then_nothing_changes() -> None:
    assert config_change(config(), config()).live == ()
    assert config_change(config(), config()).restart == ()


def _cameras(side_decision: dict[str, Any] | None, side_path: str = "side") -> list[dict[str, Any]]:
    side: dict[str, Any] = {"id": "side", "source": {"type": "replay", "path": side_path}}
    if side_decision is not None:
        side["decision"] = side_decision
    return [{"id": "top", "source": {"type": "replay", "path": "top"}}, side]


def station(cameras: list[dict[str, Any]]) -> Any:
    return build_config(
        {"cameras": cameras, "model": {"path": "m"}}, source="t.yaml", base_dir=Path("/srv"), environ={}
    )


def test_given_only_a_camera_decision_changes_then_it_applies_live() -> None:
    change = config_change(station(_cameras(None)), station(_cameras({"max_defects": 3})))

    assert change.live == ("cameras",)
    assert change.restart == ()


def test_given_a_camera_source_changes_too_then_the_cameras_need_a_restart() -> None:
    change = config_change(station(_cameras(None)), station(_cameras({"max_defects": 3}, side_path="other")))

    assert change.live == ()
    assert change.restart == ("cameras",)
