"""The overlay: 8-bit BGR of any frame, contours and boxes in the class's colour, a verdict banner."""

from __future__ import annotations

import numpy as np
import pytest

from edge_inspect.sinks.overlay import VERDICT_COLOURS, class_colour, render_overlay, to_bgr8
from edge_inspect.types import Decision, Verdict
from tests.helpers.results import defect

CLASSES = ("scratch", "dent")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (np.full((4, 5), 200, np.uint8), 200),
        (np.full((4, 5), 200 * 256 + 99, np.uint16), 200),  # a 16-bit frame is shown by its high byte
        (np.full((4, 5, 1), 7, np.uint8), 7),
        (np.full((4, 5, 3), 9, np.uint8), 9),
        (np.full((4, 5, 4), 11, np.uint8), 11),
    ],
)
def test_any_frame_becomes_8_bit_bgr(image: np.ndarray, expected: int) -> None:
    out = to_bgr8(image)
    assert out.shape == (4, 5, 3)
    assert out.dtype == np.uint8
    assert np.all(out == expected)


def test_to_bgr8_copies_so_drawing_never_touches_the_frame() -> None:
    frame = np.zeros((4, 5, 3), np.uint8)
    to_bgr8(frame)[:] = 255
    assert not frame.any()


@pytest.mark.parametrize("image", [np.zeros((4, 5), np.float32), np.zeros((4, 5, 2), np.uint8)])
def test_frames_that_cannot_be_drawn_are_refused_with_their_type(image: np.ndarray) -> None:
    with pytest.raises(ValueError, match=r"cannot draw"):
        to_bgr8(image)


def ng_decision() -> Decision:
    masks = np.zeros((200, 300), np.uint8)
    masks[50:90, 100:160] = 2  # a 'dent' region (class id 2)
    found = defect("dent", bbox=(100, 50, 60, 40), score=0.93)
    return Decision(
        verdict=Verdict.NG, defects=(found,), score=0.93, reasons=("1 defect > max 0",), masks=masks
    )


def test_ng_overlay_draws_the_contour_box_and_banner_in_their_colours() -> None:
    # given a grey frame with one 'dent' defect
    frame = np.full((200, 300), 128, np.uint8)
    # when the overlay is drawn
    out = render_overlay(frame, Verdict.NG, ng_decision(), CLASSES)
    # then the region's border is in the dent colour, its inside is untouched, and the banner is NG red
    dent = np.array(class_colour(CLASSES, "dent"), np.uint8)
    assert np.array_equal(out[70, 100], dent)  # left edge of the region (contour and box)
    assert np.array_equal(out[89, 130], dent)  # bottom edge
    assert np.all(out[70, 130] == 128)  # inside the region
    assert np.array_equal(out[2, 299], np.array(VERDICT_COLOURS[Verdict.NG], np.uint8))
    assert np.all(out[150:, :] == 128)  # far from anything drawn
    assert np.all(frame == 128)


def test_a_mask_of_another_size_is_skipped_but_boxes_are_drawn() -> None:
    frame = np.full((100, 120), 128, np.uint8)
    decision = Decision(
        verdict=Verdict.NG,
        defects=(defect("scratch", bbox=(10, 40, 20, 20)),),
        score=0.9,
        reasons=("x",),
        masks=np.ones((10, 10), np.uint8),
    )
    out = render_overlay(frame, Verdict.NG, decision, CLASSES)
    assert np.array_equal(out[50, 10], np.array(class_colour(CLASSES, "scratch"), np.uint8))


def test_an_error_frame_without_decision_gets_the_error_banner() -> None:
    frame = np.full((60, 400), 50, np.uint8)
    out = render_overlay(frame, Verdict.ERROR, None, CLASSES, error="preprocess: wrong size")
    assert np.array_equal(out[1, 399], np.array(VERDICT_COLOURS[Verdict.ERROR], np.uint8))
    assert np.all(out[-1] == 50)


def test_unknown_class_names_share_a_colour_without_failing() -> None:
    assert class_colour(CLASSES, "mystery") == class_colour(CLASSES, "other")
    assert class_colour(CLASSES, "scratch") != class_colour(CLASSES, "dent")


def test_only_the_highest_scoring_defects_get_boxes() -> None:
    # given two defects, and room for one label
    frame = np.full((100, 200), 128, np.uint8)
    low = defect("scratch", bbox=(10, 40, 20, 20), score=0.6)
    high = defect("scratch", bbox=(120, 40, 20, 20), score=0.95)
    decision = Decision(verdict=Verdict.NG, defects=(low, high), score=0.95, reasons=("x",), masks=None)
    out = render_overlay(frame, Verdict.NG, decision, CLASSES, max_labelled=1)
    colour = np.array(class_colour(CLASSES, "scratch"), np.uint8)
    # then the higher one is boxed, the lower one is not
    assert np.array_equal(out[50, 120], colour)
    assert np.all(out[50, 10] == 128)
