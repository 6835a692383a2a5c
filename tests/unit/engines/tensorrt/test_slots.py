"""Execution slots (pure): the plan's tensors checked against the manifest; how N tiles are enqueued."""

from __future__ import annotations

import numpy as np
import pytest

from edge_inspect.engines.tensorrt.slots import (
    EngineIo,
    IoTensor,
    chunk_plan,
    engine_io,
    request_batch,
    too_many_tiles,
)
from edge_inspect.errors import EngineError

F32 = np.dtype(np.float32)
TILE = (1, 64, 64)


def tensors(batch: int = -1, *, extra: bool = False, out_name: str = "logits") -> list[IoTensor]:
    found = [
        IoTensor("image", True, (batch, *TILE), F32),
        IoTensor(out_name, False, (batch, 1, 64, 64), F32),
    ]
    if extra:
        found.append(IoTensor("features", False, (batch, 16, 8, 8), F32))
    return found


def layout(found: list[IoTensor], max_batch: int = 8, profile_max: int | None = 8) -> EngineIo:
    return engine_io(
        found,
        input_name="image",
        output_name="logits",
        expected_tile=TILE,
        max_batch=max_batch,
        profile_max_batch=profile_max,
    )


def test_given_a_dynamic_batch_when_laid_out_then_one_enqueue_takes_up_to_max_batch_tiles() -> None:
    io = layout(tensors())
    assert io.dynamic_batch
    assert (io.chunk, io.capacity) == (8, 8)
    assert request_batch(io) == 1


def test_given_a_profile_smaller_than_max_batch_when_laid_out_then_frames_are_split_at_the_profile() -> None:
    io = layout(tensors(), max_batch=12, profile_max=4)
    assert (io.chunk, io.capacity) == (4, 12)


def test_given_a_static_batch_when_laid_out_then_buffers_hold_whole_chunks() -> None:
    io = layout(tensors(batch=4), max_batch=6)
    assert not io.dynamic_batch
    assert (io.chunk, io.capacity) == (4, 8)
    assert request_batch(io) == 4


def test_given_a_second_output_when_laid_out_then_it_gets_memory_but_the_manifest_output_is_returned() -> (
    None
):
    io = layout(tensors(extra=True))
    assert io.output.name == "logits"
    assert [t.name for t in io.others] == ["features"]
    assert [t.name for t in io.tensors] == ["image", "logits", "features"]


@pytest.mark.parametrize(
    ("found", "message"),
    [
        (tensors(out_name="probs"), r"outputs are \['probs'\]; the manifest's output is 'logits'"),
        ([IoTensor("x", True, (-1, *TILE), F32), *tensors()[1:]], r"inputs are \['x'\]"),
        ([*tensors(), IoTensor("mask", True, (-1, *TILE), F32)], r"inputs are \['image', 'mask'\]"),
        ([IoTensor("image", True, (-1, 1, -1, -1), F32), *tensors()[1:]], "only the batch dimension"),
        ([IoTensor("image", True, (-1, 3, 64, 64), F32), *tensors()[1:]], r"tiles of \(3, 64, 64\)"),
    ],
    ids=["output-name", "input-name", "two-inputs", "dynamic-size", "channels"],
)
def test_given_a_plan_that_misfits_the_manifest_when_laid_out_then_the_error_names_both(
    found: list[IoTensor], message: str
) -> None:
    with pytest.raises(EngineError, match=message):
        layout(found)


@pytest.mark.parametrize(
    ("tiles", "chunk", "dynamic", "expected"),
    [
        (5, 8, True, ((0, 5),)),
        (8, 8, True, ((0, 8),)),
        (10, 4, True, ((0, 4), (4, 4), (8, 2))),
        (3, 4, False, ((0, 4),)),
        (6, 2, False, ((0, 2), (2, 2), (4, 2))),
        (5, 2, False, ((0, 2), (2, 2), (4, 2))),
    ],
)
def test_given_n_tiles_when_planned_then_enqueues_cover_every_tile_once(
    tiles: int, chunk: int, dynamic: bool, expected: tuple[tuple[int, int], ...]
) -> None:
    plan = chunk_plan(tiles, chunk, dynamic)
    assert plan == expected
    covered = [i for offset, batch in plan for i in range(offset, offset + batch) if i < tiles]
    assert covered == list(range(tiles))


def test_given_no_tiles_when_planned_then_it_is_refused() -> None:
    with pytest.raises(ValueError, match="tiles >= 1"):
        chunk_plan(0, 4, True)


def test_given_more_tiles_than_max_batch_when_checked_then_the_message_says_what_to_raise() -> None:
    assert too_many_tiles(8, 8) is None
    assert too_many_tiles(12, 8) == "frame has 12 tiles; engine.max_batch is 8: raise it to at least 12"
