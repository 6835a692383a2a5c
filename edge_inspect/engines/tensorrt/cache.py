"""The TensorRT plan cache: what a plan depends on (its key), where it is stored, and load-or-build.

A serialized plan only runs on the GPU model and TensorRT version that built it, for the shapes and
precision it was built with. The key holds all of that, so a plan is reused exactly when it is valid;
a cached plan that still does not deserialize (a driver or JetPack update under the same version string,
a truncated file) is detected, logged with the reason, and rebuilt. Building takes minutes on a Jetson,
so the log line after a build says why it happened and how long it took.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

from edge_inspect.errors import EngineError

log = structlog.get_logger(__name__)

T = TypeVar("T")
PLAN_SUFFIX = ".plan"
INFO_SUFFIX = ".json"
_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")
_DIGEST_CHARS = 16


def slug(text: str) -> str:
    """``text`` reduced to characters that are safe in a file name on every file system."""
    return _SLUG.sub("_", text).strip("._") or "model"


@dataclass(frozen=True, slots=True)
class PlanKey:
    """Everything a built plan depends on. Equal keys mean an interchangeable plan."""

    model_name: str
    model_sha256: str
    tensorrt_version: str
    gpu_name: str
    compute_capability: tuple[int, int]
    precision: str
    input_name: str
    input_shapes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    """The optimization profile: (min, opt, max) input shapes."""
    builder_options: tuple[tuple[str, str], ...]
    """Every other builder setting, as sorted (name, value) pairs."""

    def canonical(self) -> str:
        """The key as canonical JSON: the same bytes for the same key on every machine and run."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        return hashlib.sha256(self.canonical().encode("utf-8")).hexdigest()

    def file_name(self) -> str:
        """A readable, stable name: ``{model}-{precision}-sm{cc}-trt{version}-{digest}.plan``."""
        major, minor = self.compute_capability
        return (
            f"{slug(self.model_name)}-{self.precision}-sm{major}{minor}-trt{slug(self.tensorrt_version)}"
            f"-{self.digest()[:_DIGEST_CHARS]}{PLAN_SUFFIX}"
        )


def make_plan_key(
    *,
    model_name: str,
    model_sha256: str,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: tuple[int, int],
    precision: str,
    input_name: str,
    input_shapes: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]],
    builder_options: Mapping[str, object],
) -> PlanKey:
    """Build a key; ``builder_options`` values are turned into strings and sorted by name."""
    options = tuple(sorted((str(name), str(value)) for name, value in builder_options.items()))
    return PlanKey(
        model_name=model_name,
        model_sha256=model_sha256,
        tensorrt_version=tensorrt_version,
        gpu_name=gpu_name,
        compute_capability=compute_capability,
        precision=precision,
        input_name=input_name,
        input_shapes=input_shapes,
        builder_options=options,
    )


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the whole new one, never a part.

    A temporary file in the same folder is written, flushed to disk, then renamed over ``path``; a crash
    or power cut mid-write (common on a line-side box) leaves at most a stray temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class PlanStore:
    """Plans in one absolute folder, one ``.plan`` file per key with a ``.json`` note of the key beside it."""

    def __init__(self, root: Path) -> None:
        if not root.is_absolute():
            msg = (
                f"TensorRT plan cache folder {root} must be an absolute path "
                "(the daemon's working directory is '/' under systemd)"
            )
            raise EngineError(msg)
        self.root = root

    def path(self, key: PlanKey) -> Path:
        return self.root / key.file_name()

    def read(self, key: PlanKey) -> bytes | None:
        """The cached plan for ``key``, or None when there is none."""
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def write(self, key: PlanKey, plan: bytes, *, build_seconds: float) -> Path:
        """Store ``plan`` atomically, with a human-readable note of what it was built for."""
        path = self.path(key)
        atomic_write_bytes(path, plan)
        note: dict[str, Any] = {
            **json.loads(key.canonical()),
            "digest": key.digest(),
            "build_seconds": round(build_seconds, 3),
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        atomic_write_bytes(path.with_suffix(INFO_SUFFIX), (json.dumps(note, indent=2) + "\n").encode())
        return path

    def discard(self, key: PlanKey) -> None:
        """Remove a plan that does not load, so the next start does not try it again."""
        path = self.path(key)
        path.unlink(missing_ok=True)
        path.with_suffix(INFO_SUFFIX).unlink(missing_ok=True)


def _try_load(plan: bytes, deserialize: Callable[[bytes], T | None]) -> tuple[T | None, str]:
    try:
        engine = deserialize(plan)
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    if engine is None:
        return None, "deserialize_cuda_engine returned None"
    return engine, ""


def load_or_build(
    key: PlanKey,
    store: PlanStore | None,
    *,
    build: Callable[[], bytes],
    deserialize: Callable[[bytes], T | None],
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """The engine for ``key``: from the cache when its plan loads here, else built (and cached).

    ``deserialize`` returns None or raises when a plan does not load; ``build`` returns a serialized
    plan or raises. A build failure, or a fresh plan that does not load, raises EngineError.
    """
    where = {"model": key.model_name, "precision": key.precision, "gpu": key.gpu_name}
    if store is None:
        why = (
            "no plan cache folder is configured (engine.cache_dir or paths.cache_dir), so every start builds"
        )
    else:
        try:
            cached = store.read(key)
        except OSError as exc:  # an unreadable cache costs a build, not the start
            cached, why = None, f"the plan cache cannot be read: {exc}"
        else:
            why = ""
        if cached is None:
            why = why or f"no cached plan {store.path(key).name} for this model, GPU, TensorRT and settings"
        else:
            engine, problem = _try_load(cached, deserialize)
            if engine is not None:
                log.info("tensorrt plan loaded from the cache", plan=str(store.path(key)), **where)
                return engine
            why = f"cached plan {store.path(key)} does not load on this GPU / TensorRT: {problem}"
            log.warning("cached tensorrt plan does not load; rebuilding it", reason=why, **where)
            try:
                store.discard(key)
            except OSError as exc:  # the rebuilt plan replaces it anyway, atomically
                log.warning(
                    "cannot remove the stale tensorrt plan", plan=str(store.path(key)), error=str(exc)
                )

    log.info("building a tensorrt plan; this can take minutes", reason=why, **where)
    started = clock()
    try:
        plan = build()
    except Exception as exc:
        msg = (
            f"building the TensorRT {key.precision} plan for {key.model_name} failed after "
            f"{clock() - started:.1f} s: {exc}"
        )
        raise EngineError(msg) from exc
    seconds = clock() - started
    saved: Path | None = None
    if store is not None:
        try:
            saved = store.write(key, plan, build_seconds=seconds)
        except OSError as exc:  # the plan still runs; only the next start pays for a build again
            log.warning("cannot save the tensorrt plan", folder=str(store.root), error=str(exc))
    log.info("tensorrt plan built", build_seconds=round(seconds, 1), reason=why, plan=str(saved), **where)

    engine, problem = _try_load(plan, deserialize)
    if engine is None:
        msg = f"the TensorRT plan just built for {key.model_name} does not load: {problem}"
        raise EngineError(msg)
    return engine
