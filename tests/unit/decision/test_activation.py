"""to_probabilities: the manifest's activation, background dropping, and refusal of unusable output."""

from __future__ import annotations

import numpy as np
import pytest

from edge_inspect.decision.activation import check_raw, expected_channels, to_probabilities
from edge_inspect.errors import EngineOutputError
from edge_inspect.model.manifest import OutputSpec


def spec(activation: str, classes: tuple[str, ...] = ("defect",), kind: str = "segmentation") -> OutputSpec:
    return OutputSpec.model_validate(
        {"name": "logits", "kind": kind, "activation": activation, "classes": classes}
    )


def test_given_sigmoid_logits_when_activated_then_they_match_the_logistic_function() -> None:
    rng = np.random.default_rng(1)
    raw = rng.normal(0.0, 4.0, size=(1, 8, 8)).astype(np.float32)

    probs = to_probabilities(raw, spec("sigmoid"))

    assert probs.dtype == np.float32
    assert probs.shape == raw.shape
    np.testing.assert_allclose(probs, 1.0 / (1.0 + np.exp(-raw.astype(np.float64))), rtol=0, atol=2e-7)


def test_given_huge_logits_when_activated_then_nothing_overflows_and_the_limits_are_exact() -> None:
    raw = np.array([[[-1e30, -1000.0, 0.0, 1000.0, 1e30]]], dtype=np.float32)

    # underflow to 0.0 is the right answer; overflow or inf/inf would be a bug
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        sig = to_probabilities(raw, spec("sigmoid"))
        soft = to_probabilities(np.concatenate([raw, -raw]), spec("softmax"))

    assert sig[0, 0].tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert soft[0, 0].tolist() == [1.0, 1.0, 0.5, 0.0, 0.0]


def test_given_softmax_when_activated_then_background_channel_zero_is_dropped() -> None:
    rng = np.random.default_rng(2)
    raw = rng.normal(0.0, 3.0, size=(3, 4, 5)).astype(np.float32)
    exp = np.exp(raw.astype(np.float64))
    full = exp / exp.sum(axis=0, keepdims=True)

    probs = to_probabilities(raw, spec("softmax", classes=("scratch", "stain")))

    assert probs.shape == (2, 4, 5)
    assert probs.dtype == np.float32
    np.testing.assert_allclose(probs, full[1:], rtol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=0), 1.0 - full[0], rtol=1e-5)


def test_given_a_batch_of_tiles_when_activated_then_channels_are_on_axis_one() -> None:
    raw = np.zeros((4, 3, 2, 2), dtype=np.float32)
    raw[:, 2] = 5.0

    probs = to_probabilities(raw, spec("softmax", classes=("a", "b")))

    assert probs.shape == (4, 2, 2, 2)
    assert np.all(probs[:, 1] > 0.98)
    assert np.all(probs[:, 0] < 0.01)


def test_given_classifier_scores_when_activated_then_the_class_axis_is_kept() -> None:
    raw = np.array([[0.0, 2.0, -2.0], [3.0, 0.0, 0.0]], dtype=np.float32)

    probs = to_probabilities(raw, spec("softmax", classes=("a", "b"), kind="classification"))

    assert probs.shape == (2, 2)
    assert probs[0, 0] > probs[0, 1]
    assert probs[1].sum() < 0.2


def test_given_activation_none_when_activated_then_values_pass_through_as_float32() -> None:
    raw = np.linspace(0, 1, 16, dtype=np.float64).reshape(1, 4, 4)

    probs = to_probabilities(raw.astype(np.float32), spec("none"))

    assert probs.dtype == np.float32
    np.testing.assert_array_equal(probs, raw.astype(np.float32))


@pytest.mark.parametrize("activation", ["sigmoid", "softmax", "none"])
def test_given_nan_and_inf_when_activated_then_the_error_counts_them(activation: str) -> None:
    output = spec(activation)
    raw = np.zeros((expected_channels(output), 6, 6), dtype=np.float32)
    raw[0, 1, 1] = np.nan
    raw[0, 2, 2] = np.nan
    raw[-1, 3, 3] = np.inf
    raw[-1, 4, 4] = -np.inf

    with pytest.raises(EngineOutputError) as caught:
        to_probabilities(raw, output)

    message = str(caught.value)
    assert "'logits'" in message
    assert "4 non-finite values (2 NaN, 2 Inf)" in message
    assert f"of {raw.size}" in message


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_given_one_non_finite_value_among_huge_ones_when_checked_then_it_is_found(bad: float) -> None:
    output = spec("none")
    raw = np.full((1, 64, 64), 3e38, dtype=np.float32)  # finite, but their sum overflows
    assert check_raw(raw, output) is not None

    raw[0, 10, 20] = bad

    with pytest.raises(EngineOutputError, match="1 non-finite values"):
        check_raw(raw, output)


def test_given_softmax_output_without_its_background_channel_when_activated_then_shape_error() -> None:
    raw = np.zeros((2, 8, 8), dtype=np.float32)

    with pytest.raises(EngineOutputError) as caught:
        to_probabilities(raw, spec("softmax", classes=("scratch", "stain")))

    message = str(caught.value)
    assert "(2, 8, 8)" in message
    assert "C=3 (1 background + classes)" in message
    assert "['scratch', 'stain']" in message


def test_given_a_map_where_scores_are_expected_when_activated_then_rank_error() -> None:
    with pytest.raises(EngineOutputError, match=r"\(1, 4, 4\).*\(C,\) or \(N, C\)"):
        to_probabilities(np.zeros((1, 4, 4), np.float32), spec("sigmoid", kind="classification"))


def test_given_an_empty_map_when_activated_then_it_is_refused() -> None:
    with pytest.raises(EngineOutputError, match="empty"):
        to_probabilities(np.zeros((1, 0, 4), np.float32), spec("sigmoid"))
