"""Given payload bytes from cameras and DAQs, when decoded, then good ones work and bad ones say why."""

from __future__ import annotations

import base64
import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from edge_agent.contracts import BearingGeometry
from edge_agent.errors import DecodeError, InputError, InputShapeError
from edge_agent.ingest.images import ImageLimits, decode_image, read_header
from edge_agent.ingest.vibration import parse_vibration

BEARING = BearingGeometry(balls=9, ball_diameter_mm=7.94, pitch_diameter_mm=39.04)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, depth: int = 8, colour: int = 0, with_pixels: bool = True) -> bytes:
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0))
    row = b"\0" + b"\x80" * (width * (depth // 8))
    pixels = _chunk(b"IDAT", zlib.compress(row * height)) if with_pixels else b""
    return b"\x89PNG\r\n\x1a\n" + ihdr + pixels + _chunk(b"IEND", b"")


def test_jpeg_and_png_frames_decode_to_8_bit_pixels() -> None:
    image = np.random.default_rng(0).integers(0, 255, (200, 300), dtype=np.uint8)
    for ext in (".jpg", ".png"):
        ok, encoded = cv2.imencode(ext, image)
        assert ok
        decoded = decode_image(encoded.tobytes())
        assert decoded.shape == (200, 300) and decoded.dtype == np.uint8
    colour = cv2.imencode(".png", np.zeros((50, 60, 3), np.uint8))[1].tobytes()
    assert decode_image(colour).shape == (50, 60, 3)
    assert read_header(colour).width == 60


@pytest.mark.parametrize(
    ("payload", "error", "message"),
    [
        (b"", DecodeError, "neither JPEG nor PNG"),
        (b"GIF89a....", DecodeError, "neither JPEG nor PNG"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", DecodeError, "truncated"),
        (b"\x89PNG\r\n\x1a\n\0\0", DecodeError, "truncated"),
    ],
)
def test_garbage_and_truncated_frames_are_refused(payload: bytes, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        decode_image(payload)


def test_a_truncated_jpeg_body_is_refused() -> None:
    encoded = cv2.imencode(".jpg", np.full((64, 64), 128, np.uint8))[1].tobytes()
    with pytest.raises(DecodeError):
        decode_image(encoded[:200])


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    bomb = _png(60_000, 60_000, with_pixels=False)  # the header alone claims 3.6 gigapixels
    with pytest.raises(InputShapeError, match="60000x60000"):
        decode_image(bomb)


def test_16_bit_frames_are_refused_with_a_clear_error() -> None:
    with pytest.raises(InputShapeError, match="16-bit png"):
        decode_image(_png(16, 16, depth=16))


def test_oversized_payloads_are_refused_before_decoding() -> None:
    with pytest.raises(InputShapeError, match="limit"):
        decode_image(b"\xff\xd8" + b"\0" * 2000, ImageLimits(max_bytes=1000))


def _window(**fields: object) -> bytes:
    document = {"ts_ms": 1, "fs_hz": 20000, "rpm": 1800, "unit": "g", "samples": [0.1, -0.2, 0.3]}
    document.update(fields)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def test_a_vibration_message_with_a_sample_list_or_base64_parses() -> None:
    window = parse_vibration(_window(), BEARING)
    assert window.samples.dtype == np.float32 and window.samples.size == 3 and window.rpm == 1800
    packed = base64.b64encode(np.arange(5, dtype="<f4").tobytes()).decode()
    window = parse_vibration(_window(samples=None, samples_b64=packed), BEARING)
    assert window.samples.tolist() == [0, 1, 2, 3, 4]


def test_the_message_bearing_and_rpm_win_over_the_asset_defaults() -> None:
    other = {"balls": 12, "ball_diameter_mm": 10, "pitch_diameter_mm": 60, "contact_angle_deg": 15}
    window = parse_vibration(_window(bearing=other), BEARING, default_rpm=900)
    assert window.bearing.balls == 12 and window.rpm == 1800
    assert parse_vibration(_window(rpm=None), BEARING, default_rpm=900).rpm == 900


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\xff\xfe{", "not valid UTF-8"),
        (b"{", "not valid JSON"),
        (b"[1,2]", "JSON object"),
        (_window(rpm=None), "no shaft speed"),
        (_window(rpm=-5), "'rpm' must be > 0"),
        (_window(fs_hz=None), "'fs_hz'"),
        (_window(unit="m/s2"), "'unit'"),
        (_window(samples=[1, "x"]), "list of numbers"),
        (_window(samples=None), "exactly one of"),
        (_window(samples_b64="AAAA"), "exactly one of"),
        (_window(samples=None, samples_b64="!!!"), "not valid base64"),
        (_window(samples=None, samples_b64=base64.b64encode(b"abcde").decode()), "multiple of 4"),
        (_window(bearing={"balls": 9}), "'bearing' is invalid"),
        (_window(ts_ms="yesterday"), "'ts_ms'"),
    ],
)
def test_malformed_vibration_messages_are_refused_with_the_reason(payload: bytes, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_vibration(payload, BEARING)


def test_nan_samples_are_refused() -> None:
    packed = base64.b64encode(np.array([0.1, np.nan, np.inf], dtype="<f4").tobytes()).decode()
    with pytest.raises(InputError, match="2 NaN or infinite"):
        parse_vibration(_window(samples=None, samples_b64=packed), BEARING)


def test_a_message_without_any_bearing_geometry_is_refused() -> None:
    with pytest.raises(InputError, match="no bearing geometry"):
        parse_vibration(_window(), None)
