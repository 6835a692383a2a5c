"""Camera settings: the plan from config (pure), the range checks (pure), and writing them to pylon's
emulated camera, where every refusal names the config field, the feature, the value and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from edge_inspect.config.sources import PylonSourceConfig
from edge_inspect.errors import SourceError
from edge_inspect.sources.pylon.features import (
    FeatureWrite,
    apply_features,
    check_range,
    plan_device_features,
    plan_grab_features,
    resolve_enum,
    same_value,
)
from tests.helpers.pylon_emulator import SERIALS, require_emulator, use_emulator

use_emulator()


def config(**fields: Any) -> PylonSourceConfig:
    return PylonSourceConfig.model_validate({"type": "pylon", **fields})


def apply(camera: Any, **fields: Any) -> None:
    apply_features(camera.GetNodeMap(), plan_device_features(config(**fields)), SERIALS[0])


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def names(plan: list[FeatureWrite]) -> list[str]:
    return [write.names[0] for write in plan]


# ------------------------------------------------------------------------------------------------ plan


def test_given_roi_when_planned_then_offsets_go_to_zero_before_the_size_and_are_set_after_it() -> None:
    plan = plan_device_features(config(roi={"width": 640, "height": 480, "offset_x": 16, "offset_y": 8}))

    roi = [(w.names[0], w.value) for w in plan if w.field.startswith("roi.")]

    assert roi == [
        ("OffsetX", 0), ("OffsetY", 0), ("Width", 640), ("Height", 480), ("OffsetX", 16), ("OffsetY", 8),
    ]  # fmt: skip


def test_given_exposure_gain_and_rate_when_planned_then_autos_go_off_first_and_old_names_follow() -> None:
    plan = plan_device_features(config(exposure_us=800.0, gain_db=3.0, frame_rate=25.0))

    order = names(plan)
    assert order.index("ExposureAuto") < order.index("ExposureTime")
    assert order.index("GainAuto") < order.index("Gain")
    assert order.index("AcquisitionFrameRateEnable") < order.index("AcquisitionFrameRate")
    by_name = {w.names[0]: w for w in plan}
    assert by_name["ExposureTime"].names == ("ExposureTime", "ExposureTimeAbs")
    assert by_name["ExposureTime"].value == 800.0
    assert by_name["AcquisitionFrameRate"].names == ("AcquisitionFrameRate", "AcquisitionFrameRateAbs")
    assert not by_name["ExposureAuto"].required
    assert by_name["Gain"].required


def test_given_free_run_when_planned_then_trigger_mode_goes_off_where_the_camera_has_it() -> None:
    plan = plan_device_features(config())

    trigger = {w.names[0]: w for w in plan if w.field == "trigger.mode"}
    assert trigger["TriggerMode"].value == "Off"
    assert not trigger["TriggerMode"].required
    assert "PixelFormat" not in names(plan)
    assert "GevSCPSPacketSize" not in names(plan)


def test_given_a_hardware_trigger_when_planned_then_selector_mode_source_activation_in_order() -> None:
    hardware = {"mode": "hardware", "line": "Line2", "activation": "FallingEdge"}
    plan = plan_device_features(config(trigger=hardware))

    trigger = [(w.names[0], w.value) for w in plan if w.names[0].startswith("Trigger")]

    assert trigger == [
        ("TriggerSelector", "FrameStart"), ("TriggerMode", "On"), ("TriggerSource", "Line2"),
        ("TriggerActivation", "FallingEdge"),
    ]  # fmt: skip


def test_given_gige_settings_and_extra_features_when_planned_then_they_come_last_in_config_order() -> None:
    plan = plan_device_features(
        config(
            gige={"packet_size": 8192, "inter_packet_delay": 1000}, features={"Gamma": 1.2, "ReverseX": True}
        )
    )

    assert names(plan)[-4:] == ["GevSCPSPacketSize", "GevSCPD", "Gamma", "ReverseX"]
    assert plan[-1].field == "features.ReverseX"
    assert plan_grab_features(config(buffer_count=7)) == [FeatureWrite(("MaxNumBuffer",), 7, "buffer_count")]


# ---------------------------------------------------------------------------------------- pure checks


def test_given_a_value_outside_the_limits_when_checked_then_the_message_names_value_and_range() -> None:
    message = check_range("ExposureTime", 0.5, 1.0, 10_000_000.0, increment=0.1, unit="us")

    assert message == "ExposureTime = 0.5 is out of range: allowed 1 .. 10000000 in steps of 0.1 us"
    assert check_range("Width", 640, 16, 4096, increment=16) is None


def test_given_an_integer_off_the_increment_grid_when_checked_then_it_is_refused() -> None:
    assert check_range("Width", 650, 16, 4096, increment=16) == (
        "Width = 650 is not a valid step: allowed 16 .. 4096 in steps of 16"
    )


def test_given_yaml_booleans_and_old_pixel_format_names_when_resolved_then_the_camera_spelling_wins() -> None:
    assert resolve_enum("ImageFileMode", True, ["Off", "On"]) == "On"
    assert resolve_enum("ImageFileMode", False, ["Off", "On"]) == "Off"
    assert resolve_enum("PixelFormat", "RGB8", ["Mono8", "RGB8Packed"]) == "RGB8Packed"
    assert resolve_enum("PixelFormat", "BGR8Packed", ["Mono8", "BGR8"]) == "BGR8"
    refused = r"PixelFormat = 'YUV422' is not offered by this camera: allowed Mono8, RGB8"
    with pytest.raises(ValueError, match=refused):
        resolve_enum("PixelFormat", "YUV422", ["Mono8", "RGB8"])


def test_given_a_float_the_camera_rounded_to_its_increment_when_compared_then_it_counts_as_kept() -> None:
    assert same_value(1234.56, 1234.6, 0.1)
    assert same_value(48.0, 48.00000004, None)
    assert not same_value(1000.0, 1100.0, 0.1)
    assert same_value(True, True, None)
    assert not same_value(640, 320, None)


# ------------------------------------------------------------------------------------ on the emulator


@pytest.fixture
def camera() -> Any:
    require_emulator()
    from pypylon import pylon

    info = pylon.DeviceInfo()
    info.SetSerialNumber(SERIALS[0])
    cam = pylon.InstantCamera(pylon.TlFactory.GetInstance().CreateDevice(info))
    cam.Open()
    yield cam
    cam.Close()
    cam.DestroyDevice()


def test_given_valid_settings_when_applied_then_the_camera_reports_them(camera: Any) -> None:
    plan = plan_device_features(
        config(
            pixel_format="Mono12", exposure_us=2500.0, gain_db=6.0, frame_rate=30.0,
            roi={"width": 320, "height": 240, "offset_x": 8, "offset_y": 4},
            gige={"packet_size": 8192, "inter_packet_delay": 500}, features={"ReverseX": True},
        )
    )  # fmt: skip

    apply_features(camera.GetNodeMap(), plan, SERIALS[0])

    assert camera.PixelFormat.Value == "Mono12"
    assert camera.ExposureTime.Value == pytest.approx(2500.0)
    assert camera.Gain.Value == pytest.approx(6.0, rel=1e-3)  # the camera rounds to its gain steps
    assert camera.AcquisitionFrameRate.Value == pytest.approx(30.0)
    roi = (camera.Width.Value, camera.Height.Value, camera.OffsetX.Value, camera.OffsetY.Value)
    assert roi == (320, 240, 8, 4)
    assert (camera.GevSCPSPacketSize.Value, camera.GevSCPD.Value) == (8192, 500)
    assert camera.ReverseX.Value is True


def test_given_an_exposure_below_the_minimum_when_applied_then_the_error_names_field_feature_value_and_range(
    camera: Any,
) -> None:
    with pytest.raises(SourceError) as caught:
        apply(camera, exposure_us=0.5)

    message = str(caught.value)
    assert message.startswith(f"camera {SERIALS[0]}: exposure_us: ExposureTime = 0.5 is out of range: ")
    low, high, step = camera.ExposureTime.Min, camera.ExposureTime.Max, camera.ExposureTime.Inc
    assert f"allowed {number(low)} .. {number(high)} in steps of {number(step)} us" in message


def test_given_a_roi_wider_than_the_sensor_when_applied_then_the_error_gives_the_maximum(camera: Any) -> None:
    too_wide = camera.WidthMax.Value + 1

    expected = rf"roi.width: Width = {too_wide} is out of range: allowed 1 .. {too_wide - 1}"
    with pytest.raises(SourceError, match=expected):
        apply(camera, roi={"width": too_wide, "height": 8})


def test_given_a_feature_the_camera_lacks_when_applied_then_the_error_names_it(camera: Any) -> None:
    with pytest.raises(SourceError, match=r"features.BslLightControl: the camera has no feature BslLight"):
        apply(camera, features={"BslLightControl": "On"})


def test_given_a_pixel_format_the_camera_does_not_offer_when_applied_then_the_allowed_ones_are_listed(
    camera: Any,
) -> None:
    with pytest.raises(SourceError) as caught:
        apply(camera, pixel_format="YUV422_8")

    message = str(caught.value)
    assert "pixel_format: PixelFormat = 'YUV422_8' is not offered by this camera: allowed Mono8, " in message
    assert "BayerRG8" in message


def test_given_a_text_where_a_number_belongs_when_applied_then_the_type_is_named(camera: Any) -> None:
    with pytest.raises(SourceError, match=r"features.Gamma: Gamma = 'bright': expected a number"):
        apply(camera, features={"Gamma": "bright"})


def test_given_a_command_set_to_true_when_applied_then_it_runs(camera: Any) -> None:
    camera.ForceFailedBufferCount.Value = 3

    apply(camera, features={"ForceFailedBuffer": True})

    assert camera.ForcedFailedBuffersRemaining.Value == 3
    with pytest.raises(SourceError, match=r"ForceFailedBuffer is a command: write true to run it"):
        apply(camera, features={"ForceFailedBuffer": 1})


def test_given_the_buffer_count_when_applied_to_the_instant_camera_then_pylon_allocates_that_many(
    camera: Any,
) -> None:
    apply_features(camera.GetInstantCameraNodeMap(), plan_grab_features(config(buffer_count=4)), "x")

    assert camera.MaxNumBuffer.Value == 4
