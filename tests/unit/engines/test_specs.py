"""Shared engine checks: the model's tensors against the manifest, each frame's tensor against the input."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge_inspect.engines.specs import (
    check_against_manifest,
    check_input,
    expected_input_shape,
    expected_output_shape,
    fill_dynamic,
)
from edge_inspect.errors import EngineError
from edge_inspect.model.manifest import InputSpec, OutputSpec
from edge_inspect.types import TensorSpec


def input_spec(**fields: Any) -> InputSpec:
    values: dict[str, Any] = {
        "name": "image",
        "width": 96,
        "height": 64,
        "channels": 3,
        "color_order": "bgr",
        **fields,
    }
    return InputSpec(**values)


def output_spec(**fields: Any) -> OutputSpec:
    values: dict[str, Any] = {
        "name": "logits",
        "kind": "segmentation",
        "activation": "sigmoid",
        "classes": ("scratch", "dent"),
        **fields,
    }
    return OutputSpec(**values)


def test_expected_input_shape_follows_the_layout() -> None:
    assert expected_input_shape(input_spec(), 2) == (2, 3, 64, 96)
    assert expected_input_shape(input_spec(layout="NHWC"), 1) == (1, 64, 96, 3)


def test_expected_output_shape_counts_the_background_channel_under_softmax_and_the_stride() -> None:
    assert expected_output_shape(output_spec(), input_spec(), 1) == (1, 2, 64, 96)
    assert expected_output_shape(output_spec(activation="softmax", stride=2), input_spec(), 1) == (
        1,
        3,
        32,
        48,
    )
    assert expected_output_shape(output_spec(kind="classification"), input_spec(), 4) == (4, 2)


def test_fill_dynamic_takes_unknown_dimensions_from_the_manifest() -> None:
    assert fill_dynamic((None, 3, 64, None), (1, 3, 64, 96)) == (1, 3, 64, 96)
    assert fill_dynamic(None, (1, 3, 64, 96)) == (1, 3, 64, 96)
    # another rank is kept (dynamic dims as -1) so the manifest check names both shapes
    assert fill_dynamic((None, 64, 96), (1, 3, 64, 96)) == (-1, 64, 96)


def test_a_model_that_matches_its_manifest_passes() -> None:
    check_against_manifest(
        TensorSpec("image", (1, 3, 64, 96), "float32"),
        TensorSpec("logits", (1, 2, 64, 96), "float32"),
        input_spec(),
        output_spec(),
        "model.xml",
    )


@pytest.mark.parametrize(
    ("model_input", "model_output", "expected"),
    [
        (
            TensorSpec("image", (1, 1, 64, 96), "float32"),
            TensorSpec("logits", (1, 2, 64, 96), "float32"),
            r"model.xml: model input 'image' is \[1, 1, 64, 96\] float32, but the manifest's input 'image' "
            r"says \[1, 3, 64, 96\] float32",
        ),
        (
            TensorSpec("image", (1, 3, 64, 96), "uint8"),
            TensorSpec("logits", (1, 2, 64, 96), "float32"),
            r"is \[1, 3, 64, 96\] uint8, but .* says \[1, 3, 64, 96\] float32",
        ),
        (
            TensorSpec("image", (1, 3, 64, 96), "float32"),
            TensorSpec("logits", (1, 3, 64, 96), "float32"),
            r"model output 'logits' has shape \[1, 3, 64, 96\], but the manifest's output 'logits' "
            r"\(segmentation, classes \['scratch', 'dent'\].*needs \[1, 2, 64, 96\]",
        ),
    ],
)
def test_a_mismatch_names_both_sides(
    model_input: TensorSpec, model_output: TensorSpec, expected: str
) -> None:
    with pytest.raises(EngineError, match=expected):
        check_against_manifest(model_input, model_output, input_spec(), output_spec(), "model.xml")


SPEC = TensorSpec("image", (1, 3, 64, 96), "float32")


def test_check_input_returns_the_number_of_tiles() -> None:
    assert check_input(np.zeros((5, 3, 64, 96), np.float32), SPEC) == 5


def test_check_input_needs_a_multiple_of_the_request_batch() -> None:
    spec = TensorSpec("image", (2, 3, 64, 96), "float32")
    assert check_input(np.zeros((4, 3, 64, 96), np.float32), spec) == 4
    with pytest.raises(EngineError, match="N a positive multiple of 2"):
        check_input(np.zeros((3, 3, 64, 96), np.float32), spec)


@pytest.mark.parametrize(
    ("tensor", "described"),
    [
        (np.zeros((1, 3, 64, 95), np.float32), r"\[1, 3, 64, 95\] float32"),
        (np.zeros((3, 64, 96), np.float32), r"\[3, 64, 96\] float32"),
        (np.zeros((1, 3, 64, 96), np.float64), r"\[1, 3, 64, 96\] float64"),
        (np.zeros((0, 3, 64, 96), np.float32), r"\[0, 3, 64, 96\] float32"),
        (np.zeros((), np.float32), r"\[\] float32"),
    ],
)
def test_a_wrong_tensor_is_an_error_naming_both_shapes(tensor: Any, described: str) -> None:
    with pytest.raises(EngineError, match=rf"input tensor is {described}; the model input 'image' takes "):
        check_input(tensor, SPEC)


def test_a_non_array_is_an_error() -> None:
    with pytest.raises(EngineError, match="must be a numpy array, got list"):
        check_input([[0.0]], SPEC)  # type: ignore[arg-type]
