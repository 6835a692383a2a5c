"""What this machine can run: TensorRT and a CUDA device, OpenVINO and the devices it reports.

Every probe is guarded: a missing package, a missing driver or a failing device becomes a capability
that is absent *with the reason*, never an exception, so ``edge-inspect devices`` and ``engine.type: auto``
work the same on a CPU-only box, a NUC, a T4 server and a Jetson. The heavy imports happen here, inside
functions, only when a probe runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

JETSON_RELEASE_FILE = Path("/etc/nv_tegra_release")
"""Present on a Jetson (L4T); its first line names the L4T release JetPack installed."""

_BYTES_PER_MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class CudaDevice:
    """One CUDA device as the driver reports it."""

    index: int
    name: str
    compute_capability: tuple[int, int]
    total_memory_mib: int


@dataclass(frozen=True, slots=True)
class TensorRTCapability:
    """TensorRT and the CUDA devices it could use. ``problem`` / ``cuda_problem`` say what is missing."""

    version: str | None
    problem: str | None = None
    cuda_devices: tuple[CudaDevice, ...] = ()
    cuda_problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.version is not None and bool(self.cuda_devices)


@dataclass(frozen=True, slots=True)
class OpenVINOCapability:
    """OpenVINO and its devices (``CPU``, ``GPU``, ``GPU.1``, ``NPU`` ...), with their full names."""

    version: str | None
    devices: tuple[str, ...] = ()
    device_names: Mapping[str, str] = field(default_factory=dict)
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Everything the engine choice depends on, probed once."""

    tensorrt: TensorRTCapability
    openvino: OpenVINOCapability
    jetson: str | None = None
    """The L4T release line on a Jetson, else None."""


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def probe_tensorrt_version() -> tuple[str | None, str | None]:
    """``(version, None)`` when ``import tensorrt`` works, else ``(None, why)``."""
    try:
        import tensorrt  # noqa: PLC0415 (optional, heavy)
    except Exception as exc:
        return None, _describe(exc)
    return str(getattr(tensorrt, "__version__", "unknown")), None


def probe_cuda_devices() -> tuple[tuple[CudaDevice, ...], str | None]:
    """The CUDA devices pycuda's driver API sees, or ``((), why)`` when there are none."""
    try:
        import pycuda.driver as cuda  # noqa: PLC0415 (optional, needs the CUDA driver)

        cuda.init()
        devices = []
        for index in range(cuda.Device.count()):
            device = cuda.Device(index)
            major, minor = device.compute_capability()
            devices.append(
                CudaDevice(
                    index=index,
                    name=str(device.name()),
                    compute_capability=(int(major), int(minor)),
                    total_memory_mib=int(device.total_memory()) // _BYTES_PER_MIB,
                )
            )
    except Exception as exc:
        return (), _describe(exc)
    if not devices:
        return (), "the CUDA driver reports no device"
    return tuple(devices), None


def probe_tensorrt() -> TensorRTCapability:
    version, problem = probe_tensorrt_version()
    devices, cuda_problem = probe_cuda_devices()
    return TensorRTCapability(
        version=version, problem=problem, cuda_devices=devices, cuda_problem=cuda_problem
    )


def probe_openvino() -> OpenVINOCapability:
    """OpenVINO's version and ``Core().available_devices`` with each one's ``FULL_DEVICE_NAME``."""
    try:
        import openvino as ov  # noqa: PLC0415 (kept lazy like every backend import)

        core = ov.Core()
        devices = tuple(str(d) for d in core.available_devices)
        names = {}
        for device in devices:
            try:
                names[device] = str(core.get_property(device, "FULL_DEVICE_NAME"))
            except Exception:  # noqa: S112 (a device without the property still counts)
                continue
    except Exception as exc:
        return OpenVINOCapability(version=None, problem=_describe(exc))
    return OpenVINOCapability(version=str(ov.__version__), devices=devices, device_names=names)


def probe_jetson(release_file: Path = JETSON_RELEASE_FILE) -> str | None:
    """The first line of ``/etc/nv_tegra_release`` on a Jetson, else None."""
    try:
        text = release_file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    first = text.strip().splitlines()[0].lstrip("# ").strip() if text.strip() else ""
    return first or "unknown L4T release"


def probe_capabilities() -> Capabilities:
    """Probe TensorRT, CUDA, OpenVINO and the Jetson release file (imports the libraries that exist)."""
    return Capabilities(tensorrt=probe_tensorrt(), openvino=probe_openvino(), jetson=probe_jetson())
