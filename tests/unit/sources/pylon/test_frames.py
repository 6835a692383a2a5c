"""Frames from grabs: one sequence, the camera serial, and the block id where the grab has one."""

from __future__ import annotations

import time

import numpy as np

from edge_inspect.sources.pylon.camera import Grab
from edge_inspect.sources.pylon.frames import FrameStamper


def test_given_grabs_and_errors_when_stamped_then_seq_counts_every_frame_and_extra_has_the_block_id() -> None:
    stamper = FrameStamper("cam-1")
    stamper.serial = "40112233"
    image = np.zeros((4, 6), dtype=np.uint8)
    before = time.time()

    good = stamper.stamp(image, Grab("image", image=image, block_id=17, timestamp_ticks=123456))
    failed = stamper.stamp(None, Grab("failed", block_id=18, error="e"), error="pylon grab failed (0x0): x")
    refused = stamper.stamp(None, None, error="software trigger not fired: stop")

    assert [f.seq for f in (good, failed, refused)] == [0, 1, 2]
    assert good.source.extra == {"block_id": 17, "timestamp_ticks": 123456}
    assert failed.source.extra == {"block_id": 18}
    assert refused.source.extra == {}
    assert {f.source.device for f in (good, failed, refused)} == {"40112233"}
    assert {f.source.kind for f in (good, failed, refused)} == {"pylon"}
    assert good.image is image
    assert good.error is None
    assert failed.image is None
    assert failed.error == "pylon grab failed (0x0): x"
    assert before <= good.captured_at <= failed.captured_at <= time.time()
