"""The project's exception types.

A leaf module: it imports nothing from the package, so every stage can raise these without import loops.
"""

from __future__ import annotations


class EdgeInspectError(Exception):
    """Base of every error the daemon raises on purpose."""


class ConfigError(EdgeInspectError):
    """Invalid configuration. ``problems`` holds one ``file: dotted.path: message`` line per bad field."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class MissingDependencyError(EdgeInspectError, ImportError):
    """An optional dependency (an extra) is not installed."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        self.package = package
        self.extra = extra
        super().__init__(
            f"{purpose} needs the '{package}' package, which is not installed. "
            f"Install it with: {install_line(extra)}"
        )


CPU_TORCH = "pip install 'torch==2.13.0' --index-url https://download.pytorch.org/whl/cpu"
"""The CPU build of torch: from PyPI, pip would pick a CUDA build with its nvidia-* packages (GBs)."""


def install_line(extra: str) -> str:
    """The whole command that installs ``extra`` (the train extra's CPU torch first)."""
    line = f"pip install 'edge-inspect[{extra}]'"
    return f"{CPU_TORCH} && {line}" if extra == "train" else line


class ModelPackageError(EdgeInspectError):
    """The model package is missing, malformed, or fails its sha256 check."""


class SourceError(EdgeInspectError):
    """A frame source cannot be opened or has failed for good."""


class FrameDecodeError(EdgeInspectError):
    """One frame could not be read or decoded (corrupt, truncated, empty, wrong format)."""


class PreprocessError(EdgeInspectError):
    """One frame does not fit the model's input spec (size, bit depth, channels)."""


class EngineError(EdgeInspectError):
    """The inference engine failed to load or to run."""


class EngineOutputError(EngineError):
    """The engine returned unusable output (NaN, Inf, wrong shape) for one frame."""


class PublishError(EdgeInspectError):
    """Results cannot be published or stored."""


class TriggerError(EdgeInspectError, ValueError):
    """A part trigger that cannot be read (its part is an ERROR, with this as the reason)."""


class PlcError(EdgeInspectError):
    """The PLC handshake cannot be served (its address cannot be bound)."""


class DatasetError(EdgeInspectError, ValueError):
    """A data set folder cannot be read (missing labels, malformed index): the message names the file."""


class EvaluationError(EdgeInspectError, ValueError):
    """An evaluation request cannot be met (a --choose rule no threshold satisfies, a malformed rule)."""
