"""Per-image outcomes -> the evaluation report: image level, pixel level, per class, threshold sweep.

An ERROR verdict counts as NG at image level (a part the station could not judge is not passed), and
the number of errors is reported on its own so it is never hidden in the false alarms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from edge_inspect.evaluation.metrics import Confusion, auroc, sweep
from edge_inspect.evaluation.runner import ImageOutcome


def _image_level(outcomes: Sequence[ImageOutcome]) -> dict[str, Any]:
    truth = [o.defective for o in outcomes]
    figures = Confusion.of(truth, [o.verdict != "PASS" for o in outcomes]).as_dict()
    figures["auroc"] = auroc(truth, [o.score for o in outcomes]) if 0 < sum(truth) < len(truth) else None
    return figures


def _pixel_level(outcomes: Sequence[ImageOutcome]) -> dict[str, Any]:
    ious = [o.iou for o in outcomes if o.defective and o.iou is not None]
    dices = [o.dice for o in outcomes if o.defective and o.dice is not None]
    return {
        "defective_images": len(ious),
        "mean_iou": float(np.mean(ious)) if ious else None,
        "mean_dice": float(np.mean(dices)) if dices else None,
    }


def summarize(
    outcomes: Sequence[ImageOutcome], thresholds: Sequence[float], operating_point: dict[str, Any]
) -> dict[str, Any]:
    """The whole report as plain JSON-ready data."""
    classes = sorted({o.texture_class for o in outcomes})
    judged = [o for o in outcomes if o.error is None]
    truth = [o.defective for o in judged]
    matrix = np.array([o.sweep_ng for o in judged], dtype=bool).T.reshape(len(thresholds), len(judged))
    return {
        "images": len(outcomes),
        "defective": sum(o.defective for o in outcomes),
        "errors": len(outcomes) - len(judged),
        "operating_point": operating_point,
        "image": _image_level(outcomes),
        "pixel": _pixel_level(outcomes),
        "per_class": {
            name: {
                "images": len(group),
                "image": _image_level(group),
                "pixel": _pixel_level(group),
            }
            for name in classes
            if (group := [o for o in outcomes if o.texture_class == name])
        },
        "sweep": [row.as_dict() for row in sweep(thresholds, truth, matrix)],
    }


def _pct(value: float | None) -> str:
    return "   n/a" if value is None else f"{100 * value:6.2f}"


def format_report(report: dict[str, Any]) -> str:
    """A plain-text rendering of :func:`summarize`'s report, for the terminal and the model card."""
    image, pixel = report["image"], report["pixel"]
    lines = [
        f"images {report['images']} (defective {report['defective']}, errors {report['errors']}); "
        f"operating point {report['operating_point']}",
        f"image level: TP {image['tp']}  TN {image['tn']}  FP {image['fp']}  FN {image['fn']}  "
        f"precision {_pct(image['precision'])} %  recall {_pct(image['recall'])} %  "
        f"false alarms {_pct(image['false_alarm_rate'])} %  F1 {_pct(image['f1'])} %  "
        f"AUROC {image['auroc'] if image['auroc'] is None else round(image['auroc'], 5)}",
        f"pixel level (defective images, n={pixel['defective_images']}): "
        f"mean IoU {_fmt(pixel['mean_iou'])}  mean Dice {_fmt(pixel['mean_dice'])}",
        "",
        "per class      images   TP   TN   FP   FN  precision  recall  false-alarm  IoU    Dice    AUROC",
    ]
    for name, block in report["per_class"].items():
        c, p = block["image"], block["pixel"]
        area = c.get("auroc")
        lines.append(
            f"{name:<14}{block['images']:>6} {c['tp']:>4} {c['tn']:>4} {c['fp']:>4} {c['fn']:>4}  "
            f"{_pct(c['precision'])}   {_pct(c['recall'])}  {_pct(c['false_alarm_rate'])}     "
            f"{_fmt(p['mean_iou'])}  {_fmt(p['mean_dice'])}  {'   n/a' if area is None else f'{area:.4f}'}"
        )
    points = {
        round(float(t), 4) for t in (report.get("operating_point", {}).get("thresholds") or {}).values()
    }
    lines += ["", "threshold    TP    TN    FP    FN  FP rate %  precision %  recall %"]
    lines += [
        f"{r['threshold']:>9.2f} {r['tp']:>5} {r['tn']:>5} {r['fp']:>5} {r['fn']:>5}  {_pct(r['fp_rate'])}"
        f"     {_pct(r['precision'])}    {_pct(r['recall'])}"
        + ("  <- operating point" if round(float(r["threshold"]), 4) in points else "")
        for r in report["sweep"]
    ]
    return "\n".join(lines)


def _fmt(value: float | None) -> str:
    return "n/a  " if value is None else f"{value:.3f}"
