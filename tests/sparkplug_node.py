"""A Sparkplug B edge node built with pysparkplug, for interoperability tests (runs in its own venv).

`python sparkplug_node.py generate` prints JSON: {"messages": [{"topic", "payload_b64", "decoded"}]}, where
"decoded" is pysparkplug's own host-side reading of that message ({metric name: value}, DateTime as epoch ms).
Two edge nodes in group "plant-a":
- "press-1" is built from pysparkplug's payload classes: NBIRTH, DBIRTH, alias-only NDATA and DDATA,
  DDEATH, NDEATH, with every scalar datatype.
- "pump-2" is pysparkplug's own EdgeNode (its seq and bdSeq bookkeeping) driven through a recording client
  instead of a broker: connect (NBIRTH + DBIRTH), update, update_device, deregister (DDEATH), disconnect (NDEATH),
  then the NDEATH will registered for that connection (what a broker publishes when the connection drops).
`python sparkplug_node.py decode-ncmd` reads {"topic", "payload_b64"} on stdin and prints pysparkplug's reading
of that NCMD: {"topic": {...}, "metrics": [{"name", "datatype", "value"}]}.
"""

from __future__ import annotations

import base64
import datetime
import json
import sys
from typing import Any

import pysparkplug as spb

GROUP = "plant-a"
T0 = 1_700_000_000_000
SERVICE = datetime.datetime(2024, 3, 1, 6, 30, tzinfo=datetime.timezone.utc)


def metric(name: str | None, alias: int, dtype: spb.DataType, value: Any, ts: int | None = T0) -> spb.Metric:
    """A pysparkplug metric (name None for alias-only DATA)."""
    return spb.Metric(timestamp=ts, name=name, alias=alias, datatype=dtype, value=value)


def press_messages() -> list[tuple[str, Any, bool]]:
    """(topic, payload object, include_dtypes) for edge node press-1 and its device spindle-1."""
    d = spb.DataType
    node = [
        metric("bdSeq", 0, d.INT64, 7),
        metric("Temperature", 1, d.DOUBLE, 21.5),
        metric("Cycle Count", 2, d.UINT32, 12),
        metric("Offset", 3, d.INT16, -42),
        metric("Running", 4, d.BOOLEAN, True),
        metric("Recipe", 5, d.STRING, "A-17"),
        metric("Last Service", 6, d.DATETIME, SERVICE),
        metric("Pressure", 7, d.FLOAT, 3.25),
        metric("Node Control/Rebirth", 8, d.BOOLEAN, False),
        metric("Energy", 9, d.INT64, -5_000_000_000),
        metric("Trim", 10, d.INT8, -1),
        metric("Serial", 11, d.UINT64, 2**63 + 1),
        metric("Level", 12, d.UINT8, 200),
        metric("Torque", 13, d.INT32, -70000),
        metric("Snapshot", 14, d.BYTES, b"\x00\x01"),
    ]
    device = [
        metric("Vibration RMS", 101, d.FLOAT, 0.125),
        metric("Speed", 102, d.INT32, -1500),
        metric("Alarm", 103, d.BOOLEAN, False),
    ]
    ndata = [
        metric(None, 1, d.DOUBLE, 22.25, ts=T0 + 1000),
        metric(None, 2, d.UINT32, 13, ts=None),
        metric(None, 3, d.INT16, -43, ts=T0 + 1000),
        metric(None, 5, d.STRING, None, ts=T0 + 1000),  # is_null
        metric(None, 10, d.INT8, -128, ts=T0 + 1000),
    ]
    ddata = [
        metric(None, 101, d.FLOAT, 0.5, ts=T0 + 2000),
        metric(None, 102, d.INT32, 1800, ts=T0 + 2000),
        metric(None, 103, d.BOOLEAN, True, ts=T0 + 2000),
    ]
    base, dev = f"spBv1.0/{GROUP}", "press-1/spindle-1"
    return [
        (f"{base}/NBIRTH/press-1", spb.NBirth(timestamp=T0, seq=0, metrics=tuple(node)), True),
        (f"{base}/DBIRTH/{dev}", spb.DBirth(timestamp=T0, seq=1, metrics=tuple(device)), True),
        (f"{base}/NDATA/press-1", spb.NData(timestamp=T0 + 1500, seq=2, metrics=tuple(ndata)), False),
        (f"{base}/DDATA/{dev}", spb.DData(timestamp=T0 + 2500, seq=3, metrics=tuple(ddata)), False),
        (f"{base}/DDEATH/{dev}", spb.DDeath(timestamp=T0 + 3000, seq=4), False),
        (f"{base}/NDEATH/press-1", spb.NDeath(timestamp=T0 + 4000, bd_seq_metric=node[0]), True),
    ]


class RecordingClient:
    """Stands in for pysparkplug.Client: records what the EdgeNode publishes instead of sending it."""

    def __init__(self) -> None:
        """Start with nothing recorded."""
        self.published: list[tuple[str, Any, bool]] = []
        self.will: Any = None
        self.connected_will: Any = None

    def set_will(self, message: Any) -> None:
        """Remember the NDEATH will, as a broker would."""
        self.will = message

    def connect(self, host: str, *, callback: Any = None, **_: Any) -> None:
        """Pretend the broker accepted the connection: run the on-connect callback (NBIRTH, DBIRTHs)."""
        self.connected_will = self.will  # the will a broker would publish if this connection dropped
        if callback is not None:
            callback(self)

    def publish(self, message: Any, *, include_dtypes: bool = False) -> None:
        """Record one message."""
        self.published.append((str(message.topic), message.payload, include_dtypes))

    def subscribe(self, topic: Any, qos: Any, callback: Any) -> None:
        """Ignore subscriptions (NCMD/DCMD)."""

    def unsubscribe(self, topic: Any) -> None:
        """Ignore unsubscriptions."""

    def disconnect(self) -> None:
        """Nothing to close."""


def pump_messages() -> list[tuple[str, Any, bool]]:
    """(topic, payload object, include_dtypes) produced by pysparkplug's EdgeNode for pump-2."""
    d = spb.DataType
    client = RecordingClient()
    node = spb.EdgeNode(GROUP, "pump-2", [metric("Flow", 0, d.DOUBLE, 1.5)], client=client)
    node.register(spb.Device("motor", [metric("Current", 0, d.FLOAT, 4.0), metric("Faults", 1, d.UINT16, 0)]))
    node.connect("unused-host")
    node.update([metric("Flow", 0, d.DOUBLE, 2.75, ts=T0 + 5000)])
    node.update_device("motor", [metric("Current", 0, d.FLOAT, 6.5, ts=T0 + 6000)])
    node.deregister("motor")
    node.disconnect()
    will = client.connected_will
    return [*client.published, (str(will.topic), will.payload, True)]


def decoded(payload: Any) -> dict[str, Any]:
    """pysparkplug's reading of a payload: {metric name: value}, DateTime as epoch ms."""
    result: dict[str, Any] = {}
    for m in getattr(payload, "metrics", ()) or (getattr(payload, "bd_seq_metric", None),):
        if m is None:
            continue
        value = m.value
        if isinstance(value, datetime.datetime):
            value = int(value.timestamp() * 1000)
        elif isinstance(value, bytes):
            value = base64.b64encode(value).decode()
        result[m.name] = value
    return result


def generate() -> dict[str, Any]:
    """Encode both edge nodes' messages and read each back with pysparkplug (using its BIRTH for aliases)."""
    messages = []
    births: dict[str, Any] = {}
    for topic_text, payload, include_dtypes in press_messages() + pump_messages():
        raw = payload.encode(include_dtypes=include_dtypes)
        topic = spb.Topic.from_str(topic_text)
        key = f"{topic.edge_node_id}/{topic.device_id}"
        if topic.message_type in (spb.MessageType.NBIRTH, spb.MessageType.DBIRTH):
            births[key] = type(payload).decode(raw)
        reread = type(payload).decode(raw, birth=births.get(key)) if hasattr(payload, "metrics") else payload
        messages.append(
            {"topic": topic_text, "payload_b64": base64.b64encode(raw).decode(), "decoded": decoded(reread)}
        )
    return {"pysparkplug": spb.__version__, "messages": messages}


def decode_ncmd(document: dict[str, Any]) -> dict[str, Any]:
    """Read an NCMD the way a pysparkplug edge node would."""
    topic = spb.Topic.from_str(document["topic"])
    payload = spb.NCmd.decode(base64.b64decode(document["payload_b64"]))
    return {
        "topic": {"message_type": str(topic.message_type), "group": topic.group_id, "edge_node": topic.edge_node_id},
        "timestamp": payload.timestamp,
        "metrics": [{"name": m.name, "datatype": m.datatype.name, "value": m.value} for m in payload.metrics],
    }


def main() -> None:
    """Dispatch on the first argument: generate | decode-ncmd."""
    command = sys.argv[1] if len(sys.argv) > 1 else "generate"
    if command == "generate":
        result = generate()
    elif command == "decode-ncmd":
        result = decode_ncmd(json.load(sys.stdin))
    else:
        raise SystemExit(f"unknown command {command!r}")
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
