"""Decode one image file's bytes into pixels, or say clearly why it cannot be decoded.

A pure function of the bytes, so every failure mode is testable without files. The container is checked
before OpenCV sees it: depending on the build, OpenCV may return a grey-filled image for a truncated JPEG
or a partial one for a truncated BMP or TIFF, and an inspection daemon must never judge half a frame.
Bit depth is kept (``IMREAD_UNCHANGED``): 16-bit stays uint16, so the model's normalisation scales by it.
"""

from __future__ import annotations

import struct

import cv2
import numpy as np

from edge_inspect.errors import FrameDecodeError
from edge_inspect.types import ImageArray

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOI = b"\xff\xd8\xff"
_JPEG_EOI = b"\xff\xd9"
_TIFF_LE = b"II*\x00"
_TIFF_BE = b"MM\x00*"

_BMP_HEADER = 14
_BMP_CORE_HEADER = 12
_BMP_INFO_HEADER = 40
_BMP_UNCOMPRESSED = (0, 3)  # BI_RGB, BI_BITFIELDS: the pixel array size follows from the header

_TIFF_OFFSET_TAGS = {273: 279, 324: 325}  # StripOffsets -> StripByteCounts, TileOffsets -> TileByteCounts
_TIFF_TYPE_SIZE = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_TIFF_INTEGER_TYPES = {3: "H", 4: "I"}  # SHORT, LONG: the types strip offsets and byte counts come in
_TIFF_INLINE = 4  # bytes of value stored in the entry itself
_TIFF_IFD_ENTRY = 12

_SHORTEST_IMAGE = 26  # no PNG, JPEG, BMP or TIFF file is shorter (a 1x1 BMP with its headers)
_SUPPORTED_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16))
_MONO_CHANNELS = 1
_COLOR_CHANNELS = 3
_ALPHA_CHANNELS = 4


def sniff_format(data: bytes) -> str | None:
    """The container format named by the file's first bytes: PNG, JPEG, BMP, TIFF, or None."""
    if data.startswith(_PNG_SIGNATURE):
        return "PNG"
    if data.startswith(_JPEG_SOI):
        return "JPEG"
    if data.startswith(b"BM") and len(data) >= _BMP_HEADER:
        return "BMP"
    if data.startswith((_TIFF_LE, _TIFF_BE)):
        return "TIFF"
    return None


def _check_png(data: bytes) -> None:
    """Walk the chunk list up to IEND: a cut file ends inside a chunk or before IEND."""
    pos = len(_PNG_SIGNATURE)
    while True:
        if pos + 8 > len(data):
            msg = f"truncated PNG: no IEND chunk (the file ends at byte {len(data)})"
            raise FrameDecodeError(msg)
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            name = kind.decode("latin-1", "replace")
            msg = f"truncated PNG: chunk {name!r} at byte {pos} needs {end} bytes, the file has {len(data)}"
            raise FrameDecodeError(msg)
        if kind == b"IEND":
            return
        pos = end


def _check_jpeg(data: bytes) -> None:
    """A complete JPEG ends with its EOI marker (trailing zero padding, which some grabbers add, is fine)."""
    if not data.rstrip(b"\x00").endswith(_JPEG_EOI):
        msg = f"truncated JPEG: no end-of-image marker (FF D9) at the end of its {len(data)} bytes"
        raise FrameDecodeError(msg)


def _check_bmp(data: bytes) -> None:
    """The pixel array of an uncompressed BMP must fit in the file; a compressed one, its declared size."""
    if len(data) < _BMP_HEADER + 4:
        msg = f"truncated BMP: {len(data)} bytes is shorter than its header"
        raise FrameDecodeError(msg)
    declared, offset, header = struct.unpack_from("<I4xII", data, 2)
    if header == _BMP_CORE_HEADER and len(data) >= _BMP_HEADER + _BMP_CORE_HEADER:
        width, height, _planes, bits = struct.unpack_from("<HHHH", data, 18)
        compression = 0
    elif header >= _BMP_INFO_HEADER and len(data) >= _BMP_HEADER + _BMP_INFO_HEADER:
        width, height, _planes, bits, compression = struct.unpack_from("<iiHHI", data, 18)
    else:
        msg = f"truncated or corrupt BMP: DIB header of {header} bytes in a {len(data)}-byte file"
        raise FrameDecodeError(msg)
    if compression in _BMP_UNCOMPRESSED:
        stride = (abs(width) * bits + 31) // 32 * 4
        needed = offset + stride * abs(height)
    else:
        needed = declared
    if needed > len(data):
        size = f"{abs(width)}x{abs(height)}, {bits} bits per pixel"
        msg = f"truncated BMP: {size} needs {needed} bytes, the file has {len(data)}"
        raise FrameDecodeError(msg)


def _tiff_values(data: bytes, order: str, entry: int) -> list[int] | None:
    """The SHORT/LONG values of one IFD entry (inline or at their offset); None for other types."""
    _tag, kind, count, inline = struct.unpack_from(f"{order}HHII", data, entry)
    code = _TIFF_INTEGER_TYPES.get(kind)
    if code is None:
        return None
    start = entry + 8 if count * _TIFF_TYPE_SIZE[kind] <= _TIFF_INLINE else inline
    return list(struct.unpack_from(f"{order}{count}{code}", data, start))


def _check_tiff_entry(data: bytes, order: str, entry: int) -> None:
    """Values too long for the entry itself lie elsewhere in the file: they must be inside it."""
    tag, kind, count, offset = struct.unpack_from(f"{order}HHII", data, entry)
    size = count * _TIFF_TYPE_SIZE.get(kind, 1)
    if size > _TIFF_INLINE and offset + size > len(data):
        msg = f"truncated TIFF: tag {tag}'s values at byte {offset} run past the end ({len(data)} bytes)"
        raise FrameDecodeError(msg)


def _check_tiff(data: bytes) -> None:
    """The first directory (the page OpenCV reads) and every strip or tile it names must lie in the file."""
    order = "<" if data.startswith(_TIFF_LE) else ">"
    if len(data) < 8:
        msg = f"truncated TIFF: {len(data)} bytes is shorter than its header"
        raise FrameDecodeError(msg)
    (ifd,) = struct.unpack_from(f"{order}I", data, 4)
    if ifd + 2 > len(data):
        msg = f"truncated TIFF: its directory at byte {ifd} is past the end ({len(data)} bytes)"
        raise FrameDecodeError(msg)
    (count,) = struct.unpack_from(f"{order}H", data, ifd)
    if ifd + 2 + count * _TIFF_IFD_ENTRY + 4 > len(data):
        msg = f"truncated TIFF: its directory at byte {ifd} runs past the end ({len(data)} bytes)"
        raise FrameDecodeError(msg)
    entries = {}
    for i in range(count):
        entry = ifd + 2 + i * _TIFF_IFD_ENTRY
        _check_tiff_entry(data, order, entry)
        (tag,) = struct.unpack_from(f"{order}H", data, entry)
        entries[tag] = entry
    for offsets_tag, counts_tag in _TIFF_OFFSET_TAGS.items():
        if offsets_tag not in entries or counts_tag not in entries:
            continue
        offsets = _tiff_values(data, order, entries[offsets_tag])
        counts = _tiff_values(data, order, entries[counts_tag])
        if offsets is None or counts is None:
            continue
        end = max((o + c for o, c in zip(offsets, counts, strict=False)), default=0)
        if end > len(data):
            msg = f"truncated TIFF: its image data runs to byte {end}, the file has {len(data)}"
            raise FrameDecodeError(msg)


_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame markers (not DHT/JPG/DAC)
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RSTn: no length field
_TIFF_WIDTH, _TIFF_HEIGHT = 256, 257


def _png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack_from(">II", data, len(_PNG_SIGNATURE) + 8)  # IHDR comes first
    return int(width), int(height)


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """The frame header's size: walk the marker segments up to the first SOFn."""
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if marker in _JPEG_SOF:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            return int(width), int(height)
        pos += 2 + length
    return None


def _bmp_size(data: bytes) -> tuple[int, int]:
    (header,) = struct.unpack_from("<I", data, _BMP_HEADER)
    if header == _BMP_CORE_HEADER:
        width, height = struct.unpack_from("<HH", data, 18)
    else:
        width, height = struct.unpack_from("<ii", data, 18)
    return abs(int(width)), abs(int(height))


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    order = "<" if data.startswith(_TIFF_LE) else ">"
    (ifd,) = struct.unpack_from(f"{order}I", data, 4)
    (count,) = struct.unpack_from(f"{order}H", data, ifd)
    size: dict[int, int] = {}
    for i in range(count):
        entry = ifd + 2 + i * _TIFF_IFD_ENTRY
        (tag,) = struct.unpack_from(f"{order}H", data, entry)
        if tag in (_TIFF_WIDTH, _TIFF_HEIGHT):
            values = _tiff_values(data, order, entry)
            if values:
                size[tag] = values[0]
    if _TIFF_WIDTH in size and _TIFF_HEIGHT in size:
        return size[_TIFF_WIDTH], size[_TIFF_HEIGHT]
    return None


_SIZE_READERS = {"PNG": _png_size, "JPEG": _jpeg_size, "BMP": _bmp_size, "TIFF": _tiff_size}


def image_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` read from the container's header, without decoding; None when unknown."""
    kind = sniff_format(data)
    if kind is None:
        return None
    try:
        return _SIZE_READERS[kind](data)
    except struct.error:
        return None


_CONTAINER_CHECKS = {"PNG": _check_png, "JPEG": _check_jpeg, "BMP": _check_bmp, "TIFF": _check_tiff}


def _normalise_channels(image: ImageArray, name: str) -> ImageArray:
    """HxWx1 becomes HxW; BGRA drops its alpha (frames are mono or BGR); anything else is refused."""
    if image.ndim == 2:
        return image
    channels = image.shape[2] if image.ndim == 3 else None
    if channels == _MONO_CHANNELS:
        return image[:, :, 0]
    if channels == _COLOR_CHANNELS:
        return image
    if channels == _ALPHA_CHANNELS:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    msg = f"{name}: unsupported image shape {image.shape} (expected mono, BGR or BGRA)"
    raise FrameDecodeError(msg)


def decode_image(data: bytes, name: str, max_pixels: int | None = None) -> ImageArray:
    """Decode a PNG, JPEG, BMP or TIFF file's bytes to an HxW or HxWx3 (BGR) uint8/uint16 array.

    ``name`` (the file's path) starts every error message. Raises :class:`FrameDecodeError`, and nothing
    else, for an empty, truncated, corrupt or unsupported file, and for one whose header declares more
    than ``max_pixels`` pixels (checked before decoding: a 1 MB PNG can hold a 32000x32000 frame).
    """
    if not data:
        msg = f"{name}: empty file (0 bytes)"
        raise FrameDecodeError(msg)
    kind = sniff_format(data)
    if kind is None and len(data) < _SHORTEST_IMAGE:
        msg = f"{name}: too short to be an image ({len(data)} bytes)"
        raise FrameDecodeError(msg)
    if kind is None:
        msg = f"{name}: not a PNG, JPEG, BMP or TIFF image (it starts with {data[:8].hex(' ')})"
        raise FrameDecodeError(msg)
    try:
        _CONTAINER_CHECKS[kind](data)
    except FrameDecodeError as exc:
        raise FrameDecodeError(f"{name}: {exc}") from None
    except struct.error as exc:
        msg = f"{name}: corrupt {kind} header ({exc})"
        raise FrameDecodeError(msg) from None
    if max_pixels is not None:
        size = image_size(data)
        if size is None:
            msg = f"{name}: the {kind} header gives no image size, so source.max_pixels cannot be checked"
            raise FrameDecodeError(msg)
        if size[0] * size[1] > max_pixels:
            msg = (
                f"{name}: {size[0]}x{size[1]} = {size[0] * size[1]} pixels, more than source.max_pixels "
                f"({max_pixels}); not decoded"
            )
            raise FrameDecodeError(msg)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        msg = f"{name}: corrupt {kind} data: OpenCV refused it ({str(exc).strip().splitlines()[-1]})"
        raise FrameDecodeError(msg) from None
    if image is None or image.size == 0:
        msg = f"{name}: corrupt {kind} data: OpenCV could not decode it"
        raise FrameDecodeError(msg)
    if max_pixels is not None and image.shape[0] * image.shape[1] > max_pixels:  # a header that lied
        msg = f"{name}: decoded to {image.shape[1]}x{image.shape[0]}, over source.max_pixels {max_pixels}"
        raise FrameDecodeError(msg)
    if image.dtype not in _SUPPORTED_DTYPES:
        msg = f"{name}: unsupported pixel type {image.dtype} (only 8- and 16-bit unsigned images are read)"
        raise FrameDecodeError(msg)
    return _normalise_channels(image, name)
