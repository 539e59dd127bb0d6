"""Camera frame decoding: JPEG/PNG bytes to an 8-bit image, with limits checked before decoding."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from edge_agent.errors import DecodeError, InputShapeError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# SOF markers carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


@dataclass(frozen=True)
class ImageHeader:
    """What an image's header claims, read without decoding pixels."""

    format: str
    width: int
    height: int
    bit_depth: int


@dataclass(frozen=True)
class ImageLimits:
    """Bounds on camera frames; a frame outside them is refused before any pixel is decoded."""

    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 40_000_000
    min_side_px: int = 1


def _png_header(data: bytes) -> ImageHeader:
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise DecodeError("PNG is truncated before its IHDR header")
    width, height, depth = struct.unpack(">IIB", data[16:25])
    return ImageHeader("png", width, height, depth)


def _jpeg_header(data: bytes) -> ImageHeader:
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise DecodeError(f"JPEG has no marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill bytes may pad between segments
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 9 > len(data):
                break
            depth, height, width = struct.unpack(">BHH", data[pos + 4 : pos + 9])
            return ImageHeader("jpeg", width, height, depth)
        if marker == 0xDA or length < 2:
            break
        pos += 2 + length
    raise DecodeError("JPEG is truncated or has no frame header (SOF)")


def read_header(data: bytes) -> ImageHeader:
    """Format, size and bit depth from a JPEG or PNG header; DecodeError for anything else."""
    if data.startswith(PNG_SIGNATURE):
        return _png_header(data)
    if data.startswith(b"\xff\xd8"):
        return _jpeg_header(data)
    raise DecodeError("payload is neither JPEG nor PNG")


def check_header(data: bytes, limits: ImageLimits) -> ImageHeader:
    """The header of a frame within limits, read without decoding a pixel (microseconds: the MQTT thread calls it,
    so garbage never takes a queue slot from a real frame); DecodeError/InputShapeError otherwise."""
    if len(data) > limits.max_bytes:
        raise InputShapeError(f"frame is {len(data)} bytes; the limit is {limits.max_bytes}")
    header = read_header(data)
    if header.width == 0 or header.height == 0:
        raise DecodeError(f"{header.format} header declares an empty {header.width}x{header.height} image")
    if header.width * header.height > limits.max_pixels:
        raise InputShapeError(
            f"{header.format} declares {header.width}x{header.height} px; the limit is {limits.max_pixels} pixels"
        )
    if header.bit_depth != 8:
        raise InputShapeError(f"{header.bit_depth}-bit {header.format} is not supported; send 8-bit frames")
    return header


def decode_image(data: bytes, limits: ImageLimits | None = None) -> np.ndarray:
    """Decode JPEG/PNG bytes to uint8 HxW (grey) or HxWx3 (BGR), refusing bombs and 16-bit frames."""
    import cv2

    limits = limits or ImageLimits()
    header = check_header(data, limits)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DecodeError(f"{header.format} data is corrupt or truncated")
    if image.dtype != np.uint8:
        raise InputShapeError(f"decoded {image.dtype} pixels; send 8-bit frames")
    if image.ndim == 3 and image.shape[2] == 4:
        image = image[:, :, :3]
    if min(image.shape[:2]) < limits.min_side_px:
        raise InputShapeError(f"frame is {image.shape[1]}x{image.shape[0]} px; at least {limits.min_side_px} needed")
    return np.ascontiguousarray(image)
