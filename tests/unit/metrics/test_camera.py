"""The camera-state tracker remembers each camera's state and forwards every change."""

from __future__ import annotations

from edge_inspect.metrics.camera import CameraStateTracker
from edge_inspect.types import SourceState


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, SourceState, str | None]] = []

    def source_state(self, camera: str, state: SourceState, reason: str | None = None) -> None:
        self.calls.append((camera, state, reason))


def test_states_are_remembered_and_forwarded_in_order() -> None:
    # given a tracker in front of the publisher
    publisher = Recorder()
    clock = iter([100.0, 105.0])
    tracker = CameraStateTracker(publisher, clock=lambda: next(clock))
    # when the camera goes online, then is removed
    tracker.source_state("cam-1", SourceState.ONLINE)
    tracker.source_state("cam-1", SourceState.RECONNECTING, "device removed")
    # then the publisher saw both, and the tracker holds the latest with its time and count
    assert publisher.calls == [
        ("cam-1", SourceState.ONLINE, None),
        ("cam-1", SourceState.RECONNECTING, "device removed"),
    ]
    state = tracker.states()["cam-1"]
    assert (state.state, state.since, state.reason, state.changes) == (
        SourceState.RECONNECTING,
        105.0,
        "device removed",
        2,
    )
