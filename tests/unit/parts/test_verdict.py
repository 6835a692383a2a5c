"""A part's verdict from its shots: NG wins, then ERROR (a failure or a missing shot), then PASS."""

from __future__ import annotations

import dataclasses

from edge_inspect.parts.verdict import part_verdict
from edge_inspect.types import InspectionResult, PartTag, Verdict
from tests.helpers.results import defect, result


def shot(camera: str, verdict: Verdict, n: int = 1) -> InspectionResult:
    made = result(verdict, camera=camera, defects=(defect(),) if verdict is Verdict.NG else (), error="boom")
    return dataclasses.replace(made, part=PartTag(1, "P-1", n))


def test_every_expected_shot_pass_is_pass() -> None:
    assert part_verdict(
        {"top": 1, "side": 2}, [shot("top", Verdict.PASS), *(shot("side", Verdict.PASS, n) for n in (1, 2))]
    ) == (Verdict.PASS, [])


def test_one_ng_shot_makes_the_part_ng_even_with_a_shot_missing() -> None:
    verdict, reasons = part_verdict({"top": 1, "side": 1}, [shot("top", Verdict.NG)], timed_out_ms=500)
    assert verdict is Verdict.NG
    assert reasons[0].startswith("camera top shot 1: NG")
    assert "camera side: 0 of 1 shots arrived within 500 ms of the trigger" in reasons


def test_an_error_shot_makes_the_part_error_naming_camera_and_reason() -> None:
    verdict, reasons = part_verdict(
        {"top": 1, "side": 1}, [shot("top", Verdict.PASS), shot("side", Verdict.ERROR)]
    )
    assert verdict is Verdict.ERROR
    assert reasons == ["camera side shot 1: ERROR: boom"]


def test_a_missing_shot_is_never_a_pass() -> None:
    verdict, reasons = part_verdict({"top": 2}, [shot("top", Verdict.PASS)])
    assert verdict is Verdict.ERROR
    assert reasons == ["camera top: 1 of 2 shots arrived"]


def test_a_shot_lost_on_the_way_is_an_error() -> None:
    verdict, reasons = part_verdict(
        {"top": 1}, [shot("top", Verdict.PASS)], ["camera top shot 2: dropped, the frame queue was full"]
    )
    assert verdict is Verdict.ERROR
    assert reasons == ["camera top shot 2: dropped, the frame queue was full"]


def test_a_part_expecting_nothing_is_an_error() -> None:
    assert part_verdict({}, [])[0] is Verdict.ERROR
