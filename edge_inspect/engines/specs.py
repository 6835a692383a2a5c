"""Pure checks shared by every engine: the model's tensors against the manifest, and each frame's input.

An engine reads its TensorSpecs from the loaded model, then calls :func:`check_against_manifest` so that
a package whose files disagree with its manifest fails at load with both sides named, instead of giving
wrong verdicts later; and it calls :func:`check_input` on every frame, so a wrong tensor costs one frame.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from edge_inspect.errors import EngineError
from edge_inspect.model.manifest import InputSpec, OutputSpec
from edge_inspect.types import TensorSpec


def expected_input_shape(spec: InputSpec, batch: int) -> tuple[int, ...]:
    """The input tensor shape the manifest describes, for ``batch`` tiles."""
    if spec.layout == "NHWC":
        return (batch, spec.height, spec.width, spec.channels)
    return (batch, spec.channels, spec.height, spec.width)


def output_channels(spec: OutputSpec) -> int:
    """Raw output channels: one per class, plus the background channel under softmax (manifest rule)."""
    return len(spec.classes) + (1 if spec.activation == "softmax" else 0)


def expected_output_shape(output: OutputSpec, model_input: InputSpec, batch: int) -> tuple[int, ...]:
    """The raw output shape the manifest describes: (N, C, H/stride, W/stride) or (N, C)."""
    channels = output_channels(output)
    if output.kind == "classification":
        return (batch, channels)
    return (batch, channels, model_input.height // output.stride, model_input.width // output.stride)


def fill_dynamic(shape: tuple[int | None, ...] | None, expected: tuple[int, ...]) -> tuple[int, ...]:
    """``shape`` with its dynamic dimensions (None) taken from ``expected``; an unknown rank (None) is
    ``expected``. A shape of another rank keeps its dynamic dimensions as -1, for the manifest check to
    report with both shapes named.
    """
    if shape is None:
        return expected
    if len(shape) != len(expected):
        return tuple(-1 if d is None else d for d in shape)
    return tuple(e if d is None else d for d, e in zip(shape, expected, strict=True))


def check_against_manifest(
    input_spec: TensorSpec, output_spec: TensorSpec, model_input: InputSpec, output: OutputSpec, source: str
) -> None:
    """Raise EngineError when the model's input or output disagrees with the manifest; ``source`` names it."""
    batch = input_spec.shape[0] if input_spec.shape else 1
    want_in = expected_input_shape(model_input, batch)
    if input_spec.shape != want_in or input_spec.dtype != model_input.dtype:
        msg = (
            f"{source}: model input {input_spec.name!r} is {_describe(input_spec.shape, input_spec.dtype)}, "
            f"but the manifest's input {model_input.name!r} says {_describe(want_in, model_input.dtype)} "
            f"({model_input.layout}, {model_input.channels}x{model_input.height}x{model_input.width})"
        )
        raise EngineError(msg)
    want_out = expected_output_shape(output, model_input, batch)
    if output_spec.shape != want_out:
        msg = (
            f"{source}: model output {output_spec.name!r} has shape {list(output_spec.shape)}, but the "
            f"manifest's output {output.name!r} ({output.kind}, classes {list(output.classes)}, "
            f"activation {output.activation}, stride {output.stride}) needs {list(want_out)}"
        )
        raise EngineError(msg)


def check_input(tensor: npt.NDArray[Any], spec: TensorSpec) -> int:
    """Check one frame's tensor (N tiles) against the engine's input; return N.

    ``spec.shape[0]`` is the number of tiles one infer request takes, so N must be a positive multiple.
    """
    if not isinstance(tensor, np.ndarray):
        msg = f"the tensor for model input {spec.name!r} must be a numpy array, got {type(tensor).__name__}"
        raise EngineError(msg)
    per_request = spec.shape[0]
    ok_rank = tensor.ndim == len(spec.shape) and tensor.shape[1:] == spec.shape[1:]
    n = tensor.shape[0] if tensor.ndim else 0
    if not ok_rank or n == 0 or n % per_request or tensor.dtype != np.dtype(spec.dtype):
        msg = (
            f"input tensor is {_describe(tensor.shape, str(tensor.dtype))}; the model input {spec.name!r} "
            f"takes {_describe(('N', *spec.shape[1:]), spec.dtype)} ({spec.layout}) "
            f"with N a positive multiple of {per_request}"
        )
        raise EngineError(msg)
    return int(n)


def _describe(shape: tuple[Any, ...], dtype: str) -> str:
    return f"[{', '.join(map(str, shape))}] {dtype}"
