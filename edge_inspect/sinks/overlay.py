"""Draw what the decision saw onto the frame: defect contours, boxes, class and score, and the verdict.

Pure functions of (pixels, decision): no I/O, so the drawing is tested on synthetic frames. The output
is always 8-bit BGR (a 16-bit frame is shown by its high byte), for a JPEG a person opens.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from edge_inspect.types import Decision, ImageArray, Verdict

Bgr8 = npt.NDArray[np.uint8]

# BGR, chosen to stay distinct on grey textures; class k (1-based) uses _PALETTE[(k - 1) % len]
_PALETTE: tuple[tuple[int, int, int], ...] = (
    (0, 0, 255),
    (0, 200, 255),
    (255, 0, 255),
    (255, 128, 0),
    (0, 255, 0),
    (255, 255, 0),
    (128, 0, 255),
    (0, 128, 255),
)
VERDICT_COLOURS: dict[Verdict, tuple[int, int, int]] = {
    Verdict.PASS: (0, 170, 0),
    Verdict.NG: (0, 0, 230),
    Verdict.ERROR: (0, 160, 230),
}
_FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_LABELLED = 20
"""Boxes and labels for at most this many defects (the highest scores); contours show every one."""
_RANK_MONO = 2
_RANK_COLOUR = 3


def to_bgr8(image: ImageArray) -> Bgr8:
    """A new 8-bit BGR copy of a mono / BGR / BGRA frame, uint8 or uint16 (shown by its high byte)."""
    if image.dtype == np.uint16:
        pixels = (image >> 8).astype(np.uint8)
    elif image.dtype == np.uint8:
        pixels = image
    else:
        msg = f"cannot draw on a {image.dtype} frame; expected uint8 or uint16"
        raise ValueError(msg)
    if pixels.ndim == _RANK_MONO or (pixels.ndim == _RANK_COLOUR and pixels.shape[2] == 1):
        return np.asarray(cv2.cvtColor(pixels.reshape(pixels.shape[:2]), cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if pixels.ndim == _RANK_COLOUR and pixels.shape[2] == 3:
        return np.array(pixels, dtype=np.uint8, copy=True)
    if pixels.ndim == _RANK_COLOUR and pixels.shape[2] == 4:
        return np.asarray(cv2.cvtColor(pixels, cv2.COLOR_BGRA2BGR), dtype=np.uint8)
    msg = f"cannot draw on a frame of shape {image.shape}; expected HxW, HxWx1, HxWx3 or HxWx4"
    raise ValueError(msg)


def class_colour(classes: Sequence[str], name: str) -> tuple[int, int, int]:
    """The BGR colour of a class: by its position in the model's classes (unknown names share the last)."""
    index = classes.index(name) if name in classes else len(classes)
    return _PALETTE[index % len(_PALETTE)]


def render_overlay(
    image: ImageArray,
    verdict: Verdict,
    decision: Decision | None,
    classes: Sequence[str],
    *,
    error: str | None = None,
    max_labelled: int = MAX_LABELLED,
) -> Bgr8:
    """The frame with each kept defect's contour (from ``decision.masks``), box and ``class score``
    label, and a banner with the verdict, the image score and the reasons (or the error)."""
    canvas = to_bgr8(image)
    height, width = canvas.shape[:2]
    thickness = max(1, round(min(height, width) / 400))
    scale = 0.4 * thickness
    if decision is not None:
        masks = decision.masks
        if masks is not None and masks.size:
            # a large frame is decided on a scaled-down map: its contours are scaled up to the frame
            zoom = (width / masks.shape[1], height / masks.shape[0])
            _draw_contours(canvas, masks, classes, thickness, zoom)
        worst = sorted(decision.defects, key=lambda d: -d.max_score)[:max_labelled]
        for defect in worst:
            colour = class_colour(classes, defect.class_name)
            x, y, w, h = (int(v) for v in defect.bbox)
            cv2.rectangle(canvas, (x, y), (x + w - 1, y + h - 1), colour, thickness)
            _label(
                canvas,
                f"{defect.class_name} {defect.max_score:.2f}",
                (x, y),
                colour,
                scale=scale,
                t=thickness,
            )
    text = _banner_text(verdict, decision, error)
    if decision is not None and len(decision.defects) > max_labelled:
        text += f"  (boxes: {max_labelled} highest of {len(decision.defects)})"
    _banner(canvas, text, VERDICT_COLOURS[verdict], scale, thickness)
    return canvas


def _draw_contours(
    canvas: Bgr8,
    masks: npt.NDArray[np.uint8],
    classes: Sequence[str],
    thickness: int,
    zoom: tuple[float, float] = (1.0, 1.0),
) -> None:
    for class_id in np.unique(masks):
        if class_id == 0:
            continue
        binary = (masks == class_id).astype(np.uint8)
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        if zoom != (1.0, 1.0):
            factor = np.array(zoom, dtype=np.float64)
            contours = tuple((c * factor).astype(np.int32) for c in contours)
        colour = _PALETTE[(int(class_id) - 1) % len(_PALETTE)]
        if int(class_id) - 1 >= len(classes):
            colour = _PALETTE[len(classes) % len(_PALETTE)]
        cv2.drawContours(canvas, contours, -1, colour, thickness)


def _banner_text(verdict: Verdict, decision: Decision | None, error: str | None) -> str:
    parts = [verdict.value]
    if decision is not None and decision.score is not None:
        parts.append(f"score {decision.score:.3f}")
    if decision is not None and decision.reasons:
        parts.append("; ".join(decision.reasons))
    if error:
        parts.append(error)
    return "  ".join(parts)


def _label(
    canvas: Bgr8, text: str, at: tuple[int, int], colour: tuple[int, int, int], *, scale: float, t: int
) -> None:
    """Text on a filled box just above ``at`` (below it when there is no room above)."""
    (tw, th), base = cv2.getTextSize(text, _FONT, scale, t)
    x, y = at
    top = y - th - base - 2 if y - th - base - 2 >= 0 else y + 1
    x = min(max(0, x), max(0, canvas.shape[1] - tw - 2))
    cv2.rectangle(canvas, (x, top), (x + tw + 2, top + th + base + 2), colour, cv2.FILLED)
    cv2.putText(canvas, text, (x + 1, top + th + 1), _FONT, scale, (255, 255, 255), t, cv2.LINE_AA)


def _banner(canvas: Bgr8, text: str, colour: tuple[int, int, int], scale: float, t: int) -> None:
    banner_scale = scale * 1.25
    (_, th), base = cv2.getTextSize(text, _FONT, banner_scale, t)
    cv2.rectangle(canvas, (0, 0), (canvas.shape[1] - 1, th + base + 6), colour, cv2.FILLED)
    cv2.putText(canvas, text, (3, th + 3), _FONT, banner_scale, (255, 255, 255), t, cv2.LINE_AA)
