"""Which Basler camera to open: list what is attached, pick one by serial, user name, IP, or first found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from edge_inspect.errors import SourceError
from edge_inspect.sources.pylon.sdk import load_pylon

_INTERFACES = {
    "BaslerGigE": "GigE",
    "BaslerUsb": "USB3",
    "BaslerCamEmu": "emulation",
    "BaslerGenTlCxp": "CoaXPress",
    "BaslerCameraLink": "Camera Link",
}

SELECTOR_LABELS = {"serial": "serial number", "user_name": "user name", "ip_address": "IP address"}


@dataclass(frozen=True, slots=True)
class CameraInfo:
    """One attached camera, as ``edge-inspect cameras`` lists it."""

    serial: str
    model: str
    user_name: str
    ip_address: str
    interface: str
    device_class: str

    def label(self) -> str:
        """``'acA1300-60gm 0815-0000 (GigE)'``: how log lines and errors name a camera."""
        return f"{self.model} {self.serial} ({self.interface})"


def interface_name(device_class: str) -> str:
    """Readable transport of a pylon device class (``'BaslerGigE'`` -> ``'GigE'``); unknown ones as given."""
    return _INTERFACES.get(device_class, device_class)


def _property(device: Any, name: str) -> str:
    """A device-info property, or '' when this transport does not have it (e.g. an IP on USB)."""
    if not device.GetPropertyAvailable(name):
        return ""
    value = str(getattr(device, f"Get{name}")())
    return "" if value == "N/A" else value


def describe(device: Any) -> CameraInfo:
    """A pylon ``CDeviceInfo`` as a :class:`CameraInfo`."""
    device_class = str(device.GetDeviceClass())
    return CameraInfo(
        serial=_property(device, "SerialNumber"),
        model=_property(device, "ModelName"),
        user_name=_property(device, "UserDefinedName"),
        ip_address=_property(device, "IpAddress"),
        interface=interface_name(device_class),
        device_class=device_class,
    )


def enumerate_devices() -> list[Any]:
    """Every camera pylon's transport layers see, as ``CDeviceInfo`` (GigE, USB3, emulation, ...)."""
    pylon, _ = load_pylon()
    return list(pylon.TlFactory.GetInstance().EnumerateDevices())


def list_cameras() -> list[CameraInfo]:
    """Every attached camera."""
    return [describe(device) for device in enumerate_devices()]


def choose_camera(cameras: Sequence[CameraInfo], selector: tuple[str, str] | None) -> int:
    """Index of the camera ``selector`` (``(field, value)``, or None = first found) names in ``cameras``.

    Raises :class:`SourceError` naming what was asked for and what is attached, so a wrong serial or a
    camera left unplugged is obvious from the message alone.
    """
    if not cameras:
        wanted = "any camera" if selector is None else f"{SELECTOR_LABELS[selector[0]]} {selector[1]!r}"
        msg = f"no pylon camera found (looking for {wanted}); check the cable, power and network"
        raise SourceError(msg)
    if selector is None:
        return 0
    field, value = selector
    for index, camera in enumerate(cameras):
        if getattr(camera, field) == value:
            return index
    attached = "; ".join(
        f"{c.serial} {c.model} user name {c.user_name or '-'} IP {c.ip_address or '-'} ({c.interface})"
        for c in cameras
    )
    msg = f"no pylon camera with {SELECTOR_LABELS[field]} {value!r}; attached: {attached}"
    raise SourceError(msg)
