"""Given plain MQTT tags, Sparkplug B metrics and this agent's verdicts, when the service routes them, then line units
see their states and parts, and a broker disconnect makes them unknown."""

from __future__ import annotations

import json
from typing import Any

from edge_agent.config_line import LineConfig
from edge_agent.ingest import sparkplug_b_pb2 as pb
from edge_agent.ingest.sparkplug import SparkplugIngest
from edge_agent.line.tracker import LineTracker
from edge_agent.mqtt import InboundMessage
from edge_agent.pipelines.workers import WorkItem
from edge_agent.queues import DropQueue
from edge_agent.service import AgentService, Topics
from edge_agent.stats import AgentStats

NS = "factory/v1/plant/line-1"
T0 = 1_700_000_000_000
STATES = {"1": "running", "2": "idle", "true": "running", "false": "fault"}


def _service() -> tuple[AgentService, LineTracker]:
    config = LineConfig.model_validate(
        {
            "units": [
                {"id": "press", "state_tag": "press-1/state", "states": STATES, "part_tag": "press-1/part",
                 "ideal_cycle_s": {"default": 2}},
                {"id": "weld", "state_tag": "sparkplug:weld-node/weld-dev:Status/Running", "states": STATES,
                 "counters": {"total": "sparkplug:weld-node/weld-dev:Parts"}, "ideal_cycle_s": {"default": 2}},
                {"id": "inspect", "state_tag": "press-1/state", "states": STATES, "inspection_camera": "cam-1",
                 "ideal_cycle_s": {"default": 2}},
            ]
        }
    )  # fmt: skip
    tracker = LineTracker(config, emit=lambda kind, **detail: None)
    service = AgentService(
        Topics(NS, "gw-1"),
        cameras={"cam-1": "surface-inspection"},
        assets={},
        frames=DropQueue(2, "drop_oldest"),
        windows=DropQueue(2, "drop_oldest"),
        stats=AgentStats(),
        store=None,
        tag_source=SparkplugIngest(),
        line=tracker,
    )
    return service, tracker


def _tag(service: AgentService, tag: str, value: Any, s: float) -> None:
    body = json.dumps({"timestamp_ms": int(T0 + s * 1000), "value": value}).encode()
    service.on_message(InboundMessage(f"{NS}/sensor/press-1/{tag}", body, {}))


def _sparkplug(service: AgentService, kind: str, seq: int, metrics: list[pb.Payload.Metric], s: float) -> None:
    device = "" if kind.startswith("N") else "/weld-dev"
    payload = pb.Payload(seq=seq, timestamp=int(T0 + s * 1000), metrics=metrics).SerializeToString()
    service.on_message(InboundMessage(f"spBv1.0/plant/{kind}/weld-node{device}", payload, {}))


def _metric(name: str, value: Any, s: float) -> pb.Payload.Metric:
    if isinstance(value, bool):
        return pb.Payload.Metric(name=name, datatype=pb.Boolean, boolean_value=value, timestamp=int(T0 + s * 1000))
    return pb.Payload.Metric(name=name, datatype=pb.UInt32, int_value=value, timestamp=int(T0 + s * 1000))


def test_mqtt_tags_sparkplug_metrics_and_verdicts_reach_their_units() -> None:
    service, tracker = _service()
    # given a press on plain MQTT tags, a welder on Sparkplug B and a camera that inspects the press's parts
    _tag(service, "state", 1, 0)
    _tag(service, "part", "ok", 5)
    _tag(service, "part", "ng", 10)
    bd_seq = pb.Payload.Metric(name="bdSeq", datatype=pb.Int64, long_value=0)
    _sparkplug(service, "NBIRTH", 0, [bd_seq], 0)
    _sparkplug(service, "DBIRTH", 1, [_metric("Status/Running", True, 0), _metric("Parts", 100, 0)], 0)
    _sparkplug(service, "DDATA", 2, [_metric("Parts", 130, 60)], 60)
    _sparkplug(service, "DDATA", 3, [_metric("Status/Running", False, 60)], 60)
    item = WorkItem("cam/cam-1", "cam-1", "surface-inspection", b"", {})
    for verdict in ("ok", "ok", "ng"):
        document = {"ts_ms": T0 + 20_000, "verdict": verdict, "latency_ms": 1.0, "inference_ms": 1.0,
                    "model": {"name": "surface-inspection", "version": "1.0.0"}}  # fmt: skip
        service.result("inspection", item, document)
    # when the units are read
    press, weld, inspect = (tracker.units[u] for u in ("press", "weld", "inspect"))
    # then each saw its own source
    assert [(p.good, p.reject) for p in press.parts] == [(1, 0), (0, 1)]
    assert [(p.good, p.known) for p in weld.parts] == [(30, True)]
    assert weld.state == "fault" and [s.state for s in weld.segments] == ["running"]
    assert sum(p.good for p in inspect.parts) == 2 and sum(p.reject for p in inspect.parts) == 1
    # and a lost broker ends what is known of the MQTT-fed units
    service.on_connection(False, "lost")
    assert press.state is None and weld.state is None
