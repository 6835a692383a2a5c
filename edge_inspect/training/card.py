"""The model card: README.md in the package folder, rendered from the manifest so the two never disagree.

Pure text from manifest data (no torch): re-rendered whenever the manifest's thresholds or figures change.
"""

from __future__ import annotations

from typing import Any

from edge_inspect.model.manifest import Manifest

CARD_NAME = "README.md"
CARD_MARKER = "<!-- rendered from manifest.yaml by edge_inspect.training.card -->"


def _pct(value: Any) -> str:
    return "n/a" if value is None else f"{100 * float(value):.2f} %"


def _chosen(chosen: dict[str, Any] | None) -> list[str]:
    """The operating point ``--choose`` picked on these images (the table shows the one evaluated)."""
    if not chosen:
        return []
    area = f", minimum area {chosen['min_area_px']} px" if "min_area_px" in chosen else ""
    return [
        "",
        f"Operating point chosen here by `--choose '{chosen['rule']}'`: "
        f"threshold {chosen['threshold']}{area} "
        f"(TP {chosen['tp']}, TN {chosen['tn']}, FP {chosen['fp']}, FN {chosen['fn']}; precision "
        f"{_pct(chosen['precision'])}, recall {_pct(chosen['recall'])}, false alarms "
        f"{_pct(chosen['false_alarm_rate'])}).",
    ]


def _figures(key: str, block: dict[str, Any]) -> list[str]:
    image, pixel = block.get("image", {}), block.get("pixel", {})
    lines = [
        f"### {key}",
        "",
        f"{block.get('images')} images ({block.get('defective')} defective) of "
        f"`{block.get('dataset', {}).get('split', '?')}`; operating point "
        f"`{block.get('operating_point', {})}`.",
        *_chosen(block.get("chosen")),
        "",
        "| TP | TN | FP | FN | precision | recall | false-alarm rate | F1 | AUROC | pixel IoU | pixel Dice |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {image.get('tp')} | {image.get('tn')} | {image.get('fp')} | {image.get('fn')} | "
        f"{_pct(image.get('precision'))} | {_pct(image.get('recall'))} | "
        f"{_pct(image.get('false_alarm_rate'))} | {_pct(image.get('f1'))} | "
        f"{image.get('auroc') if image.get('auroc') is None else round(image['auroc'], 5)} | "
        f"{_num(pixel.get('mean_iou'))} | {_num(pixel.get('mean_dice'))} |",
    ]
    per_class = block.get("per_class", {})
    if per_class:
        lines += [
            "",
            "| class | TP | TN | FP | FN | precision | recall | false alarms | IoU |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {name} | {c['tp']} | {c['tn']} | {c['fp']} | {c['fn']} | {_pct(c['precision'])} | "
            f"{_pct(c['recall'])} | {_pct(c['false_alarm_rate'])} | {_num(c['mean_iou'])} |"
            for name, c in per_class.items()
        ]
    if block.get("plot"):
        lines += ["", f"![precision-recall curve]({block['plot']})"]
    sweep = block.get("sweep", [])
    if sweep:
        lines += [
            "",
            "| threshold | TP | TN | FP | FN | FP rate | precision | recall |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        lines += [
            f"| {r['threshold']:.1f} | {r['tp']} | {r['tn']} | {r['fp']} | {r['fn']} | "
            f"{_pct(r['fp_rate'])} | "
            f"{_pct(r['precision'])} | {_pct(r['recall'])} |"
            for r in sweep
        ]
    return [*lines, ""]


def _variant_points(manifest: Manifest) -> list[str]:
    """A line per variant that has its own operating point."""
    lines = []
    for name, artifact in manifest.artifacts.items():
        if artifact.decision is not None:
            point = manifest.decision_for(name)
            lines.append(
                f"- `{name}` runs at its own operating point: thresholds {point.thresholds}, "
                f"min area {point.min_area_px} px."
            )
    return lines


def _num(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def render_card(manifest: Manifest) -> str:
    """The README of a package: what it is, how it was made, how to rebuild it, how well it does."""
    training = manifest.training
    spec = manifest.input
    lines = [
        CARD_MARKER,
        f"# {manifest.name} {manifest.version}",
        "",
        manifest.description,
        "",
        "## Use",
        "",
        f"- Input: `{spec.name}` 1x{spec.channels}x{spec.height}x{spec.width} {spec.dtype} {spec.layout}, "
        f"{spec.color_order}; `x = (pixel / full_scale - {spec.mean[0]}) / {spec.std[0]}`; larger frames are "
        f"tiled ({spec.tile_overlap} px overlap).",
        f"- Output: `{manifest.output.name}`, {manifest.output.kind} logits, {manifest.output.activation} "
        f"per class {list(manifest.output.classes)}, same size as the input.",
        f"- Decision defaults: thresholds {manifest.decision.thresholds}, "
        f"min area {manifest.decision.min_area_px} px, "
        f"max defects {manifest.decision.max_defects}.",
        *_variant_points(manifest),
        f"- Variants: {', '.join(f'`{k}` ({a.path})' for k, a in manifest.artifacts.items())}; "
        f"default `{manifest.default_variant}`. "
        f"INT8 calibration images for TensorRT: `{manifest.calibration_images}/`.",
        "",
        "## Training",
        "",
        f"- Architecture: {training.get('architecture', 'n/a')}",
        f"- Data: {training.get('data', 'n/a')}",
        f"- Recipe: {training.get('recipe', 'n/a')}",
        f"- Wall time: {training.get('wall_time', 'n/a')}",
        "",
        "## Reproduce",
        "",
        "```sh",
        training.get("reproduce", "tools/build_reference_model.sh"),
        "```",
        "",
        "## Evaluation",
        "",
        "Figures from `edge-inspect eval`, which runs the daemon's own preprocess, engine and decision code. "
        "The operating point (threshold, minimum area) was chosen by `edge-inspect eval --choose` on "
        "held-out images: the record with a `chosen` entry names them. Test was never seen by training "
        "or by that choice.",
        "",
    ]
    for key, block in manifest.evaluation.items():
        if isinstance(block, dict) and "image" in block:
            lines += _figures(key, block)
        else:
            lines += [f"- {key}: {block}", ""]
    return "\n".join(lines)
