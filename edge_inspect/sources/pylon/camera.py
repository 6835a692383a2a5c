"""One opened Basler camera: found, opened, configured from config, grabbing; and each grab as data.

A :class:`CameraSession` lives from open to removal. After a removal the source destroys it and opens a
new one from the same serial number, which re-applies the whole configuration: a camera comes back from
a power cycle with its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import structlog

from edge_inspect.config.sources import PylonSourceConfig
from edge_inspect.errors import FrameDecodeError, SourceError
from edge_inspect.sources.pylon.convert import FrameConverter
from edge_inspect.sources.pylon.faults import IN_USE, grab_error, is_in_use, pylon_message
from edge_inspect.sources.pylon.features import apply_features, plan_device_features, plan_grab_features
from edge_inspect.sources.pylon.sdk import load_pylon
from edge_inspect.sources.pylon.select import CameraInfo, choose_camera, describe, enumerate_devices
from edge_inspect.types import ImageArray

log = structlog.get_logger(__name__)

GrabKind = Literal["image", "failed", "timeout", "lost"]


@dataclass(frozen=True, slots=True)
class Grab:
    """The outcome of one wait for an image.

    ``image``: a converted image; ``failed``: a buffer pylon could not fill (``error`` has pylon's code and
    description); ``timeout``: nothing arrived in time; ``lost``: the camera was removed or failed.
    """

    kind: GrabKind
    image: ImageArray | None = None
    block_id: int | None = None
    timestamp_ticks: int | None = None
    skipped: int = 0
    """Images pylon skipped before this one (latest-image-only grabbing): drops."""
    error: str | None = None


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000.0))


class CameraSession:
    """An open, configured, grabbing camera. One thread drives it (the source's ``frames()``)."""

    def __init__(self, camera: Any, info: CameraInfo, config: PylonSourceConfig) -> None:
        self.camera = camera
        self.info = info
        self.config = config
        self._pylon, self._genicam = load_pylon()
        self._converter = FrameConverter(config.output_format)

    @classmethod
    def open(cls, config: PylonSourceConfig, serial: str | None = None) -> CameraSession:
        """Find the camera (by ``serial`` when given, else by the config's selection), open it, apply the
        configuration and start grabbing. Raises :class:`SourceError` saying what went wrong."""
        pylon, genicam = load_pylon()
        try:
            devices = enumerate_devices()
            infos = [describe(device) for device in devices]
        except genicam.GenericException as exc:
            raise SourceError(f"cannot list pylon cameras: {pylon_message(exc)}") from None
        index = choose_camera(infos, ("serial", serial) if serial is not None else config.selector)
        info = infos[index]
        factory = pylon.TlFactory.GetInstance()
        if not factory.IsDeviceAccessible(devices[index]):
            raise SourceError(f"camera {info.label()}: {IN_USE}")
        camera = None
        try:
            camera = pylon.InstantCamera(factory.CreateDevice(devices[index]))
            camera.Open()
        except genicam.GenericException as exc:
            if camera is not None:
                camera.DestroyDevice()
            text = pylon_message(exc)
            reason = f"{IN_USE} ({text})" if is_in_use(text) else f"cannot open: {text}"
            raise SourceError(f"camera {info.label()}: {reason}") from None
        session = cls(camera, info, config)
        try:
            session._configure_and_start()
        except genicam.GenericException as exc:  # e.g. the camera went away while being configured
            session.close()
            raise SourceError(f"camera {info.label()}: configuration failed: {pylon_message(exc)}") from None
        except BaseException:
            session.close()
            raise
        return session

    def _configure_and_start(self) -> None:
        label = self.info.label()
        apply_features(self.camera.GetNodeMap(), plan_device_features(self.config), label)
        apply_features(self.camera.GetInstantCameraNodeMap(), plan_grab_features(self.config), label)
        latest_only = self.config.trigger.mode == "off" and self.config.drop_policy == "drop_oldest"
        pylon = self._pylon
        strategy = pylon.GrabStrategy_LatestImageOnly if latest_only else pylon.GrabStrategy_OneByOne
        try:
            self.camera.StartGrabbing(strategy)
        except self._genicam.GenericException as exc:
            raise SourceError(f"camera {label}: cannot start grabbing: {pylon_message(exc)}") from None
        self._warn_slow_frame_rate()

    def _warn_slow_frame_rate(self) -> None:
        """A requested frame rate the exposure or the link cannot reach is kept but lowered by the camera."""
        wanted = self.config.frame_rate
        if wanted is None or self.config.trigger.mode != "off":
            return
        nodemap = self.camera.GetNodeMap()
        for name in ("ResultingFrameRate", "ResultingFrameRateAbs"):
            node = nodemap.GetNode(name)
            if node is not None and self._genicam.IsReadable(node):
                actual = float(node.GetValue())
                if actual < wanted * 0.99:
                    log.warning(
                        "camera frame rate lower than asked",
                        camera=self.info.serial,
                        frame_rate=wanted,
                        resulting=round(actual, 3),
                    )
                return

    @property
    def removed(self) -> bool:
        try:
            return bool(self.camera.IsCameraDeviceRemoved())
        except self._genicam.GenericException:
            return True

    def fire_trigger(self, timeout_s: float) -> str | None:
        """Execute a software trigger once the camera is ready; an error text when it cannot."""
        try:
            if self.camera.CanWaitForFrameTriggerReady() and not self.camera.WaitForFrameTriggerReady(
                _ms(timeout_s), self._pylon.TimeoutHandling_Return
            ):
                return f"camera not ready for a software trigger within {timeout_s:g} s"
            self.camera.ExecuteSoftwareTrigger()
        except self._genicam.GenericException as exc:
            return f"software trigger failed: {pylon_message(exc)}"
        return None

    def execute(self, command: str) -> str | None:
        """Execute the GenICam command feature ``command``; an error text when the camera cannot."""
        node = self.camera.GetNodeMap().GetNode(command)
        if node is None or not isinstance(node, self._genicam.ICommand) or not self._genicam.IsWritable(node):
            return f"the camera has no executable command {command!r}"
        try:
            node.Execute()
        except self._genicam.GenericException as exc:
            return f"{command} failed: {pylon_message(exc)}"
        return None

    def retrieve(self, timeout_s: float) -> Grab:
        """Wait up to ``timeout_s`` for the next grab result and release its buffer back to pylon."""
        if self.removed:
            return Grab("lost", error="camera removed")
        try:
            result = self.camera.RetrieveResult(_ms(timeout_s), self._pylon.TimeoutHandling_Return)
            if not result.IsValid():
                return Grab("timeout") if self.camera.IsGrabbing() else Grab("lost", error="grabbing stopped")
            try:
                return self._read(result)
            finally:
                result.Release()
        except self._genicam.GenericException as exc:
            return Grab("lost", error=f"grab failed: {pylon_message(exc)}")

    def _read(self, result: Any) -> Grab:
        block_id = int(result.GetBlockID())
        if not result.GrabSucceeded():
            error = grab_error(int(result.GetErrorCode()), str(result.GetErrorDescription()))
            return Grab("failed", block_id=block_id, error=error)
        try:
            image = self._converter.convert(result)
        except FrameDecodeError as exc:
            return Grab("failed", block_id=block_id, error=str(exc))
        return Grab(
            "image",
            image=image,
            block_id=block_id,
            timestamp_ticks=int(result.GetTimeStamp()),
            skipped=int(result.GetNumberOfSkippedImages()),
        )

    def close(self) -> None:
        """Stop grabbing, close and destroy the device; quietly, since the camera may be gone already."""
        for step in ("StopGrabbing", "Close", "DestroyDevice"):
            try:
                getattr(self.camera, step)()
            except self._genicam.GenericException as exc:
                log.debug("camera close step failed", step=step, error=pylon_message(exc))
