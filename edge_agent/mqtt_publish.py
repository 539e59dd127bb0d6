"""One-pass decoder of an inbound MQTT 5 PUBLISH (QoS 0/1): fields, properties and a single payload copy.

paho 2.x decodes a PUBLISH by re-slicing the whole packet for the topic, the packet id and every property (a
50 KB camera frame with two user properties is copied about ten times) and builds its Properties object through
name lookups that compare every known property name per attribute: ~135 us per frame on the network thread,
where it holds the GIL the inference workers need. This reads the same bytes through a memoryview instead.
Anything it does not know (QoS 2, an unknown property, a length that runs past the packet) returns None, and
the caller hands the packet to paho's own decoder, which reports it as paho always has.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DecodedPublish:
    """What a PUBLISH carries; `properties` by paho's attribute names (UserProperty as a list of pairs)."""

    dup: bool
    qos: int
    retain: bool
    topic: bytes
    mid: int
    properties: dict[str, Any]
    payload: bytes


class _Short(Exception):
    """A length field points past the end of the packet."""


# property id -> (paho attribute name, wire type); types: byte, u16, u32, vbi, utf8, binary, pair
_PUBLISH_PROPERTIES: dict[int, tuple[str, str]] = {
    1: ("PayloadFormatIndicator", "byte"),
    2: ("MessageExpiryInterval", "u32"),
    3: ("ContentType", "utf8"),
    8: ("ResponseTopic", "utf8"),
    9: ("CorrelationData", "binary"),
    11: ("SubscriptionIdentifier", "vbi"),
    35: ("TopicAlias", "u16"),
    38: ("UserProperty", "pair"),
}
_MULTIPLE = {"SubscriptionIdentifier", "UserProperty"}


def _vbi(view: memoryview, at: int) -> tuple[int, int]:
    """(value, next offset) of a variable byte integer."""
    value, shift = 0, 0
    for i in range(4):
        if at + i >= len(view):
            raise _Short
        byte = view[at + i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at + i + 1
        shift += 7
    raise _Short  # more than four bytes: malformed


def _u16(view: memoryview, at: int) -> int:
    if at + 2 > len(view):
        raise _Short
    return (view[at] << 8) | view[at + 1]


def _utf8(view: memoryview, at: int) -> tuple[str, int]:
    length = _u16(view, at)
    end = at + 2 + length
    if end > len(view):
        raise _Short
    return str(view[at + 2 : end], "utf-8"), end


def _property(view: memoryview, at: int, kind: str) -> tuple[Any, int]:
    """(value, next offset) of one property value of wire type `kind`."""
    if kind == "byte":
        if at >= len(view):
            raise _Short
        return view[at], at + 1
    if kind == "u16":
        return _u16(view, at), at + 2
    if kind == "u32":
        if at + 4 > len(view):
            raise _Short
        return int.from_bytes(view[at : at + 4], "big"), at + 4
    if kind == "vbi":
        return _vbi(view, at)
    if kind == "binary":
        length = _u16(view, at)
        if at + 2 + length > len(view):
            raise _Short
        return bytes(view[at + 2 : at + 2 + length]), at + 2 + length
    if kind == "utf8":
        return _utf8(view, at)
    key, at = _utf8(view, at)
    value, at = _utf8(view, at)
    return (key, value), at


def decode_publish_v5(header: int, packet: bytes | bytearray) -> DecodedPublish | None:
    """Decode the variable header and payload of an MQTT 5 PUBLISH (`packet` = all after the fixed header), or
    None when this decoder does not handle it (QoS 2, an unknown property, a malformed length)."""
    qos = (header & 0x06) >> 1
    if qos > 1:
        return None
    view = memoryview(packet)
    try:
        topic_len = _u16(view, 0)
        at = 2 + topic_len
        if at > len(view):
            return None
        topic = bytes(view[2:at])
        mid = 0
        if qos:
            mid = _u16(view, at)
            at += 2
        props_len, at = _vbi(view, at)
        end = at + props_len
        if end > len(view):
            return None
        properties: dict[str, Any] = {}
        while at < end:
            ident, at = _vbi(view, at)
            known = _PUBLISH_PROPERTIES.get(ident)
            if known is None:
                return None
            name, kind = known
            value, at = _property(view, at, kind)
            if name in _MULTIPLE:
                properties.setdefault(name, []).append(value)
            elif name in properties:
                return None  # a single-valued property twice: paho's decoder raises on it
            else:
                properties[name] = value
        if at != end:
            return None
        return DecodedPublish(
            dup=bool(header & 0x08),
            qos=qos,
            retain=bool(header & 0x01),
            topic=topic,
            mid=mid,
            properties=properties,
            payload=bytes(view[end:]),
        )
    except (_Short, UnicodeDecodeError):
        return None
