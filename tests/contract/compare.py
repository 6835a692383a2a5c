"""Compare two engines: probabilities on the same tensors, and decisions on the same images.

Engines are compared after the manifest's activation, on the scale the decision thresholds use, so a
tolerance reads as "a pixel's (or an image's) defect probability may move by at most this much". The
contract compares every engine and variant with OpenVINO FP32 on the same package both ways.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from edge_inspect.decision.activation import to_probabilities
from edge_inspect.model.manifest import OutputSpec
from edge_inspect.types import Decision, FloatArray


class Infers(Protocol):
    """What a comparison needs of an engine: synchronous ``infer``."""

    def infer(self, tensor: npt.NDArray[Any]) -> FloatArray: ...


PROBABILITY_TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}
"""Largest allowed |p_candidate - p_reference| against OpenVINO FP32, by the candidate's precision.

fp32: the same maths in another format or runtime, only summation order differs. fp16: ~3 significant
digits in activations. int8 has no probability tolerance: it is judged on verdicts over the sample set.
"""

SCORE_TOLERANCE = {**PROBABILITY_TOLERANCE, "int8": 1.0}
"""Largest allowed image-score difference on the sample set, beside identical verdicts. int8: verdicts
only (dagm-unet 1.0.0's int8 scores were more than 0.8 from fp32 on images where the verdicts agreed).
"""


@dataclass(frozen=True, slots=True)
class Agreement:
    """How far a candidate engine's probabilities are from the reference's."""

    max_abs_diff: float
    worst_tensor: int
    """Index (in the tensors compared) of the tensor with the largest difference."""
    tensors: int


def compare_engines(
    reference: Infers, candidate: Infers, tensors: Iterable[npt.NDArray[Any]], output: OutputSpec
) -> Agreement:
    """Run every tensor through both engines; return the largest probability difference."""
    worst, worst_index, count = 0.0, -1, 0
    for index, tensor in enumerate(tensors):
        p_ref = to_probabilities(reference.infer(tensor), output)
        p_new = to_probabilities(candidate.infer(tensor), output)
        assert p_ref.shape == p_new.shape, f"tensor {index}: shapes {p_ref.shape} != {p_new.shape}"
        diff = float(np.max(np.abs(p_ref - p_new)))
        if diff >= worst:
            worst, worst_index = diff, index
        count += 1
    return Agreement(max_abs_diff=worst, worst_tensor=worst_index, tensors=count)


def assert_engines_agree(
    reference: Infers,
    candidate: Infers,
    tensors: Iterable[npt.NDArray[Any]],
    output: OutputSpec,
    tolerance: float,
) -> Agreement:
    """``compare_engines``, failing when the largest difference exceeds ``tolerance``."""
    agreement = compare_engines(reference, candidate, tensors, output)
    assert agreement.tensors > 0, "no tensors were compared"
    assert agreement.max_abs_diff <= tolerance, (
        f"probabilities differ by up to {agreement.max_abs_diff:.3g} (tensor {agreement.worst_tensor} "
        f"of {agreement.tensors}), more than the tolerance {tolerance:g}"
    )
    return agreement


@dataclass(frozen=True, slots=True)
class VerdictAgreement:
    """Where a candidate's decisions on a set of images differ from the reference's."""

    images: int
    mismatches: tuple[str, ...]
    """One line per image whose verdict differs: name, both verdicts and scores."""
    max_score_diff: float
    worst_image: str


def compare_verdicts(
    names: Sequence[str], reference: Sequence[Decision], candidate: Sequence[Decision]
) -> VerdictAgreement:
    """Compare two engines' decisions on the same images (given in the same order as ``names``)."""
    assert len(names) == len(reference) == len(candidate) > 0, "need one decision per image from each"
    mismatches = []
    worst, worst_name = 0.0, names[0]
    for name, ref, new in zip(names, reference, candidate, strict=True):
        if ref.verdict != new.verdict:
            mismatches.append(
                f"{name}: {ref.verdict.value} ({_score(ref)}) vs {new.verdict.value} ({_score(new)})"
            )
        diff = abs((ref.score or 0.0) - (new.score or 0.0))
        if diff > worst:
            worst, worst_name = diff, name
    return VerdictAgreement(len(names), tuple(mismatches), worst, worst_name)


def assert_same_verdicts(
    names: Sequence[str], reference: Sequence[Decision], candidate: Sequence[Decision], tolerance: float
) -> VerdictAgreement:
    """``compare_verdicts``, failing on any other verdict or a score further than ``tolerance``."""
    agreement = compare_verdicts(names, reference, candidate)
    assert not agreement.mismatches, (
        f"{len(agreement.mismatches)} of {agreement.images} verdicts differ: {list(agreement.mismatches)}"
    )
    assert agreement.max_score_diff <= tolerance, (
        f"scores differ by up to {agreement.max_score_diff:.3g} ({agreement.worst_image}), "
        f"more than the tolerance {tolerance:g}"
    )
    return agreement


def _score(decision: Decision) -> str:
    return "no score" if decision.score is None else f"score {decision.score:.4g}"
