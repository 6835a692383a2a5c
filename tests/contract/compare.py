"""Compare two engines on the same tensors: the largest difference of their probabilities.

Engines are compared after the manifest's activation, on the scale the decision thresholds use, so a
tolerance reads as "a pixel's defect probability may move by at most this much". Used by the contract
(every variant against OpenVINO FP32) and, once the sample set exists, by the cross-engine verdict check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge_inspect.decision.activation import to_probabilities
from edge_inspect.model.manifest import OutputSpec
from edge_inspect.types import Engine

PROBABILITY_TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2}
"""Largest allowed |p_candidate - p_reference| against OpenVINO FP32, by the candidate's precision.

fp32: the same maths in another format or runtime, only summation order differs. fp16: ~3 significant
digits in activations; int8 is judged on verdicts over the sample set, not on raw probabilities.
"""


@dataclass(frozen=True, slots=True)
class Agreement:
    """How far a candidate engine's probabilities are from the reference's."""

    max_abs_diff: float
    worst_tensor: int
    """Index (in the tensors compared) of the tensor with the largest difference."""
    tensors: int


def compare_engines(
    reference: Engine, candidate: Engine, tensors: Iterable[npt.NDArray[np.float32]], output: OutputSpec
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
    reference: Engine,
    candidate: Engine,
    tensors: Iterable[npt.NDArray[np.float32]],
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
