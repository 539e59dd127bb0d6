"""Scalar tag messages ({ns}/sensor/{asset}/{tag}) and the TagUpdate every tag source produces."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from edge_agent.errors import DecodeError, InputError

QUALITY_GOOD = 192
QUALITY_BAD = 0
QUALITY_STALE = 500

TagValue = float | int | bool | str | None


@dataclass(frozen=True)
class TagUpdate:
    """A new value (or a quality change) of one scalar tag of one asset or device."""

    asset: str
    tag: str
    value: TagValue
    timestamp_ms: int
    quality: int = QUALITY_GOOD
    unit: str | None = None
    source: str = "json"


def parse_tag(asset: str, tag: str, payload: bytes) -> TagUpdate:
    """Parse {"timestamp_ms","value","unit","quality"}; a bare JSON number is accepted as the value."""
    try:
        document = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DecodeError(f"tag message is not valid UTF-8 JSON ({exc})") from exc
    if isinstance(document, (int, float)) and not isinstance(document, bool):
        document = {"value": document}
    if not isinstance(document, dict) or "value" not in document:
        raise InputError("tag message must be a JSON object with a 'value'")
    value = document["value"]
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError("tag 'value' is NaN or infinite")
    if value is not None and not isinstance(value, (int, float, bool, str)):
        raise InputError("tag 'value' must be a number, boolean, string or null")
    ts = document.get("timestamp_ms", 0)
    quality = document.get("quality", QUALITY_GOOD)
    if isinstance(ts, bool) or not isinstance(ts, int) or isinstance(quality, bool) or not isinstance(quality, int):
        raise InputError("tag 'timestamp_ms' and 'quality' must be integers")
    unit = document.get("unit")
    return TagUpdate(asset, tag, value, ts, quality, unit if isinstance(unit, str) else None)
