"""Camera pixels -> the frame layout the pipeline takes (HxW mono or HxWx3 BGR), with pylon's own converter.

pylon's converter demosaics Bayer, swaps RGB to BGR and shifts 10/12-bit mono to the top of 16 bits
(MSB-aligned), so a 12-bit image spans the 16-bit range that preprocessing scales by.
"""

from __future__ import annotations

from typing import Any, Literal

from edge_inspect.config.sources import PylonOutputFormat
from edge_inspect.errors import FrameDecodeError
from edge_inspect.sources.pylon.sdk import load_pylon
from edge_inspect.types import ImageArray

OutputFormat = Literal["mono8", "mono16", "bgr8"]


def choose_output(requested: PylonOutputFormat, *, colour: bool, bit_depth: int) -> OutputFormat:
    """The frame format for a camera pixel format: ``requested``, or for 'auto' the lossless-enough one."""
    if requested != "auto":
        return requested
    if colour:
        return "bgr8"
    return "mono8" if bit_depth <= 8 else "mono16"


class FrameConverter:
    """Converts grab results to numpy arrays in one output format; keeps one pylon converter per target."""

    def __init__(self, requested: PylonOutputFormat) -> None:
        self.requested = requested
        self._pylon, _ = load_pylon()
        self._converters: dict[OutputFormat, Any] = {}
        self._targets = {
            "mono8": self._pylon.PixelType_Mono8,
            "mono16": self._pylon.PixelType_Mono16,
            "bgr8": self._pylon.PixelType_BGR8packed,
        }

    def output_for(self, pixel_type: int) -> OutputFormat:
        """The output format for a camera pixel type (a pylon ``PixelType`` value)."""
        pylon = self._pylon
        colour = bool(pylon.IsBayer(pixel_type) or not pylon.IsMono(pixel_type))
        return choose_output(self.requested, colour=colour, bit_depth=int(pylon.BitDepth(pixel_type)))

    def _converter(self, output: OutputFormat) -> Any:
        converter = self._converters.get(output)
        if converter is None:
            converter = self._pylon.ImageFormatConverter()
            converter.OutputPixelFormat = self._targets[output]
            if output == "mono16":
                converter.OutputBitAlignment.Value = "MsbAligned"
            self._converters[output] = converter
        return converter

    def convert(self, result: Any) -> ImageArray:
        """The image of a successful grab result as a numpy array (a copy: the buffer goes back to pylon)."""
        output = self.output_for(result.GetPixelType())
        converter = self._converter(output)
        try:
            if converter.ImageHasDestinationFormat(result):
                return result.GetArray()  # type: ignore[no-any-return]
            return converter.Convert(result).GetArray()  # type: ignore[no-any-return]
        except self._pylon.GenericException as exc:
            msg = f"pylon cannot convert pixel type 0x{result.GetPixelType():08x} to {output}: {exc}"
            raise FrameDecodeError(msg) from None
