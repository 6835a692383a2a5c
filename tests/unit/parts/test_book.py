"""The part book: frames tied to parts in order, one verdict per part, published in trigger order."""

from __future__ import annotations

import collections
import dataclasses
import functools
import threading
import time

import numpy as np
import pytest

from edge_inspect.parts.book import PartBook, PartResult
from edge_inspect.types import Frame, InspectionResult, SourceInfo, Verdict
from tests.helpers.results import MODEL, result
from tests.helpers.waiting import wait_or_fail


class Line:
    """What the book is wired to: the published parts, counters and the cameras it fired."""

    def __init__(self) -> None:
        self.parts: list[PartResult] = []
        self.counts: collections.Counter[str] = collections.Counter()
        self.fired: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    def publish(self, part: PartResult) -> None:
        with self.lock:
            self.parts.append(part)

    def count(self, name: str, n: int) -> None:
        with self.lock:
            self.counts[name] += n

    def book(self, shots: dict[str, int], *, timeout_ms: int = 60_000, max_pending: int = 8) -> PartBook:
        return PartBook(
            shots,
            timeout_ms=timeout_ms,
            max_pending=max_pending,
            publish=self.publish,
            identity=lambda: (MODEL, "cafe"),
            fire={camera: functools.partial(self._fire, camera) for camera in shots},
            count=self.count,
        )

    def _fire(self, camera: str) -> None:
        self.fired[camera] += 1


@pytest.fixture
def line() -> Line:
    return Line()


def frame(camera: str, seq: int = 0) -> Frame:
    return Frame(
        seq=seq,
        camera=camera,
        captured_at=time.time(),
        monotonic=time.monotonic(),
        image=np.zeros((4, 4), np.uint8),
        source=SourceInfo(kind="replay", path=f"/{camera}/{seq}.png", index=seq),
    )


def inspected(tagged: Frame, verdict: Verdict = Verdict.PASS) -> InspectionResult:
    return dataclasses.replace(result(verdict, camera=tagged.camera, seq=tagged.seq), part=tagged.part)


def test_frames_are_tied_to_each_camera_oldest_trigger_and_parts_publish_in_trigger_order(line: Line) -> None:
    book = line.book({"top": 1, "side": 1})
    for n in (1, 2, 3):
        book.trigger(f"P-{n}")
    assert line.fired == {"top": 3, "side": 3}
    top = [book.tag(frame("top", n)) for n in range(3)]
    side = [book.tag(frame("side", n)) for n in range(3)]
    assert [f.part.part_id for f in top if f.part] == ["P-1", "P-2", "P-3"]

    # part 3 is complete first, then 1, then 2: each waits for the parts triggered before it
    book.handle(inspected(top[2]))
    book.handle(inspected(side[2], Verdict.NG))
    assert line.parts == []
    book.handle(inspected(top[0]))
    book.handle(inspected(side[0]))
    assert [p.part_id for p in line.parts] == ["P-1"]
    book.handle(inspected(side[1]))
    book.handle(inspected(top[1]))

    assert [(p.part_id, p.verdict) for p in line.parts] == [
        ("P-1", Verdict.PASS),
        ("P-2", Verdict.PASS),
        ("P-3", Verdict.NG),
    ]
    assert [p.seq for p in line.parts] == [1, 2, 3]
    assert all({f.camera for f in p.frames} == {"top", "side"} for p in line.parts)
    assert book.pending() == 0


def test_a_part_waits_for_every_shot_of_every_camera(line: Line) -> None:
    book = line.book({"top": 2, "side": 1})
    book.trigger("P-1")
    assert line.fired == {"top": 2, "side": 1}
    shots = [book.tag(frame("top", 0)), book.tag(frame("top", 1)), book.tag(frame("side", 0))]
    assert [f.part.shot for f in shots if f.part] == [1, 2, 1]
    book.handle(inspected(shots[0]))
    book.handle(inspected(shots[2]))
    assert line.parts == []
    book.handle(inspected(shots[1]))
    assert [p.verdict for p in line.parts] == [Verdict.PASS]


def test_a_shot_missing_at_the_deadline_makes_the_part_error_naming_the_camera(line: Line) -> None:
    book = line.book({"top": 1, "side": 1}, timeout_ms=50)
    book.start()
    try:
        book.trigger("P-1")
        book.handle(inspected(book.tag(frame("top"))))
        wait_or_fail(lambda: line.parts, 5, "the part decided by its deadline")
    finally:
        book.close()
    [part] = line.parts
    assert part.verdict is Verdict.ERROR
    assert part.reasons == ("camera side: 0 of 1 shots arrived within 50 ms of the trigger",)
    assert part.latency_ms >= 50
    assert line.counts["parts.timeouts"] == 1


def test_a_frame_after_its_part_was_decided_keeps_its_part_and_shifts_nothing(line: Line) -> None:
    book = line.book({"top": 1}, timeout_ms=30)
    book.start()
    try:
        book.trigger("P-1")
        wait_or_fail(lambda: line.parts, 5, "P-1 timed out")
        book.trigger("P-2")
        late = book.tag(frame("top", 0))  # P-1's frame, grabbed late
        on_time = book.tag(frame("top", 1))
        assert late.part is not None
        assert late.part.part_id == "P-1"
        assert on_time.part is not None
        assert on_time.part.part_id == "P-2"
        book.handle(inspected(late))
        book.handle(inspected(on_time))
    finally:
        book.close()
    assert [(p.part_id, p.verdict) for p in line.parts] == [("P-1", Verdict.ERROR), ("P-2", Verdict.PASS)]
    assert line.counts["parts.late_frames"] == 1


def test_a_trigger_beyond_max_pending_is_an_error_part_at_once_and_fires_nothing(line: Line) -> None:
    book = line.book({"top": 1}, max_pending=2)
    book.trigger("P-1")
    book.trigger("P-2")
    book.trigger("P-3")
    assert line.fired == {"top": 2}
    assert line.parts == []  # P-3 is decided, and waits for P-1 and P-2 to keep the order
    for _ in range(2):
        book.handle(inspected(book.tag(frame("top"))))
    assert [(p.part_id, p.verdict) for p in line.parts] == [
        ("P-1", Verdict.PASS),
        ("P-2", Verdict.PASS),
        ("P-3", Verdict.ERROR),
    ]
    assert "trigger queue full" in line.parts[2].reasons[0]
    assert line.counts["parts.overflow"] == 1
    assert line.parts[2].model == MODEL  # decided from no frame: the station's identity
    assert line.parts[2].recipe_hash == "cafe"


def test_a_duplicate_part_id_is_inspected_and_flagged(line: Line) -> None:
    book = line.book({"top": 1})
    book.trigger("P-1")
    book.trigger("P-1")
    for _ in range(2):
        book.handle(inspected(book.tag(frame("top"))))
    assert [(p.part_id, p.duplicate, len(p.frames)) for p in line.parts] == [
        ("P-1", False, 1),
        ("P-1", True, 1),
    ]
    assert line.counts["parts.duplicates"] == 1


def test_triggers_without_an_id_are_numbered_and_refused_ones_are_error_parts(line: Line) -> None:
    book = line.book({"top": 1})
    book.refuse("trigger message is not JSON")
    tag = book.trigger(None, {"tray": 3})
    assert tag.part_id == "auto-2"
    book.handle(inspected(book.tag(frame("top"))))
    assert [(p.part_id, p.verdict) for p in line.parts] == [
        ("auto-1", Verdict.ERROR),
        ("auto-2", Verdict.PASS),
    ]
    assert line.parts[0].reasons == ("trigger refused: trigger message is not JSON",)
    assert line.parts[1].meta == {"tray": 3}


def test_a_dropped_shot_decides_its_part_at_once(line: Line) -> None:
    book = line.book({"top": 1, "side": 1})
    book.trigger("P-1")
    book.handle(inspected(book.tag(frame("side"))))
    book.dropped(book.tag(frame("top")))
    [part] = line.parts
    assert part.verdict is Verdict.ERROR
    assert part.reasons == ("camera top shot 1: dropped, the frame queue was full",)


def test_an_untriggered_frame_is_counted_and_left_untagged(line: Line) -> None:
    book = line.book({"top": 1})
    assert book.tag(frame("top")).part is None
    assert line.counts["parts.untriggered_frames"] == 1


def test_closing_decides_every_open_part_as_error_and_refuses_later_triggers(line: Line) -> None:
    book = line.book({"top": 1})
    book.trigger("P-1")
    book.close()
    book.trigger("P-2")
    assert [(p.part_id, p.verdict) for p in line.parts] == [("P-1", Verdict.ERROR), ("P-2", Verdict.ERROR)]
    assert "stopped" in line.parts[0].reasons[0]
    assert "stopping" in line.parts[1].reasons[0]
