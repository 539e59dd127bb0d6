"""Sparkplug B 3.0 wire format: topic parsing, payload decoding, metric values and the rebirth command."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from edge_agent.errors import DecodeError, InputError
from edge_agent.ingest import sparkplug_b_pb2 as pb
from edge_agent.ingest.tags import TagValue

logger = logging.getLogger(__name__)

SPARKPLUG_TOPIC_PREFIX = "spBv1.0"
NODE_MESSAGES = frozenset({"NBIRTH", "NDATA", "NDEATH", "NCMD"})
DEVICE_MESSAGES = frozenset({"DBIRTH", "DDATA", "DDEATH", "DCMD"})
BD_SEQ = "bdSeq"
REBIRTH_METRIC = "Node Control/Rebirth"

_INT_BITS: dict[int, int] = {pb.Int8: 8, pb.Int16: 16, pb.Int32: 32, pb.Int64: 64}
_UINT_BITS: dict[int, int] = {pb.UInt8: 8, pb.UInt16: 16, pb.UInt32: 32, pb.UInt64: 64}
_VALUE_FIELD: dict[int, str] = {
    **{dt: "int_value" for dt in (pb.Int8, pb.Int16, pb.Int32, pb.UInt8, pb.UInt16, pb.UInt32)},
    **{dt: "long_value" for dt in (pb.Int64, pb.UInt64, pb.DateTime)},
    pb.Float: "float_value",
    pb.Double: "double_value",
    pb.Boolean: "boolean_value",
    **{dt: "string_value" for dt in (pb.String, pb.Text, pb.UUID)},
}
SUPPORTED_DATATYPES = frozenset(_VALUE_FIELD)


@dataclass(frozen=True)
class SparkplugTopic:
    """The parts of a Sparkplug topic: spBv1.0/{group}/{message_type}/{edge_node}[/{device}]."""

    group: str
    message_type: str
    edge_node: str
    device: str | None = None

    @property
    def node_key(self) -> str:
        """The id of the edge node across groups: 'group/edge_node'."""
        return f"{self.group}/{self.edge_node}"


def parse_topic(topic: str) -> SparkplugTopic:
    """Split a Sparkplug topic; a host STATE topic gives message_type 'STATE'; anything else raises InputError."""
    parts = topic.split("/")
    if len(parts) < 3 or parts[0] != SPARKPLUG_TOPIC_PREFIX:
        raise InputError(f"not a Sparkplug B topic: {topic!r}")
    if parts[1] == "STATE":
        return SparkplugTopic("", "STATE", "/".join(parts[2:]))
    if len(parts) not in (4, 5) or any(not part or "+" in part or "#" in part for part in parts):
        raise InputError(f"Sparkplug topic must be {SPARKPLUG_TOPIC_PREFIX}/group/TYPE/node[/device]: {topic!r}")
    message_type = parts[2]
    expected = 5 if message_type in DEVICE_MESSAGES else 4 if message_type in NODE_MESSAGES else 0
    if expected != len(parts):
        raise InputError(f"unknown Sparkplug message type or wrong topic depth: {topic!r}")
    return SparkplugTopic(parts[1], message_type, parts[3], parts[4] if len(parts) == 5 else None)


def decode_payload(payload: bytes) -> pb.Payload:
    """Parse Sparkplug B protobuf bytes; raises DecodeError when they are not a Payload message."""
    try:
        return pb.Payload.FromString(payload)
    except Exception as exc:  # google.protobuf.message.DecodeError and friends from the C extension
        raise DecodeError(f"Sparkplug payload is not valid protobuf ({exc})") from exc


def require_seq(payload: pb.Payload, message_type: str) -> int:
    """The payload's seq (0..255), which every BIRTH, DATA and DDEATH must carry."""
    if not payload.HasField("seq"):
        raise InputError(f"Sparkplug {message_type} without a seq number")
    if payload.seq > 255:
        raise InputError(f"Sparkplug {message_type} seq {payload.seq} is outside 0..255")
    return int(payload.seq)


def metric_name(metric: pb.Payload.Metric) -> str:
    """The metric's name, or '' when it has none (proto2 strings with invalid UTF-8 come back as bytes)."""
    name = metric.name
    return name if isinstance(name, str) else ""


def bd_seq(payload: pb.Payload) -> int | None:
    """The bdSeq metric of an NBIRTH or NDEATH, or None when it has none."""
    for metric in payload.metrics:
        if metric_name(metric) == BD_SEQ:
            field = metric.WhichOneof("value")
            if field in ("long_value", "int_value"):
                return int(getattr(metric, field))
    return None


def metric_value(metric: pb.Payload.Metric, datatype: int) -> TagValue:
    """Decode one metric's value for a supported datatype (signed ints are two's complement); raises InputError."""
    if metric.is_null:
        return None
    field = metric.WhichOneof("value")
    if field is None:
        return None
    expected = _VALUE_FIELD[datatype]
    if field != expected:
        raise InputError(f"{pb.DataType.Name(datatype)} metric carries {field}, expected {expected}")
    raw = getattr(metric, field)
    if datatype in _INT_BITS:
        bits = _INT_BITS[datatype]
        # Width-exact two's complement (Int8 -1 = 255) or sign-extended to 32 bits (0xFFFFFFFF) are both seen.
        if not (raw < 1 << bits or (bits < 32 and raw >= (1 << 32) - (1 << (bits - 1)))):
            raise InputError(f"{pb.DataType.Name(datatype)} value {raw} is out of range")
        raw &= (1 << bits) - 1
        return int(raw - (1 << bits) if raw >= 1 << (bits - 1) else raw)
    if datatype in _UINT_BITS and raw >= 1 << _UINT_BITS[datatype]:
        raise InputError(f"{pb.DataType.Name(datatype)} value {raw} is out of range")
    if isinstance(raw, (bool, int, float, str)):
        return raw
    raise InputError(f"unexpected {type(raw).__name__} in {field}")


def quality_property(metric: pb.Payload.Metric) -> int | None:
    """The 'Quality' property (Ignition convention: 192 good, 0 bad, 500 stale) when the metric carries one."""
    if not metric.HasField("properties"):
        return None
    properties = metric.properties
    for key, value in zip(properties.keys, properties.values):
        if key == "Quality" and value.WhichOneof("value") in ("int_value", "long_value"):
            return int(value.int_value if value.HasField("int_value") else value.long_value)
    return None


def datatype_name(datatype: int) -> str:
    """The Sparkplug name of a datatype number, or its number when unknown."""
    try:
        return str(pb.DataType.Name(datatype))
    except ValueError:
        return str(datatype)


def rebirth_request(group: str, edge_node: str, timestamp_ms: int) -> tuple[str, bytes]:
    """The NCMD (topic, payload) asking an edge node to rebirth: metric 'Node Control/Rebirth' = true (Boolean)."""
    payload = pb.Payload(timestamp=timestamp_ms)
    payload.metrics.add(name=REBIRTH_METRIC, timestamp=timestamp_ms, datatype=pb.Boolean, boolean_value=True)
    return f"{SPARKPLUG_TOPIC_PREFIX}/{group}/NCMD/{edge_node}", payload.SerializeToString()
