"""Execution slots: one TensorRT execution context with its own CUDA stream and buffers, and how a frame runs.

A frame's N tiles go through a slot as one asynchronous sequence on the slot's stream: one copy in
(page-locked host -> device), one or more enqueues (``execute_async_v3``, tensor addresses set by name,
offset into the buffers when the plan's batch is smaller than N), one copy out, and an event. Several slots
in flight let the GPU work on one frame while the CPU prepares the next. The layout arithmetic is pure and
tested on any machine; the CUDA calls need the context current on the calling thread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from edge_inspect.errors import EngineError
from edge_inspect.types import EngineCallback

Shape = tuple[int, ...]


@dataclass(frozen=True, slots=True)
class IoTensor:
    """One input or output of the plan: ``shape`` has -1 for a dynamic batch."""

    name: str
    is_input: bool
    shape: Shape
    dtype: np.dtype[Any]

    @property
    def tile_shape(self) -> Shape:
        return self.shape[1:]

    @property
    def tile_bytes(self) -> int:
        return math.prod(self.tile_shape) * self.dtype.itemsize


@dataclass(frozen=True, slots=True)
class EngineIo:
    """The plan's tensors as the engine uses them, and how many tiles go in one enqueue."""

    input: IoTensor
    output: IoTensor
    others: tuple[IoTensor, ...]
    """Further outputs: they need device memory, but are not copied back."""
    dynamic_batch: bool
    chunk: int
    """Tiles per enqueue: the plan's static batch, or the profile's largest batch."""
    capacity: int
    """Tiles each slot's buffers hold: ``max_batch`` rounded up to whole chunks."""

    @property
    def tensors(self) -> tuple[IoTensor, ...]:
        return (self.input, self.output, *self.others)


def engine_io(
    tensors: Sequence[IoTensor],
    *,
    input_name: str,
    output_name: str,
    expected_tile: Shape,
    max_batch: int,
    profile_max_batch: int | None,
) -> EngineIo:
    """Check the plan's tensors against the manifest and lay out the buffers; EngineError names a misfit."""
    inputs = [t for t in tensors if t.is_input]
    outputs = {t.name: t for t in tensors if not t.is_input}
    if [t.name for t in inputs] != [input_name]:
        msg = f"the plan's inputs are {[t.name for t in inputs]}; the manifest's input is {input_name!r}"
        raise EngineError(msg)
    if output_name not in outputs:
        msg = f"the plan's outputs are {sorted(outputs)}; the manifest's output is {output_name!r}"
        raise EngineError(msg)
    tensor_in, tensor_out = inputs[0], outputs.pop(output_name)
    for tensor in (tensor_in, tensor_out, *outputs.values()):
        if any(d < 0 for d in tensor.tile_shape):
            msg = f"tensor {tensor.name!r} has shape {tensor.shape}: only the batch dimension may be dynamic"
            raise EngineError(msg)
    if tensor_in.tile_shape != expected_tile:
        msg = (
            f"the plan's input {input_name!r} takes tiles of {tensor_in.tile_shape}; "
            f"the manifest says {expected_tile}"
        )
        raise EngineError(msg)
    dynamic = tensor_in.shape[0] < 0
    chunk = min(max_batch, profile_max_batch or max_batch) if dynamic else tensor_in.shape[0]
    capacity = math.ceil(max_batch / chunk) * chunk
    return EngineIo(tensor_in, tensor_out, tuple(outputs.values()), dynamic, chunk, capacity)


def chunk_plan(tiles: int, chunk: int, dynamic: bool) -> tuple[tuple[int, int], ...]:
    """``(offset, batch)`` of each enqueue for ``tiles`` tiles. A static batch runs whole (padded) chunks."""
    if tiles < 1 or chunk < 1:
        msg = f"chunk_plan needs tiles >= 1 and chunk >= 1, got {tiles} and {chunk}"
        raise ValueError(msg)
    plan = []
    for offset in range(0, tiles, chunk):
        plan.append((offset, min(chunk, tiles - offset) if dynamic else chunk))
    return tuple(plan)


def request_batch(io: EngineIo) -> int:
    """Tiles one request takes, as the Engine's ``input_spec.shape[0]``: any N for a dynamic batch."""
    return 1 if io.dynamic_batch else io.chunk


def too_many_tiles(tiles: int, max_batch: int) -> str | None:
    """Why a frame of ``tiles`` tiles does not fit the slots' buffers, or None when it fits."""
    if tiles > max_batch:
        return f"frame has {tiles} tiles; engine.max_batch is {max_batch}: raise it to at least {tiles}"
    return None


@dataclass
class Slot:
    """One execution context with its stream, completion event, page-locked host and device buffers."""

    index: int
    context: Any
    stream: Any
    done: Any
    host_in: npt.NDArray[Any]
    host_out: npt.NDArray[Any]
    device: dict[str, Any] = field(default_factory=dict)
    tiles: int = 0
    callback: EngineCallback | None = None


def create_slot(cuda: ModuleType, engine: Any, io: EngineIo, index: int) -> Slot:
    """Allocate one slot (context current on this thread)."""
    context = engine.create_execution_context()
    if context is None:
        msg = f"TensorRT could not create execution context {index} (out of GPU memory?)"
        raise EngineError(msg)
    host_in = cuda.pagelocked_empty((io.capacity, *io.input.tile_shape), io.input.dtype)
    host_out = cuda.pagelocked_empty((io.capacity, *io.output.tile_shape), io.output.dtype)
    device = {t.name: cuda.mem_alloc(io.capacity * t.tile_bytes) for t in io.tensors}
    return Slot(index, context, cuda.Stream(), cuda.Event(), host_in, host_out, device)


def enqueue(cuda: ModuleType, slot: Slot, io: EngineIo) -> None:
    """Queue copy-in, inference and copy-out of ``slot.tiles`` tiles (in ``host_in``) on the slot's stream."""
    tiles = slot.tiles
    cuda.memcpy_htod_async(slot.device[io.input.name], slot.host_in[:tiles], slot.stream)
    for offset, batch in chunk_plan(tiles, io.chunk, io.dynamic_batch):
        if io.dynamic_batch and not slot.context.set_input_shape(
            io.input.name, (batch, *io.input.tile_shape)
        ):
            msg = f"TensorRT refused input shape {(batch, *io.input.tile_shape)} for {io.input.name!r}"
            raise EngineError(msg)
        for tensor in io.tensors:
            slot.context.set_tensor_address(
                tensor.name, int(slot.device[tensor.name]) + offset * tensor.tile_bytes
            )
        if not slot.context.execute_async_v3(slot.stream.handle):
            msg = f"TensorRT execute_async_v3 failed on context {slot.index}"
            raise EngineError(msg)
    cuda.memcpy_dtoh_async(slot.host_out[:tiles], slot.device[io.output.name], slot.stream)
    slot.done.record(slot.stream)


def free_slot(slot: Slot) -> None:
    """Release a slot's GPU memory and context (context current on this thread, its stream idle)."""
    for allocation in slot.device.values():
        allocation.free()
    slot.device.clear()
    for host in (slot.host_in, slot.host_out):
        base = getattr(host, "base", None)
        if base is not None and hasattr(base, "free"):
            base.free()
    slot.context = slot.stream = slot.done = None  # destroyed now, while the context is current
