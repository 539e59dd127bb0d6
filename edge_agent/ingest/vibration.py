"""Vibration window messages (JSON with a sample list or base64 float32 LE) to validated windows."""

from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import ValidationError

from edge_agent.contracts import BearingGeometry
from edge_agent.errors import DecodeError, InputError, InputShapeError

MAX_SAMPLES = 1 << 20


@dataclass(frozen=True)
class VibrationWindow:
    """One accelerometer window in g, with the shaft speed and bearing it was measured on."""

    samples: np.ndarray
    fs_hz: float
    rpm: float
    bearing: BearingGeometry
    ts_ms: int | None = None


def _number(document: dict[str, Any], key: str) -> float | None:
    value = document.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"'{key}' must be a finite number, got {value!r}")
    return float(value)


def _samples(document: dict[str, Any]) -> np.ndarray:
    if ("samples" in document) == ("samples_b64" in document):
        raise InputError("message needs exactly one of 'samples' (list) or 'samples_b64' (float32 LE)")
    if "samples_b64" in document:
        encoded = document["samples_b64"]
        if not isinstance(encoded, str):
            raise InputError("'samples_b64' must be a base64 string")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise DecodeError(f"'samples_b64' is not valid base64 ({exc})") from exc
        if len(raw) % 4:
            raise InputShapeError(f"'samples_b64' holds {len(raw)} bytes; float32 samples need a multiple of 4")
        samples = np.frombuffer(raw, dtype="<f4").astype(np.float32)
    else:
        values = document["samples"]
        if not isinstance(values, list):
            raise InputError("'samples' must be a list of numbers")
        try:
            samples = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InputError("'samples' must be a list of numbers") from exc
    if samples.ndim != 1:
        raise InputShapeError(f"'samples' must be one-dimensional, got shape {samples.shape}")
    if samples.size > MAX_SAMPLES:
        raise InputShapeError(f"window has {samples.size} samples; at most {MAX_SAMPLES} accepted")
    if not np.all(np.isfinite(samples)):
        raise InputError(f"window has {int(np.sum(~np.isfinite(samples)))} NaN or infinite samples")
    return samples


def parse_vibration(
    payload: bytes,
    default_bearing: BearingGeometry | None = None,
    default_rpm: float | None = None,
) -> VibrationWindow:
    """Parse a vibration message; the message's rpm and bearing win over the asset's defaults."""
    try:
        document = json.loads(payload.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DecodeError(f"message is not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise DecodeError(f"message is not valid JSON ({exc.msg} at line {exc.lineno} col {exc.colno})") from exc
    if not isinstance(document, dict):
        raise InputError("message must be a JSON object")
    unit = document.get("unit", "g")
    if unit != "g":
        raise InputError(f"'unit' is {unit!r}; windows must be in g")
    fs_hz = _number(document, "fs_hz")
    if fs_hz is None or fs_hz <= 0:
        raise InputError("'fs_hz' (sampling rate in Hz, > 0) is required")
    rpm = _number(document, "rpm")
    rpm = rpm if rpm is not None else default_rpm
    if rpm is None:
        raise InputError("no shaft speed: the message has no 'rpm' and the asset config sets none")
    if rpm <= 0:
        raise InputError(f"'rpm' must be > 0, got {rpm}")
    bearing = default_bearing
    if document.get("bearing") is not None:
        try:
            bearing = BearingGeometry.model_validate(document["bearing"])
        except ValidationError as exc:
            raise InputError(f"'bearing' is invalid: {exc.errors()[0]['msg']}") from exc
    if bearing is None:
        raise InputError("no bearing geometry: the message has no 'bearing' and the asset config sets none")
    ts = document.get("ts_ms")
    if ts is not None and (isinstance(ts, bool) or not isinstance(ts, int)):
        raise InputError(f"'ts_ms' must be an integer (milliseconds), got {ts!r}")
    return VibrationWindow(samples=_samples(document), fs_hz=fs_hz, rpm=rpm, bearing=bearing, ts_ms=ts)
