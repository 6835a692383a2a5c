"""A status listener for the bench's own replays (tensors, naive loop), which report to no one."""

from __future__ import annotations

from edge_inspect.types import SourceState


class QuietStatus:
    """StatusListener that ignores the replay's state changes."""

    def source_state(self, camera: str, state: SourceState, reason: str | None = None) -> None:
        """Ignored: the bench reports figures, not camera states."""
