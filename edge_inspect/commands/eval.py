"""``edge-inspect eval --model DIR --dataset DIR``: figures of a model package on a labelled data set,
computed through the daemon's own preprocess, engine and decision code; ``--choose RULE`` writes the operating
threshold (and, with ``--min-areas``, the minimum defect area) into the package, ``--record KEY`` stores the
figures in its manifest."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "eval", help="evaluate a model package on a labelled data set (daemon's own code path)"
    )
    parser.add_argument("--model", required=True, help="model package folder")
    parser.add_argument("--dataset", required=True, help="DAGM-layout, flat DAGM, or images/+masks/ folder")
    parser.add_argument(
        "--split",
        default=None,
        help="'train', 'test' or 'all' (default: 'test' when the data set has splits)",
    )
    parser.add_argument("--variant", default=None, help="package artifact to run (default: the manifest's)")
    parser.add_argument("--device", default="CPU", help="OpenVINO device (default CPU)")
    parser.add_argument(
        "--json", dest="json_path", default=None, metavar="FILE", help="write the report as JSON"
    )
    parser.add_argument("--plot", default=None, metavar="FILE.png", help="write the precision-recall curve")
    parser.add_argument(
        "--choose",
        default=None,
        metavar="RULE",
        help="pick the threshold: 'precision>=0.995', 'recall>=0.99', 'fp_rate<=0.001' or "
        "'cost:fp=1,fn=10'; written into the package's manifest (hashes refreshed): its decision for the "
        "default variant, the variant's own for another --variant",
    )
    parser.add_argument(
        "--min-areas",
        type=_areas,
        default=(),
        metavar="A,B,...",
        help="with --choose: candidate minimum defect areas (px), chosen together with the threshold "
        "(default: keep the manifest's)",
    )
    parser.add_argument(
        "--min-recall",
        type=float,
        default=0.9,
        metavar="R",
        help="with --choose: refuse an operating point whose recall on these images is below R "
        "(default 0.9); the best alternatives are shown",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="with --choose: write the operating point even when its recall is below --min-recall",
    )
    parser.add_argument(
        "--record",
        default=None,
        metavar="KEY",
        help="store the figures in the manifest's evaluation under KEY (e.g. test_int8)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge_inspect.config.engines import OpenVINOEngineConfig
    from edge_inspect.datasets.loader import load_dataset
    from edge_inspect.errors import EvaluationError
    from edge_inspect.evaluation.choose import parse_rule
    from edge_inspect.evaluation.report import format_report, summarize
    from edge_inspect.evaluation.runner import evaluate_samples, sweep_thresholds
    from edge_inspect.model.package import load_package

    if args.min_areas and not args.choose:
        raise EvaluationError("--min-areas chooses the minimum area together with --choose; give a rule")
    if args.choose:
        parse_rule(args.choose)  # a malformed rule fails before minutes of inference
    package = load_package(args.model)
    samples = load_dataset(args.dataset)
    split = args.split or ("test" if any(s.split == "test" for s in samples) else None)
    if split is not None:
        samples = load_dataset(args.dataset, split=split)
    engine = OpenVINOEngineConfig(type="openvino", device=args.device)
    # the variant's own operating point is a row of the sweep, however low it sits
    point = package.manifest.decision_for(package.artifact(args.variant)[0])
    thresholds = sweep_thresholds(point.thresholds.values())
    outcomes, rules = evaluate_samples(
        package,
        samples,
        variant=args.variant,
        engine_config=engine,
        thresholds=thresholds,
        min_areas=args.min_areas,
        progress=None if args.quiet else _bar(),
    )
    variant = package.artifact(args.variant)[0]
    operating = {
        "variant": variant,
        "thresholds": dict(zip(rules.classes, rules.thresholds, strict=True)),
        "min_area_px": dict(zip(rules.classes, rules.min_area_px, strict=True)),
    }
    report = summarize(outcomes, thresholds, operating)
    report["dataset"] = {"path": str(Path(args.dataset).resolve()), "split": split or "all"}
    print(format_report(report))
    judged = [o for o in outcomes if o.error is None]
    with tempfile.TemporaryDirectory(prefix="edge-inspect-eval-") as scratch:
        placed: dict[str, Path] = {}
        if args.plot:
            from edge_inspect.evaluation.plot import plot_pr_curve

            title = f"{package.manifest.name} {variant} on {Path(args.dataset).name} ({split or 'all'})"
            truth, scores = [o.defective for o in judged], [o.score for o in judged]
            # a plot inside the package is one of its hashed files: drawn aside, placed by update_manifest
            inside = _inside_package(Path(args.plot), Path(args.model))
            drawn = Path(args.plot) if inside is None else Path(scratch) / Path(args.plot).name
            plot_pr_curve(drawn, truth, scores, report["sweep"], title, operating=point.thresholds.values())
            if inside is not None:
                placed[inside] = drawn
        _choose_and_record(args, report, judged, outcomes, placed)
    return 0


def _inside_package(path: Path, model: Path) -> str | None:
    """``path`` relative to the package folder, POSIX style, or None when it lies outside."""
    resolved, root = path.resolve(), model.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else None


def _areas(text: str) -> tuple[int, ...]:
    """``--min-areas 64,150,300`` -> (64, 150, 300); argparse reports a ValueError as a usage error."""
    areas = tuple(int(part) for part in text.split(",") if part.strip())
    if not areas or min(areas) < 0:
        msg = f"expected comma-separated pixel counts >= 0, got {text!r}"
        raise ValueError(msg)
    return areas


def _choose_and_record(
    args: argparse.Namespace,
    report: dict[str, Any],
    judged: list[Any],
    outcomes: list[Any],
    placed: dict[str, Path],
) -> None:
    """Apply ``--choose`` and ``--record``; the JSON report is written even when the rule cannot be met.
    ``judged``: the outcomes without errors, the images the choice is made on; ``placed``: files to put
    into the package (package-relative path -> file), its hashes refreshed."""
    from edge_inspect.errors import EvaluationError
    from edge_inspect.evaluation.choose import (
        budget_warning,
        choose_operating_point,
        choose_threshold,
        parse_rule,
    )
    from edge_inspect.evaluation.update import update_manifest

    rule = parse_rule(args.choose) if args.choose else None
    truth = [o.defective for o in judged]
    failure: EvaluationError | None = None
    if rule is not None:
        warning = budget_warning(rule, sum(not t for t in truth))
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        try:
            if args.min_areas:
                by_area = {a: [o.area_scores[i] for o in judged] for i, a in enumerate(args.min_areas)}
                area, threshold, confusion = choose_operating_point(rule, truth, by_area)
                report["chosen"] = {"rule": rule.text, "threshold": threshold, "min_area_px": area}
                candidates: dict[int | None, list[float]] = dict(by_area)
            else:
                candidates = {None: [o.score for o in judged]}
                threshold, confusion = choose_threshold(rule, truth, candidates[None])
                report["chosen"] = {"rule": rule.text, "threshold": threshold}
            report["chosen"].update(confusion.as_dict())
            failure = _recall_floor(args, confusion, truth, candidates)
        except EvaluationError as exc:
            failure = exc
    if args.json_path:
        full = {**report, "outcomes": [o.__dict__ for o in outcomes]}
        Path(args.json_path).write_text(json.dumps(full, indent=1), encoding="utf-8")
    if failure is not None:
        raise failure
    if "chosen" in report:
        chosen = report["chosen"]
        update_manifest(
            Path(args.model),
            threshold=chosen["threshold"],
            min_area_px=chosen.get("min_area_px"),
            variant=args.variant,
        )
        print("\nchosen: " + json.dumps(chosen))
        print(f"written into {Path(args.model) / 'manifest.yaml'} (hashes refreshed)")
    if args.record or placed:
        compact = _compact(report)
        if placed:
            compact["plot"] = next(iter(placed))
        update_manifest(
            Path(args.model), evaluation={args.record: compact} if args.record else None, files=placed
        )
        if args.record:
            print(f"figures recorded in the manifest as evaluation.{args.record}")


def _recall_floor(
    args: argparse.Namespace,
    confusion: Any,
    truth: list[bool],
    candidates: dict[int | None, list[float]],
) -> Any:
    """An EvaluationError (to raise once the JSON report is written) when the chosen point's recall is
    under ``--min-recall`` and ``--force`` is not given; the best alternatives are printed either way."""
    from edge_inspect.errors import EvaluationError
    from edge_inspect.evaluation.choose import alternatives

    if confusion.recall >= args.min_recall:
        return None
    lines = [
        f"the chosen point finds {confusion.recall:.1%} of the defective images "
        f"({confusion.tp} of {confusion.tp + confusion.fn}), under --min-recall {args.min_recall:.0%}",
        "the best recall for a number of false alarms on these images:",
    ]
    for allowed, area, threshold, c in alternatives(truth, candidates):
        at = f"threshold {threshold:.2f}" + ("" if area is None else f", min area {area} px")
        lines.append(
            f"  <= {allowed:>2} false alarms: {at}: recall {c.recall:.1%}, "
            f"precision {c.precision:.1%}, false alarms {c.false_alarm_rate:.2%}"
        )
    print("\n".join(("warning: " + lines[0], *lines[1:])), file=sys.stderr)
    if args.force:
        print("--force: writing it anyway", file=sys.stderr)
        return None
    return EvaluationError(
        f"--choose {args.choose!r}: recall {confusion.recall:.1%} is under --min-recall {args.min_recall}; "
        "nothing was written (choose another rule, or pass --force)"
    )


def _compact(report: dict[str, Any]) -> dict[str, Any]:
    """What the manifest keeps: the headline figures, per class, and the sweep (no per-image rows)."""
    keep = (
        "dataset",
        "images",
        "defective",
        "errors",
        "operating_point",
        "image",
        "pixel",
        "sweep",
        "chosen",
    )
    compact = {k: report[k] for k in keep if k in report}
    compact["per_class"] = {
        name: {
            **{
                k: block["image"][k]
                for k in ("tp", "tn", "fp", "fn", "precision", "recall", "false_alarm_rate")
            },
            "mean_iou": block["pixel"]["mean_iou"],
        }
        for name, block in report["per_class"].items()
    }
    return compact


def _bar() -> Any:
    """A progress bar on a terminal; in a log, one line per tenth of the images."""
    if not sys.stderr.isatty():

        def lines(done: int, total: int) -> None:
            if done == total or done % max(1, total // 10) == 0:
                print(f"eval: {done}/{total} images", file=sys.stderr, flush=True)

        return lines
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=total, unit="img", desc="eval")
        bar.update(1)
        if done == total:
            bar.close()

    return progress
