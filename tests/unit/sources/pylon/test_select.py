"""Choosing the camera: by serial, user name, IP, or the first found; and what the listing shows."""

from __future__ import annotations

import pytest

from edge_inspect.errors import SourceError
from edge_inspect.sources.pylon.select import CameraInfo, choose_camera, interface_name, list_cameras
from tests.helpers.pylon_emulator import SERIALS, require_emulator, use_emulator

use_emulator()

GIGE = CameraInfo("24001234", "acA1300-60gm", "line-3-top", "192.168.10.21", "GigE", "BaslerGigE")
USB = CameraInfo("40112233", "a2A1920-160ucBAS", "line-3-side", "", "USB3", "BaslerUsb")


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, 0),
        (("serial", "40112233"), 1),
        (("user_name", "line-3-top"), 0),
        (("ip_address", "192.168.10.21"), 0),
    ],
)
def test_given_attached_cameras_when_selecting_then_the_named_one_is_chosen(
    selector: tuple[str, str] | None, expected: int
) -> None:
    assert choose_camera([GIGE, USB], selector) == expected


def test_given_an_unknown_serial_when_selecting_then_the_error_lists_what_is_attached() -> None:
    with pytest.raises(SourceError) as caught:
        choose_camera([GIGE, USB], ("serial", "99999999"))

    message = str(caught.value)
    assert message.startswith("no pylon camera with serial number '99999999'; attached: ")
    assert "24001234 acA1300-60gm user name line-3-top IP 192.168.10.21 (GigE)" in message
    assert "40112233 a2A1920-160ucBAS user name line-3-side IP - (USB3)" in message


def test_given_no_camera_when_selecting_then_the_error_says_what_was_looked_for() -> None:
    with pytest.raises(SourceError, match=r"no pylon camera found \(looking for user name 'line-3-top'\)"):
        choose_camera([], ("user_name", "line-3-top"))
    with pytest.raises(SourceError, match=r"looking for any camera"):
        choose_camera([], None)


def test_given_pylon_device_classes_when_named_then_the_transport_is_readable() -> None:
    assert interface_name("BaslerGigE") == "GigE"
    assert interface_name("BaslerUsb") == "USB3"
    assert interface_name("BaslerCamEmu") == "emulation"
    assert interface_name("SomethingNew") == "SomethingNew"
    assert USB.label() == "a2A1920-160ucBAS 40112233 (USB3)"


def test_given_the_emulator_when_listing_then_both_emulated_cameras_appear_without_an_ip() -> None:
    require_emulator()

    cameras = [c for c in list_cameras() if c.serial in SERIALS]

    assert [c.serial for c in cameras] == list(SERIALS)
    assert {c.interface for c in cameras} == {"emulation"}
    assert {c.ip_address for c in cameras} == {""}
    assert all(c.model for c in cameras)
