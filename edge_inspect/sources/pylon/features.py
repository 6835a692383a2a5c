"""Camera settings from config: planned as pure data, then written to the camera and checked.

The plan is an ordered list of :class:`FeatureWrite`: order matters on real cameras (offsets go to 0 before
the width grows; auto exposure goes off before the exposure time is set; the trigger selector comes before
the trigger mode). Each write names the config field it comes from, so an error says what to change.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge_inspect.config.sources import FeatureValue, PylonSourceConfig
from edge_inspect.errors import SourceError
from edge_inspect.sources.pylon.faults import pylon_message
from edge_inspect.sources.pylon.sdk import load_pylon

ENUM_ALIASES: dict[str, tuple[str, ...]] = {
    # SFNC names and the older "...Packed" names of the same pixel formats
    "RGB8": ("RGB8Packed",),
    "RGB8Packed": ("RGB8",),
    "BGR8": ("BGR8Packed",),
    "BGR8Packed": ("BGR8",),
}


@dataclass(frozen=True, slots=True)
class FeatureWrite:
    """Set the first available of ``names`` (SFNC name first, older name after) to ``value``."""

    names: tuple[str, ...]
    value: FeatureValue
    field: str
    """The config field this comes from, for error messages."""
    required: bool = True
    """False: skip silently when the camera lacks it or it is read-only (a setting that is a precaution)."""


def _write(
    names: str | tuple[str, ...], value: FeatureValue, field: str, *, required: bool = True
) -> FeatureWrite:
    return FeatureWrite((names,) if isinstance(names, str) else names, value, field, required)


def _trigger_plan(config: PylonSourceConfig) -> list[FeatureWrite]:
    trigger = config.trigger
    if trigger.mode == "off":
        # a camera left in triggered mode by another program would never deliver a free-run image
        return [
            _write("TriggerSelector", "FrameStart", "trigger.mode", required=False),
            _write("TriggerMode", "Off", "trigger.mode", required=False),
        ]
    source = "Software" if trigger.mode == "software" else trigger.line
    plan = [
        _write("TriggerSelector", "FrameStart", "trigger.mode"),
        _write("TriggerMode", "On", "trigger.mode"),
        _write("TriggerSource", source, "trigger.line" if trigger.mode == "hardware" else "trigger.mode"),
    ]
    if trigger.mode == "hardware":
        plan.append(_write("TriggerActivation", trigger.activation, "trigger.activation"))
    return plan


def plan_device_features(config: PylonSourceConfig) -> list[FeatureWrite]:
    """The ordered device-feature writes ``config`` asks for (pure: no camera needed)."""
    plan = [_write("AcquisitionMode", "Continuous", "trigger.mode", required=False)]
    plan += _trigger_plan(config)
    if config.pixel_format is not None:
        plan.append(_write("PixelFormat", config.pixel_format, "pixel_format"))
    if config.roi is not None:
        roi = config.roi
        plan += [
            _write("OffsetX", 0, "roi.offset_x"),
            _write("OffsetY", 0, "roi.offset_y"),
            _write("Width", roi.width, "roi.width"),
            _write("Height", roi.height, "roi.height"),
            _write("OffsetX", roi.offset_x, "roi.offset_x"),
            _write("OffsetY", roi.offset_y, "roi.offset_y"),
        ]
    if config.exposure_us is not None:
        plan.append(_write("ExposureAuto", "Off", "exposure_us", required=False))
        plan.append(_write(("ExposureTime", "ExposureTimeAbs"), config.exposure_us, "exposure_us"))
    if config.gain_db is not None:
        plan.append(_write("GainAuto", "Off", "gain_db", required=False))
        plan.append(_write(("Gain", "GainAbs"), config.gain_db, "gain_db"))
    if config.frame_rate is not None:
        plan.append(_write("AcquisitionFrameRateEnable", True, "frame_rate"))
        plan.append(
            _write(("AcquisitionFrameRate", "AcquisitionFrameRateAbs"), config.frame_rate, "frame_rate")
        )
    if config.gige.packet_size is not None:
        plan.append(_write("GevSCPSPacketSize", config.gige.packet_size, "gige.packet_size"))
    if config.gige.inter_packet_delay is not None:
        plan.append(_write("GevSCPD", config.gige.inter_packet_delay, "gige.inter_packet_delay"))
    plan += [_write(name, value, f"features.{name}") for name, value in config.features.items()]
    return plan


def plan_grab_features(config: PylonSourceConfig) -> list[FeatureWrite]:
    """Writes to the pylon InstantCamera itself (not the device): buffers allocated for grabbing."""
    return [_write("MaxNumBuffer", config.buffer_count, "buffer_count")]


# ------------------------------------------------------------------------------------------ pure checks


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else f"{value:g}"


def check_range(
    name: str, value: float, minimum: float, maximum: float, *, increment: float | None, unit: str = ""
) -> str | None:
    """Why ``value`` is outside ``[minimum, maximum]`` or off the ``increment`` grid; None when it fits."""
    step = f" in steps of {_number(increment)}" if increment and increment != 1 else ""
    allowed = f"allowed {_number(minimum)} .. {_number(maximum)}{step}{(' ' + unit) if unit else ''}"
    if not (minimum <= value <= maximum):
        return f"{name} = {_number(value)} is out of range: {allowed}"
    if increment and isinstance(value, int) and isinstance(increment, int) and (value - minimum) % increment:
        return f"{name} = {_number(value)} is not a valid step: {allowed}"
    return None


def resolve_enum(name: str, value: FeatureValue, symbolics: Sequence[str]) -> str:
    """The camera's spelling of ``value`` among ``symbolics``.

    YAML reads a bare ``On`` / ``Off`` as true / false, so booleans map to ``On`` / ``Off`` here; the older
    ``RGB8Packed`` and the SFNC ``RGB8`` name the same format.
    """
    wanted = ("On" if value else "Off") if isinstance(value, bool) else str(value)
    for candidate in (wanted, *ENUM_ALIASES.get(wanted, ())):
        if candidate in symbolics:
            return candidate
    msg = f"{name} = {wanted!r} is not offered by this camera: allowed {', '.join(symbolics)}"
    raise ValueError(msg)


def same_value(written: FeatureValue, read: Any, increment: float | None) -> bool:
    """True when the camera kept what was written (floats within one increment, or 0.1 % when none)."""
    if isinstance(written, float) and not isinstance(written, bool):
        tolerance = max(increment or 0.0, abs(written) * 1e-3, 1e-9)
        return math.isclose(float(read), written, abs_tol=tolerance)
    return bool(read == written)


# ------------------------------------------------------------------------------------ on the camera


def _coerce(name: str, node: Any, value: FeatureValue, genicam: Any) -> FeatureValue:
    """Check ``value`` against the node's type and limits; return what to write."""
    if isinstance(node, genicam.IEnumeration):
        return resolve_enum(name, value, list(node.GetSymbolics()))
    if isinstance(node, genicam.IBoolean):
        if not isinstance(value, bool):
            msg = f"{name} = {value!r}: expected true or false"
            raise ValueError(msg)
        return value
    if isinstance(node, genicam.IInteger | genicam.IFloat):
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"{name} = {value!r}: expected a number"
            raise ValueError(msg)
        is_int = isinstance(node, genicam.IInteger)
        if is_int and not float(value).is_integer():
            msg = f"{name} = {value!r}: expected an integer"
            raise ValueError(msg)
        number: int | float = int(value) if is_int else float(value)
        increment = node.GetInc() if (is_int or node.HasInc()) else None
        problem = check_range(
            name, number, node.GetMin(), node.GetMax(), increment=increment, unit=str(node.GetUnit())
        )
        if problem:
            raise ValueError(problem)
        return number
    if isinstance(node, genicam.IString):
        return str(value)
    if isinstance(node, genicam.ICommand):
        if value is not True:
            msg = f"{name} is a command: write true to run it (e.g. UserSetLoad: true), got {value!r}"
            raise ValueError(msg)
        return value
    msg = f"{name} is a {type(node).__name__}, which cannot be set from config"
    raise ValueError(msg)


def _find(nodemap: Any, names: Sequence[str], genicam: Any) -> Any | None:
    for name in names:
        node = nodemap.GetNode(name)
        if node is not None and genicam.IsAvailable(node):
            return node
    return None


def apply_features(nodemap: Any, plan: Sequence[FeatureWrite], camera: str) -> None:
    """Write ``plan`` to ``nodemap`` in order and read every value back.

    Raises :class:`SourceError` at the first feature the camera lacks, cannot write, or refuses, naming the
    camera, the config field, the feature, the value and the allowed range.
    """
    _, genicam = load_pylon()
    for write in plan:
        node = _find(nodemap, write.names, genicam)
        where = f"camera {camera}: {write.field}"
        if node is None:
            if not write.required:
                continue
            msg = f"{where}: the camera has no feature {' or '.join(write.names)}"
            raise SourceError(msg)
        name = node.GetNode().GetName()
        if not genicam.IsWritable(node):
            if not write.required:
                continue
            msg = f"{where}: {name} is not writable now (locked by another setting or while grabbing)"
            raise SourceError(msg)
        try:
            value = _coerce(name, node, write.value, genicam)
            if isinstance(node, genicam.ICommand):
                node.Execute()
                continue
            if isinstance(node, genicam.IEnumeration):
                node.FromString(value)
            else:
                node.SetValue(value)
        except ValueError as exc:
            raise SourceError(f"{where}: {exc}") from None
        except genicam.GenericException as exc:
            msg = f"{where}: {name} = {write.value!r} refused by the camera: {pylon_message(exc)}"
            raise SourceError(msg) from None
        if genicam.IsReadable(node):
            read = node.ToString() if isinstance(node, genicam.IEnumeration) else node.GetValue()
            increment = node.GetInc() if isinstance(node, genicam.IFloat) and node.HasInc() else None
            if not same_value(value, read, increment):
                msg = f"{where}: {name} = {value!r} was written but the camera reports {read!r}"
                raise SourceError(msg)
