"""The pull path (:meth:`~edge_inspect.types.Engine.start`) for an engine that has only callbacks.

:class:`CallbackPending` is filled by the engine's callback (which hands over its own copy of the rows)
and waited on by the consumer; ``release`` has nothing to give back. TensorRT and an OpenVINO frame of
several requests take this path; OpenVINO's one-request frames have a native one (``openvino/requests.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy.typing as npt

from edge_inspect.errors import EngineError
from edge_inspect.types import EngineCallback, FloatArray

Submit = Callable[[npt.NDArray[Any], EngineCallback], None]


class CallbackPending:
    """A :class:`~edge_inspect.types.Pending` completed by an engine callback."""

    __slots__ = ("_error", "_finished", "_outputs")

    def __init__(self) -> None:
        self._finished = threading.Event()
        self._outputs: FloatArray | None = None
        self._error: BaseException | None = None

    def __call__(self, outputs: FloatArray | None, error: BaseException | None) -> None:
        """The engine callback: record the outcome (runs on an engine thread)."""
        self._outputs, self._error = outputs, error
        self._finished.set()

    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> FloatArray | None:
        if not self._finished.wait(timeout):
            return None
        if self._error is not None:
            raise self._error if isinstance(self._error, EngineError) else EngineError(str(self._error))
        if self._outputs is None:
            msg = "the engine called back with neither outputs nor an error"
            raise EngineError(msg)
        return self._outputs

    def release(self) -> None:
        """Nothing to give back: the rows are the callback's own copy."""
        self._outputs = None


def start_with_submit(submit: Submit, tensor: npt.NDArray[Any]) -> CallbackPending:
    """``Engine.start`` through ``submit``: the same errors, raised the same way."""
    pending = CallbackPending()
    submit(tensor, pending)
    return pending
