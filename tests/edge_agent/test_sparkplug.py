"""Given Sparkplug B 3.0 traffic from edge nodes, when ingested, then tags, stale marks, events and rebirths follow."""

from __future__ import annotations

import base64
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from edge_agent.errors import DecodeError, EdgeAgentError, InputError
from edge_agent.ingest import sparkplug_b_pb2 as pb
from edge_agent.ingest.sparkplug import SPARKPLUG_TOPIC_PREFIX, SparkplugIngest, SparkplugOutput
from edge_agent.ingest.tags import QUALITY_BAD, QUALITY_GOOD, QUALITY_STALE
from tests.sparkplug_venv import run_node

REPO = Path(__file__).resolve().parents[2]
NODE_SCRIPT = REPO / "tests" / "sparkplug_node.py"
GROUP, NODE, DEVICE = "plant-a", "press-1", "spindle-1"
T0 = 1_700_000_000_000

_FIELD = {
    **dict.fromkeys((pb.Int8, pb.Int16, pb.Int32, pb.UInt8, pb.UInt16, pb.UInt32), "int_value"),
    **dict.fromkeys((pb.Int64, pb.UInt64, pb.DateTime), "long_value"),
    pb.Float: "float_value",
    pb.Double: "double_value",
    pb.Boolean: "boolean_value",
    pb.String: "string_value",
    pb.Bytes: "bytes_value",
}
_BITS = {pb.Int8: 8, pb.Int16: 16, pb.Int32: 32, pb.Int64: 64}


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def metric(name=None, alias=None, datatype=None, value=None, ts=None, **extra) -> pb.Payload.Metric:
    """A Sparkplug metric; negative signed ints are written as two's complement of their width."""
    m = pb.Payload.Metric(name=name, alias=alias, datatype=datatype, timestamp=ts, **extra)
    if value is not None:
        if datatype in _BITS and value < 0:
            value += 1 << _BITS[datatype]
        setattr(m, _FIELD[datatype], value)
    return m


def payload(seq: int | None = None, *metrics: pb.Payload.Metric, ts: int | None = T0) -> bytes:
    return pb.Payload(seq=seq, timestamp=ts, metrics=metrics).SerializeToString()


def topic(kind: str, device: str | None = None, node: str = NODE, group: str = GROUP) -> str:
    return "/".join([SPARKPLUG_TOPIC_PREFIX, group, kind, node, *([device] if device else [])])


NODE_BIRTH = [
    metric("bdSeq", datatype=pb.Int64, value=3),
    metric("Temperature", 1, pb.Double, 21.5),
    metric("Cycle Count", 2, pb.UInt32, 12),
    metric("Node Control/Rebirth", 3, pb.Boolean, False),
]
DEVICE_BIRTH = [metric("Speed", 11, pb.Int32, -1500), metric("Alarm", 12, pb.Boolean, False)]


def values(out: SparkplugOutput) -> dict[tuple[str, str], Any]:
    return {(u.asset, u.tag): u.value for u in out.updates}


def events(out: SparkplugOutput) -> list[str]:
    return [str(e["type"]) for e in out.events]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ingest(clock: FakeClock) -> SparkplugIngest:
    return SparkplugIngest([GROUP], reorder_timeout_s=2.0, clock=clock, wall_clock=lambda: 1_800_000_000.0)


@pytest.fixture
def born(ingest: SparkplugIngest) -> SparkplugIngest:
    """press-1 born with seq 0 (bdSeq 3) and its device spindle-1 born with seq 1; next seq is 2."""
    ingest.handle(topic("NBIRTH"), payload(0, *NODE_BIRTH))
    ingest.handle(topic("DBIRTH", DEVICE), payload(1, *DEVICE_BIRTH))
    return ingest


def test_births_give_initial_values_and_data_resolves_aliases(ingest: SparkplugIngest) -> None:
    nbirth = ingest.handle(topic("NBIRTH"), payload(0, *NODE_BIRTH))
    assert values(nbirth) == {(NODE, "Temperature"): 21.5, (NODE, "Cycle Count"): 12}  # no bdSeq, no Node Control
    assert {u.quality for u in nbirth.updates} == {QUALITY_GOOD} and nbirth.updates[0].source == "sparkplug"
    dbirth = ingest.handle(topic("DBIRTH", DEVICE), payload(1, *DEVICE_BIRTH))
    assert values(dbirth) == {(f"{NODE}/{DEVICE}", "Speed"): -1500, (f"{NODE}/{DEVICE}", "Alarm"): False}

    ndata = ingest.handle(topic("NDATA"), payload(2, metric(alias=1, value=22.0, datatype=pb.Double, ts=T0 + 5)))
    ddata = ingest.handle(topic("DDATA", DEVICE), payload(3, metric(alias=12, datatype=pb.Boolean, value=True)))

    assert [(u.asset, u.tag, u.value, u.timestamp_ms) for u in ndata.updates] == [(NODE, "Temperature", 22.0, T0 + 5)]
    assert [(u.tag, u.value, u.timestamp_ms) for u in ddata.updates] == [("Alarm", True, T0)]  # payload timestamp
    assert ndata.events == ddata.events == [] and ndata.publish == ddata.publish == []
    state = ingest.node_states()[f"{GROUP}/{NODE}"]
    assert state["online"] is True and state["bdSeq"] == 3 and state["last_seq"] == 3 and state["metric_count"] == 6


def test_every_scalar_datatype_decodes_and_others_are_skipped_with_an_event(ingest: SparkplugIngest) -> None:
    birth = [
        metric("i8", 1, pb.Int8, -1),
        metric("i8 sign-extended", 2, pb.Int8, int_value=0xFFFFFF80),
        metric("i16", 3, pb.Int16, -300),
        metric("i32", 4, pb.Int32, -70000),
        metric("i64", 5, pb.Int64, -(2**40)),
        metric("u8", 6, pb.UInt8, 255),
        metric("u16", 7, pb.UInt16, 65535),
        metric("u32", 8, pb.UInt32, 2**32 - 1),
        metric("u64", 9, pb.UInt64, 2**64 - 1),
        metric("f", 10, pb.Float, 0.25),
        metric("d", 11, pb.Double, -1e300),
        metric("b", 12, pb.Boolean, True),
        metric("s", 13, pb.String, "Recipe A"),
        metric("dt", 14, pb.DateTime, T0 - 60_000),
        metric("null", 15, pb.Double, is_null=True),
        metric("blob", 16, pb.Bytes, b"\x01"),
        metric("nan", 17, pb.Float, math.nan),
        metric("history", 18, pb.Double, 1.0, is_historical=True),
    ]
    quality = pb.Payload.PropertySet(keys=["Quality"], values=[pb.Payload.PropertyValue(type=pb.Int32, int_value=0)])
    birth.append(metric("bad quality", 19, pb.Double, 5.0, properties=quality))

    out = ingest.handle(topic("NBIRTH"), payload(0, *birth))

    got = {u.tag: u.value for u in out.updates}
    assert got == {
        "i8": -1,
        "i8 sign-extended": -128,
        "i16": -300,
        "i32": -70000,
        "i64": -(2**40),
        "u8": 255,
        "u16": 65535,
        "u32": 2**32 - 1,
        "u64": 2**64 - 1,
        "f": 0.25,
        "d": -1e300,
        "b": True,
        "s": "Recipe A",
        "dt": T0 - 60_000,
        "null": None,
        "nan": None,
        "bad quality": 5.0,
    }
    assert {u.tag: u.quality for u in out.updates if u.quality != QUALITY_GOOD} == {
        "nan": QUALITY_BAD,
        "bad quality": QUALITY_BAD,
    }
    assert out.events == [
        {
            "type": "sparkplug_unsupported_datatype",
            "edge_node": f"{GROUP}/{NODE}",
            "asset": NODE,
            "metrics": ["blob (Bytes)"],
        }
    ]
    # Data for the unsupported metric is no unknown alias: no rebirth loop.
    assert (
        ingest.handle(topic("NDATA"), payload(1, metric(alias=16, datatype=pb.Bytes, value=b"\x02")))
        == SparkplugOutput()
    )


def test_a_value_in_the_wrong_field_is_skipped_with_an_event(born: SparkplugIngest) -> None:
    out = born.handle(topic("NDATA"), payload(2, metric(alias=1, string_value="hot"), metric(alias=2, int_value=13)))
    assert values(out) == {(NODE, "Cycle Count"): 13}
    assert events(out) == ["sparkplug_bad_metric"] and out.publish == []


def test_seq_wraps_from_255_to_0(ingest: SparkplugIngest) -> None:
    ingest.handle(topic("NBIRTH"), payload(254, *NODE_BIRTH))
    temps = []
    for seq in (255, 0, 1):
        out = ingest.handle(topic("NDATA"), payload(seq, metric(alias=2, datatype=pb.UInt32, value=100 + seq % 250)))
        assert out.events == [] and out.publish == []
        temps += [u.value for u in out.updates]
    assert temps == [105, 100, 101]


def test_a_message_overtaken_within_the_timeout_is_held_and_both_apply_in_order(
    born: SparkplugIngest, clock: FakeClock
) -> None:
    born.handle(topic("NDATA"), payload(2, metric(alias=2, datatype=pb.UInt32, value=2)))
    born.handle(topic("NDATA"), payload(3, metric(alias=2, datatype=pb.UInt32, value=3)))

    early = born.handle(topic("NDATA"), payload(5, metric(alias=2, datatype=pb.UInt32, value=5)))
    clock.now += 1.5
    assert born.poll() == SparkplugOutput()
    late = born.handle(topic("NDATA"), payload(4, metric(alias=2, datatype=pb.UInt32, value=4)))

    assert early == SparkplugOutput()
    assert [u.value for u in late.updates] == [4, 5] and late.events == [] and late.publish == []
    clock.now += 10
    assert born.poll() == SparkplugOutput()
    assert born.node_states()[f"{GROUP}/{NODE}"]["last_seq"] == 5


def test_a_gap_that_outlives_the_timeout_applies_held_data_and_requests_a_rebirth(
    born: SparkplugIngest, clock: FakeClock
) -> None:
    held = born.handle(topic("NDATA"), payload(3, metric(alias=1, datatype=pb.Double, value=30.0)))
    clock.now += 1.9
    waiting = born.poll()
    clock.now += 0.2
    gave_up = born.poll()

    assert held == waiting == SparkplugOutput()
    assert values(gave_up) == {(NODE, "Temperature"): 30.0}
    assert events(gave_up) == ["sparkplug_seq_gap", "sparkplug_rebirth_requested"]
    assert gave_up.events[0] | {"expected": 2, "missing": 1, "held": 1} == gave_up.events[0]
    [(ncmd_topic, body)] = gave_up.publish
    assert ncmd_topic == f"spBv1.0/{GROUP}/NCMD/{NODE}"
    command = pb.Payload.FromString(body)
    [rebirth] = command.metrics
    assert (rebirth.name, rebirth.datatype, rebirth.WhichOneof("value"), rebirth.boolean_value) == (
        "Node Control/Rebirth",
        pb.Boolean,
        "boolean_value",
        True,
    )
    assert command.timestamp == 1_800_000_000_000

    # Data continues after the gap; a second gap within the rebirth interval does not repeat the NCMD.
    assert values(born.handle(topic("NDATA"), payload(4, metric(alias=2, datatype=pb.UInt32, value=4)))) != {}
    born.handle(topic("NDATA"), payload(6, metric(alias=2, datatype=pb.UInt32, value=6)))
    clock.now += 2.5
    again = born.poll()
    assert events(again) == ["sparkplug_seq_gap"] and again.publish == []
    # The node answers with a new NBIRTH: the seq restarts from it.
    born.handle(topic("NBIRTH"), payload(0, *NODE_BIRTH))
    assert values(born.handle(topic("NDATA"), payload(1, metric(alias=2, datatype=pb.UInt32, value=1)))) == {
        (NODE, "Cycle Count"): 1
    }


def test_ndeath_with_the_birth_bdseq_marks_the_node_and_its_devices_stale(born: SparkplugIngest) -> None:
    born.handle(topic("NDATA"), payload(2, metric(alias=1, datatype=pb.Double, value=25.0)))

    out = born.handle(topic("NDEATH"), payload(None, metric("bdSeq", datatype=pb.Int64, value=3)))

    assert {(u.asset, u.tag): (u.value, u.quality) for u in out.updates} == {
        (NODE, "Temperature"): (25.0, QUALITY_STALE),
        (NODE, "Cycle Count"): (12, QUALITY_STALE),
        (f"{NODE}/{DEVICE}", "Speed"): (-1500, QUALITY_STALE),
        (f"{NODE}/{DEVICE}", "Alarm"): (False, QUALITY_STALE),
    }
    assert {u.timestamp_ms for u in out.updates} == {1_800_000_000_000}
    assert out.events == [{"type": "sparkplug_node_death", "edge_node": f"{GROUP}/{NODE}", "bdSeq": 3}]
    state = born.node_states()[f"{GROUP}/{NODE}"]
    assert state["online"] is False and state["stale"] is True
    # A repeated NDEATH changes nothing; data after death asks for a rebirth.
    assert born.handle(topic("NDEATH"), payload(None, metric("bdSeq", datatype=pb.Int64, value=3))) == SparkplugOutput()
    after = born.handle(topic("NDATA"), payload(3, metric(alias=1, datatype=pb.Double, value=1.0)))
    assert after.updates == [] and events(after) == ["sparkplug_unknown_node", "sparkplug_rebirth_requested"]


def test_a_stale_ndeath_from_an_older_session_is_ignored(born: SparkplugIngest) -> None:
    out = born.handle(topic("NDEATH"), payload(None, metric("bdSeq", datatype=pb.Int64, value=2)))
    assert out.updates == [] and out.publish == []
    assert out.events == [
        {"type": "sparkplug_stale_death", "edge_node": f"{GROUP}/{NODE}", "bdSeq": 2, "current_bdSeq": 3}
    ]
    assert born.node_states()[f"{GROUP}/{NODE}"]["online"] is True
    assert values(born.handle(topic("NDATA"), payload(2, metric(alias=1, datatype=pb.Double, value=23.0)))) == {
        (NODE, "Temperature"): 23.0
    }


def test_ddeath_marks_only_that_device_stale(born: SparkplugIngest) -> None:
    out = born.handle(topic("DDEATH", DEVICE), payload(2, ts=T0 + 9))

    assert {(u.asset, u.tag, u.quality, u.timestamp_ms) for u in out.updates} == {
        (f"{NODE}/{DEVICE}", "Speed", QUALITY_STALE, T0 + 9),
        (f"{NODE}/{DEVICE}", "Alarm", QUALITY_STALE, T0 + 9),
    }
    assert events(out) == ["sparkplug_device_death"]
    states = born.node_states()[f"{GROUP}/{NODE}"]
    assert states["online"] is True and states["devices"] == {
        DEVICE: {"online": False, "stale": True, "metric_count": 2}
    }
    later = born.handle(topic("DDATA", DEVICE), payload(3, metric(alias=12, datatype=pb.Boolean, value=True)))
    assert later.updates == [] and events(later) == ["sparkplug_unknown_device", "sparkplug_rebirth_requested"]


def test_unknown_alias_asks_for_a_rebirth_at_most_once_per_interval(born: SparkplugIngest, clock: FakeClock) -> None:
    mixed = payload(2, metric(alias=99, datatype=pb.Double, value=1.0), metric(alias=1, datatype=pb.Double, value=2.0))
    first = born.handle(topic("NDATA"), mixed)
    clock.now += 1
    second = born.handle(topic("NDATA"), payload(3, metric(alias=98, datatype=pb.Double, value=1.0)))
    clock.now += 5
    third = born.handle(topic("NDATA"), payload(4, metric(alias=97, datatype=pb.Double, value=1.0)))

    assert values(first) == {(NODE, "Temperature"): 2.0}  # the known metric still applies
    assert events(first) == ["sparkplug_unknown_alias", "sparkplug_rebirth_requested"]
    assert first.events[0]["metrics"] == ["alias 99"] and len(first.publish) == 1
    assert second == SparkplugOutput()
    assert len(third.publish) == 1
    assert born.node_states()[f"{GROUP}/{NODE}"]["rebirths_requested"] == 2


def test_data_before_any_birth_asks_for_a_rebirth(ingest: SparkplugIngest) -> None:
    out = ingest.handle(topic("DDATA", DEVICE), payload(7, metric(alias=1, datatype=pb.Double, value=1.0)))
    assert out.updates == [] and events(out) == ["sparkplug_unknown_node", "sparkplug_rebirth_requested"]
    assert [t for t, _ in out.publish] == [f"spBv1.0/{GROUP}/NCMD/{NODE}"]
    assert ingest.node_states() == {}


def test_a_rebirth_replaces_aliases_and_devices_are_stale_until_their_dbirth(born: SparkplugIngest) -> None:
    out = born.handle(
        topic("NBIRTH"), payload(0, metric("bdSeq", datatype=pb.Int64, value=4), metric("Flow", 1, pb.Float, 1.5))
    )
    assert values(out) == {
        (NODE, "Flow"): 1.5,
        (NODE, "Temperature"): 21.5,
        (NODE, "Cycle Count"): 12,
        (f"{NODE}/{DEVICE}", "Speed"): -1500,
        (f"{NODE}/{DEVICE}", "Alarm"): False,
    }
    assert {u.tag for u in out.updates if u.quality == QUALITY_STALE} == {
        "Temperature",
        "Cycle Count",
        "Speed",
        "Alarm",
    }
    assert values(born.handle(topic("NDATA"), payload(1, metric(alias=1, datatype=pb.Float, value=2.5)))) == {
        (NODE, "Flow"): 2.5
    }
    assert born.node_states()[f"{GROUP}/{NODE}"]["bdSeq"] == 4


def test_garbage_raises_decode_or_input_errors(ingest: SparkplugIngest) -> None:
    with pytest.raises(DecodeError):
        ingest.handle(topic("NBIRTH"), b"\xff\xff\xff\xff")
    with pytest.raises(InputError, match="without a seq"):
        ingest.handle(topic("NBIRTH"), payload(None, *NODE_BIRTH))
    with pytest.raises(InputError, match="outside 0..255"):
        ingest.handle(topic("NDATA"), payload(256))


@pytest.mark.parametrize(
    "bad_topic",
    [
        "factory/v1/site/line/sensor/pump/temp",
        "spAv1.0/plant-a/NDATA/press-1",
        "spBv1.0/plant-a/NDATA",
        "spBv1.0/plant-a/NDATA/press-1/spindle-1",
        "spBv1.0/plant-a/DDATA/press-1",
        "spBv1.0/plant-a/XDATA/press-1",
        "spBv1.0//NDATA/press-1",
        "spBv1.0/plant-a/NDATA/+",
        "spBv1.0/plant-a/DDATA/press-1/spindle-1/extra",
    ],
)
def test_wrong_topic_shapes_raise_input_error(ingest: SparkplugIngest, bad_topic: str) -> None:
    with pytest.raises(InputError):
        ingest.handle(bad_topic, payload(0))


def test_state_commands_and_other_groups_are_ignored(ingest: SparkplugIngest) -> None:
    assert ingest.handle("spBv1.0/STATE/scada-1", b'{"online": true, "timestamp": 1}') == SparkplugOutput()
    assert ingest.handle(topic("NCMD"), b"\xff garbage") == SparkplugOutput()
    assert ingest.handle(topic("DCMD", DEVICE), payload(None)) == SparkplugOutput()
    assert ingest.handle(topic("NBIRTH", group="plant-b"), payload(0, *NODE_BIRTH)) == SparkplugOutput()
    assert ingest.node_states() == {}


def test_subscriptions_cover_node_and_device_messages_of_the_configured_groups() -> None:
    assert SparkplugIngest(["b", "a"]).subscriptions()[:3] == [
        "spBv1.0/a/NBIRTH/+",
        "spBv1.0/a/NDATA/+",
        "spBv1.0/a/NDEATH/+",
    ]
    assert set(SparkplugIngest().subscriptions()) == {
        *(f"spBv1.0/+/{t}/+" for t in ("NBIRTH", "NDATA", "NDEATH")),
        *(f"spBv1.0/+/{t}/+/+" for t in ("DBIRTH", "DDATA", "DDEATH")),
    }
    with pytest.raises(InputError):
        SparkplugIngest(["plant/a"])


def test_invalid_utf8_in_names_and_strings_gives_bad_metric_events(ingest: SparkplugIngest) -> None:
    birth = payload(
        0,
        metric("N\u00e4me", 1, pb.Double, 1.0),
        metric("Recipe", 2, pb.String, "R\u00e4"),
        metric("ok", 3, pb.Int8, 1),
    )
    mangled = birth.replace("\u00e4".encode(), b"\xff\xfe")  # same length, no longer UTF-8

    out = ingest.handle(topic("NBIRTH"), mangled)

    assert values(out) == {(NODE, "ok"): 1}
    [event] = out.events
    assert event["type"] == "sparkplug_bad_metric" and len(event["problems"]) == 2  # type: ignore[arg-type]
    json.dumps(out.events)  # events stay publishable


def test_random_and_mangled_payloads_raise_only_input_errors_and_never_hit_a_bug(born: SparkplugIngest) -> None:
    rng = random.Random(7)
    samples = [
        payload(2, *NODE_BIRTH),
        payload(3, metric(alias=1, datatype=pb.Double, value=2.0), metric("Cycle Count", 2, pb.UInt32, 5)),
    ]
    kinds = [topic("NBIRTH"), topic("NDATA"), topic("NDEATH"), topic("DBIRTH", DEVICE), topic("DDATA", DEVICE)]
    for i in range(3000):
        if i % 3 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        else:
            mangled = bytearray(rng.choice(samples))
            for _ in range(rng.randrange(1, 4)):
                mangled[rng.randrange(len(mangled))] = rng.randrange(256)
            data = bytes(mangled)
        try:
            out = born.handle(rng.choice(kinds), data)
        except EdgeAgentError as exc:
            assert "could not be processed" not in str(exc)  # the guard for internal bugs never fires
        else:
            json.dumps(out.events)
        born.poll()


# -- interoperability with a real Sparkplug implementation (pysparkplug, in its own venv) ------------------------


def test_messages_from_pysparkplug_decode_to_the_values_pysparkplug_reads(pysparkplug_python: Path) -> None:
    generated = run_node(pysparkplug_python, "generate")
    ingest = SparkplugIngest([GROUP], clock=FakeClock(), wall_clock=lambda: 1_800_000_000.0)
    outputs = []
    for message in generated["messages"]:
        out = ingest.handle(message["topic"], base64.b64decode(message["payload_b64"]))
        outputs.append(out)
        kind = message["topic"].split("/")[2]
        if kind in ("NBIRTH", "DBIRTH", "NDATA", "DDATA"):
            supported = {k: v for k, v in message["decoded"].items() if k not in ("bdSeq", "Snapshot")}
            supported = {k: v for k, v in supported.items() if not k.startswith("Node Control/")}
            assert {u.tag: u.value for u in out.updates} == supported, message["topic"]
            assert all(u.quality == QUALITY_GOOD for u in out.updates)
        assert out.publish == [], message["topic"]  # no seq gap, no unknown alias, no rebirth

    (nbirth, _, ndata, ddata, ddeath, ndeath, pump_birth, _, _, pump_ddata, _, pump_bye, pump_will) = outputs
    assert values(ndata)[(NODE, "Offset")] == -43 and values(ndata)[(NODE, "Recipe")] is None
    assert values(nbirth)[(NODE, "Last Service")] == 1_709_274_600_000 and values(nbirth)[(NODE, "Serial")] == 2**63 + 1
    assert values(ddata) == {
        (f"{NODE}/{DEVICE}", "Vibration RMS"): 0.5,
        (f"{NODE}/{DEVICE}", "Speed"): 1800,
        (f"{NODE}/{DEVICE}", "Alarm"): True,
    }
    assert [u.timestamp_ms for u in ndata.updates] == [T0 + 1000, T0 + 1500, T0 + 1000, T0 + 1000, T0 + 1000]
    assert events(nbirth) == ["sparkplug_unsupported_datatype"]  # the Bytes metric
    assert {u.tag for u in ddeath.updates} == {"Vibration RMS", "Speed", "Alarm"}
    assert {u.quality for u in ddeath.updates + ndeath.updates} == {QUALITY_STALE}
    assert events(ndeath) == ["sparkplug_node_death"] and len(ndeath.updates) == 12
    # pysparkplug's EdgeNode: seq and bdSeq kept by the library itself.
    assert values(pump_birth) == {("pump-2", "Flow"): 1.5}
    assert values(pump_ddata) == {("pump-2/motor", "Current"): 6.5}
    # pysparkplug 0.6.1 disconnect() sends an NDEATH with the *next* bdSeq (1, its NBIRTH had 0): a strict host
    # ignores it as stale; the will registered for the connection carries bdSeq 0 and takes the node offline.
    assert events(pump_bye) == ["sparkplug_stale_death"] and pump_bye.updates == []
    assert events(pump_will) == ["sparkplug_node_death"] and {u.quality for u in pump_will.updates} == {QUALITY_STALE}
    assert ingest.node_states()[f"{GROUP}/pump-2"]["online"] is False


def test_our_rebirth_request_is_read_by_pysparkplug(pysparkplug_python: Path) -> None:
    ingest = SparkplugIngest([GROUP], clock=FakeClock(), wall_clock=lambda: 1_800_000_000.0)
    out = ingest.handle(topic("NDATA"), payload(5, metric(alias=1, datatype=pb.Double, value=1.0)))
    [(ncmd_topic, body)] = out.publish

    read = run_node(
        pysparkplug_python,
        "decode-ncmd",
        stdin=json.dumps({"topic": ncmd_topic, "payload_b64": base64.b64encode(body).decode()}),
    )

    assert read["topic"] == {"message_type": "NCMD", "group": GROUP, "edge_node": NODE}
    assert read["metrics"] == [{"name": "Node Control/Rebirth", "datatype": "BOOLEAN", "value": True}]
    assert read["timestamp"] == 1_800_000_000_000
