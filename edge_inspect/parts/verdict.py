"""A part's verdict from its shots: pure, so the rule is tested on its own.

``NG`` when any shot is NG (a defect seen is a reject, whatever else happened); else ``ERROR`` when any
shot is ERROR, was dropped, or had not arrived by the deadline; ``PASS`` only when every expected shot
arrived and is PASS. Never a PASS by default: a part with no expected shot is an ERROR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from edge_inspect.types import InspectionResult, Verdict


def part_verdict(
    expected: Mapping[str, int],
    frames: Sequence[InspectionResult],
    failures: Sequence[str] = (),
    *,
    lost: Mapping[str, int] | None = None,
    timed_out_ms: int | None = None,
) -> tuple[Verdict, list[str]]:
    """(verdict, reasons) of a part that expected ``expected[camera]`` shots and got ``frames``.

    ``failures`` are shots lost on the way (one line each, naming the camera; ``lost`` counts them per
    camera, so they are not named missing as well); ``timed_out_ms`` is the
    deadline when the part was decided by it (the shots missing then are named in the reasons).
    """
    reasons: list[str] = []
    ng = error = False
    for frame in frames:
        shot = frame.part.shot if frame.part is not None else 1
        if frame.verdict is Verdict.NG:
            ng = True
            rules = frame.decision.reasons if frame.decision is not None else ()
            reasons.append(
                f"camera {frame.camera} shot {shot}: NG" + (f" ({'; '.join(rules)})" if rules else "")
            )
        elif frame.verdict is Verdict.ERROR:
            error = True
            reasons.append(f"camera {frame.camera} shot {shot}: ERROR: {frame.error or 'no reason given'}")
    if failures:
        error = True
        reasons.extend(failures)
    arrived = dict.fromkeys(expected, 0)
    for frame in frames:
        arrived[frame.camera] = arrived.get(frame.camera, 0) + 1
    for camera, want in expected.items():
        got = arrived[camera]
        if got + (lost or {}).get(camera, 0) < want:
            error = True
            within = f" within {timed_out_ms} ms of the trigger" if timed_out_ms is not None else ""
            reasons.append(f"camera {camera}: {got} of {want} shots arrived{within}")
    if not expected:
        error = True
        reasons.append("no camera was expected to take a shot")
    if ng:
        return Verdict.NG, reasons
    if error:
        return Verdict.ERROR, reasons
    return Verdict.PASS, []
