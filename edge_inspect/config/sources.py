"""Frame-source plug-in configs. ``source.type`` picks one; each names the module that implements it."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import Field, ValidationInfo, field_validator, model_validator

from edge_inspect.config.base import StrictModel
from edge_inspect.config.paths import RELATIVE_TO_FILE, resolve

DropPolicy = Literal["block", "drop_oldest", "drop_newest"]


class ReplaySourceConfig(StrictModel):
    """Replay image files or a video: the simulator for tests and demos."""

    plugin: ClassVar[str] = "edge_inspect.sources.replay:ReplaySource"

    type: Literal["replay"] = Field(description="Selects the file-replay source.")
    path: str = Field(
        description="A folder of images, a glob pattern (e.g. 'data/*.png'), or a video file. "
        "Relative paths resolve against the config file's folder.",
        json_schema_extra=RELATIVE_TO_FILE,
    )
    fps: float = Field(0.0, ge=0.0, description="Replay rate in frames per second; 0 = as fast as possible.")
    loop: int = Field(1, ge=0, description="Number of passes over the files; 0 = forever.")
    ground_truth: str | None = Field(
        "auto",
        description="Ground-truth masks: a folder of masks named like the images (optionally with a "
        "'_label' suffix), 'auto' to detect the DAGM layout (Label/NNNN_label.PNG beside the images), "
        "or null for none.",
        json_schema_extra=RELATIVE_TO_FILE,
    )
    drop_policy: DropPolicy = Field(
        "block", description="When the pipeline is full: 'block' the source (replay default) or drop frames."
    )
    extensions: tuple[str, ...] = Field(
        (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg"),
        description="File extensions taken from a folder (case-insensitive).",
    )
    max_pixels: int = Field(
        64_000_000,
        ge=1,
        description="Largest frame replayed, in pixels (width x height), read from the file's header "
        "before decoding; a larger one is one ERROR result naming this limit. 64 MP holds a 16k-wide "
        "line-scan frame of 4,000 lines; the daemon needs about 12 bytes per pixel while it inspects one.",
    )
    cache_in_memory: bool = Field(
        False,
        description="Decode every file once and replay from memory (benchmarks: no disk or decode cost "
        "after the first pass). Holds every frame in RAM.",
    )
    trigger: Literal["free", "software"] = Field(
        "free",
        description="'free': files are released at fps; 'software': one file per part trigger (the "
        "station fires it, part.trigger: mqtt), so a whole line is simulated without cameras.",
    )

    @model_validator(mode="after")
    def _triggered_blocks(self) -> ReplaySourceConfig:
        if self.trigger == "software" and self.drop_policy != "block":
            msg = "trigger 'software' never drops a triggered file: drop_policy must be 'block'"
            raise ValueError(msg)
        return self

    @field_validator("path")
    @classmethod
    def _resolve_path(cls, value: str, info: ValidationInfo) -> str:
        return str(resolve(value, info))

    @field_validator("ground_truth")
    @classmethod
    def _resolve_ground_truth(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value == "auto":
            return value
        return str(resolve(value, info))


PylonTriggerMode = Literal["off", "software", "hardware"]
PylonOutputFormat = Literal["auto", "mono8", "mono16", "bgr8"]
FeatureValue = bool | int | float | str


class PylonTriggerConfig(StrictModel):
    """Free-run or triggered acquisition. Triggered frames are grabbed one by one and never dropped."""

    mode: PylonTriggerMode = Field(
        "off",
        description="'off' = free-run at frame_rate; 'hardware' = one frame per edge on 'line'; 'software' = "
        "one frame per software trigger, fired by the source every software_interval_s, or on request "
        "through PylonSource.trigger() when the interval is null.",
    )
    line: str = Field("Line1", description="Input line of a hardware trigger (TriggerSource), e.g. 'Line1'.")
    activation: Literal["RisingEdge", "FallingEdge", "AnyEdge", "LevelHigh", "LevelLow"] = Field(
        "RisingEdge", description="Which signal edge or level fires a hardware trigger (TriggerActivation)."
    )
    software_interval_s: float | None = Field(
        None,
        gt=0,
        description="Software mode: fire a trigger every this many seconds (a timer-driven station, demos, "
        "tests); null = only on request.",
    )
    software_count: int | None = Field(
        None,
        ge=1,
        description="Software mode with an interval: end the source after this many triggers (a fixed "
        "batch); null = until stopped.",
    )

    @model_validator(mode="after")
    def _check(self) -> PylonTriggerConfig:
        software_only = (self.software_interval_s, self.software_count)
        if self.mode != "software" and any(value is not None for value in software_only):
            msg = "software_interval_s and software_count need mode 'software'"
            raise ValueError(msg)
        if self.software_count is not None and self.software_interval_s is None:
            msg = "software_count needs software_interval_s (the source fires the triggers itself)"
            raise ValueError(msg)
        return self


class PylonRoiConfig(StrictModel):
    """The sensor area read out (Width, Height, OffsetX, OffsetY), in pixels."""

    width: int = Field(gt=0, description="Width, pixels (Width).")
    height: int = Field(gt=0, description="Height, pixels (Height).")
    offset_x: int = Field(0, ge=0, description="Left edge on the sensor, pixels (OffsetX).")
    offset_y: int = Field(0, ge=0, description="Top edge on the sensor, pixels (OffsetY).")


class PylonGigEConfig(StrictModel):
    """GigE transport settings; a USB3 camera lacks these features, so setting them there is an error."""

    packet_size: int | None = Field(
        None, gt=0, description="GevSCPSPacketSize, bytes: up to the NIC's MTU (9000 with jumbo frames)."
    )
    inter_packet_delay: int | None = Field(
        None,
        ge=0,
        description="GevSCPD, timestamp ticks between packets: raise it when several cameras share a link.",
    )


class PylonSourceConfig(StrictModel):
    """A Basler GigE or USB3 camera through pypylon (the 'pylon' extra)."""

    plugin: ClassVar[str] = "edge_inspect.sources.pylon:PylonSource"

    type: Literal["pylon"] = Field(description="Selects the Basler pylon camera source.")
    serial: str | None = Field(None, description="Select the camera by serial number.")
    user_name: str | None = Field(
        None, description="Select the camera by its user-defined name (DeviceUserID)."
    )
    ip_address: str | None = Field(None, description="Select a GigE camera by IP address.")
    pixel_format: str | None = Field(
        None,
        description="PixelFormat set at open (Mono8, Mono12, Mono16, RGB8, BGR8, BayerRG8, ...); "
        "null = keep the camera's.",
    )
    output_format: PylonOutputFormat = Field(
        "auto",
        description="What frames carry, converted by pylon's own converter: 'mono8', 'mono16' (MSB-aligned), "
        "'bgr8'; 'auto' = mono8 for 8-bit mono, mono16 for deeper mono, bgr8 for colour and Bayer.",
    )
    exposure_us: float | None = Field(None, gt=0, description="ExposureTime, microseconds; null = keep.")
    gain_db: float | None = Field(None, description="Gain, dB; null = keep.")
    frame_rate: float | None = Field(
        None, gt=0, description="Free-run AcquisitionFrameRate, frames per second; null = keep the camera's."
    )
    roi: PylonRoiConfig | None = Field(None, description="Sensor area read out; null = keep.")
    buffer_count: int = Field(10, ge=1, description="Grab buffers pylon allocates (MaxNumBuffer).")
    gige: PylonGigEConfig = Field(default_factory=PylonGigEConfig, description="GigE transport settings.")
    features: dict[str, FeatureValue] = Field(
        default_factory=dict,
        description="Further GenICam features set at open, in order, after the ones above (name -> value), "
        "e.g. {UserSetSelector: UserSet1, UserSetLoad: true, BalanceWhiteAuto: Off}; a command runs when set "
        "to true. Each is checked like the others.",
    )
    trigger: PylonTriggerConfig = Field(
        default_factory=PylonTriggerConfig, description="Free-run or triggered acquisition."
    )
    drop_policy: Literal["block", "drop_oldest"] = Field(
        "drop_oldest",
        description="Free-run: 'drop_oldest' keeps only the latest image (drops are counted) or 'block'. "
        "Triggered acquisition is always 'block' (its default): every trigger gives a result.",
    )
    grab_timeout_s: float = Field(
        2.0,
        gt=0,
        description="Longest wait for an image (free-run) or for a software trigger's image, seconds; "
        "longer is counted as a timeout (free-run) or gives an ERROR result (software trigger).",
    )
    no_frame_timeout_s: float | None = Field(
        10.0,
        gt=0,
        description="Free-run and hardware trigger: alarm (camera state 'offline') when no image arrives "
        "for this long; null = never (a hardware-triggered line that may idle). Software triggers have "
        "grab_timeout_s instead.",
    )
    reconnect_min_s: float = Field(0.5, gt=0, description="First delay before re-opening a removed camera.")
    reconnect_max_s: float = Field(
        10.0, gt=0, description="Longest delay between re-open attempts (the delay doubles up to it)."
    )

    @model_validator(mode="before")
    @classmethod
    def _triggered_blocks(cls, data: Any) -> Any:
        """Triggered acquisition defaults to 'block': a trigger must never be dropped silently."""
        if isinstance(data, dict) and "drop_policy" not in data:
            trigger = data.get("trigger")
            if isinstance(trigger, dict):
                mode = trigger.get("mode", "off")
            else:
                mode = getattr(trigger, "mode", "off")
            if mode != "off":
                return {**data, "drop_policy": "block"}
        return data

    @model_validator(mode="after")
    def _check(self) -> PylonSourceConfig:
        chosen = [name for name in ("serial", "user_name", "ip_address") if getattr(self, name) is not None]
        if len(chosen) > 1:
            msg = f"select the camera by one of serial, user_name, ip_address; got {', '.join(chosen)}"
            raise ValueError(msg)
        if self.trigger.mode != "off" and self.drop_policy != "block":
            msg = "triggered acquisition never drops frames: drop_policy must be 'block'"
            raise ValueError(msg)
        if self.reconnect_max_s < self.reconnect_min_s:
            msg = "reconnect_max_s must be >= reconnect_min_s"
            raise ValueError(msg)
        return self

    @property
    def selector(self) -> tuple[str, str] | None:
        """``(field, value)`` of the chosen selection, or None for the first camera found."""
        for name in ("serial", "user_name", "ip_address"):
            value = getattr(self, name)
            if value is not None:
                return name, value
        return None


# The one registry of source plug-ins: add a member here; its ``plugin`` names the implementation.
SourceConfig = Annotated[
    Union[ReplaySourceConfig, PylonSourceConfig],  # noqa: UP007 (pydantic needs the Union form here)
    Field(discriminator="type"),
]
