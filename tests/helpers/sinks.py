"""Stand-ins for the daemon's listeners: a sink that keeps every result, a silent status listener."""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_inspect.types import InspectionResult, SourceState


@dataclass
class Collect:
    """A ResultSink that keeps every result it is handed, in order."""

    name: str = "collect"
    results: list[InspectionResult] = field(default_factory=list)

    def handle(self, result: InspectionResult) -> None:
        self.results.append(result)

    def close(self) -> None:
        return None


class NoStatus:
    """A StatusListener that ignores source state changes."""

    def source_state(self, camera: str, state: SourceState, reason: str | None = None) -> None:
        return None
