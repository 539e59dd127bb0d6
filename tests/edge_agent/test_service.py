"""Given the agent service with a recording publisher, messages are routed, counted, labelled and stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge_agent.config import CapturePolicy
from edge_agent.mqtt import InboundMessage
from edge_agent.outbox.capture import HardExampleCapture
from edge_agent.outbox.store import Outbox
from edge_agent.pipelines.workers import WorkItem
from edge_agent.queues import DropQueue
from edge_agent.service import AgentService, Topics
from edge_agent.stats import AgentStats

NS = "factory/v1/p/l"


class Recorder:
    """Our Publisher protocol, keeping what was published."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, Any, int, bool]] = []

    def publish(self, topic: str, payload: bytes | str, qos: int = 1, retain: bool = False) -> bool:
        self.messages.append((topic, payload, qos, retain))
        return True

    def on(self, suffix: str) -> list[dict[str, Any]]:
        return [json.loads(p) for t, p, _, _ in self.messages if t.endswith(suffix)]


@pytest.fixture
def service(tmp_path: Path) -> AgentService:
    outbox = Outbox(tmp_path / "o.db", 64 * 1024 * 1024, commit_interval_s=0.005)
    svc = AgentService(
        Topics(NS, "gw-1"),
        cameras={"cam-1": "surface-inspection"},
        assets={"pump-1": "bearing-health"},
        frames=DropQueue(2, "drop_oldest"),
        windows=DropQueue(4, "block_then_drop", 0.01),
        stats=AgentStats(),
        store=None,
        outbox=outbox,
        capture=HardExampleCapture(CapturePolicy(audit_rate=0.0), seed=1),
    )
    svc.attach(Recorder())
    return svc


def _msg(topic: str, payload: bytes, **props: str) -> InboundMessage:
    return InboundMessage(f"{NS}/{topic}", payload, props)


def test_frames_go_to_the_frame_queue_and_a_full_queue_drops_the_oldest(service: AgentService) -> None:
    for i in range(3):
        service.on_message(_msg("cam/cam-1/frame", b"jpeg", part_id=f"P{i}"))
    assert [item.properties["part_id"] for item in service.frames.get_batch(10, 0.1)] == ["P1", "P2"]
    assert service.stats.counters()[("dropped", "cam/cam-1")] == 1
    events = service.publisher.on("/events")  # type: ignore[union-attr]
    assert events[0]["type"] == "queue_drop" and events[0]["stream"] == "cam/cam-1"


def test_unknown_sources_and_bad_tags_are_counted_and_reported_not_fatal(service: AgentService) -> None:
    service.on_message(_msg("cam/cam-9/frame", b"jpeg"))
    service.on_message(_msg("sensor/pump-1/temperature", b"{not json"))
    service.on_message(_msg("sensor/pump-1/temperature", b'{"value": 41.5, "unit": "degC", "timestamp_ms": 5}'))
    counters = service.stats.counters()
    assert counters[("malformed", "cam/cam-9")] == 1 and counters[("malformed", "tag/pump-1")] == 1
    assert service.tags[("pump-1", "temperature")].value == 41.5
    assert {e["stream"] for e in service.publisher.on("/events")} == {"cam/cam-9", "tag/pump-1"}  # type: ignore[union-attr]


def test_a_result_is_published_stored_in_the_outbox_and_a_plc_label_captures_a_miss(service: AgentService) -> None:
    item = WorkItem("cam/cam-1", "cam-1", "surface-inspection", b"\xff\xd8jpeg-bytes", {"part_id": "P7"})
    document = {
        "ts_ms": 1700,
        "part_id": "P7",
        "camera": "cam-1",
        "verdict": "ok",
        "label": "ok",
        "scores": {"ok": 0.97},
        "margin": 0.6,
        "model": {"name": "surface-inspection", "version": "1.0.0", "sha256": "a" * 64},
        "inference_ms": 4.0,
        "latency_ms": 6.0,
    }
    service.result("inspection", item, document)
    assert service.outbox is not None
    service.outbox.flush()  # published from the outbox writer, once the record is committed
    assert service.publisher.on("/inspection/cam-1/result")[0]["part_id"] == "P7"  # type: ignore[union-attr]
    service.on_message(_msg("label/cam-1", json.dumps({"part_id": "P7", "label": "scratch"}).encode()))
    service.on_message(_msg("label/cam-1", b'{"label": 3}'))
    assert service.outbox is not None
    service.outbox.flush()
    records = service.outbox.batch(100, 1 << 24)
    streams = {r.stream: json.loads(r.body) for r in records}
    assert streams["labels/cam-1"]["joined"] is True and streams["labels/cam-1"]["predicted"] == "ok"
    assert streams["samples/cam-1"]["reason"] == "disagreement" and streams["samples/cam-1"]["label"] == "scratch"
    assert streams["inspection/cam-1"]["verdict"] == "ok"
    assert service.stats.counters()[("malformed", "label/cam-1")] == 1
    service.outbox.close()


def test_given_baselines_when_vibration_windows_go_through_the_service_then_results_carry_severity_and_baseline(
    service: AgentService, tmp_path: Path
) -> None:
    from edge_agent.app import build_pipeline
    from edge_agent.baseline.manager import AssetPlan, BaselineManager
    from edge_agent.baseline.store import BaselineStore
    from edge_agent.config import BaselineTuning
    from edge_agent.pipelines.workers import AssetDefaults, MaintenanceWorker
    from models.training.vibration import generate_window, to_message
    from tests.conftest import KEYS, MODELS

    # given the shipped maintenance model and a baseline manager that learns from 4 windows
    pipeline = build_pipeline(MODELS / "bearing-health" / "1.1.0", [KEYS])
    baselines = BaselineManager(
        BaselineStore(tmp_path / "baselines"),
        {"pump-1": AssetPlan("bearing-health", BaselineTuning(windows=4, min_windows=2))},
        emit=service.event,
        upstream=service.upstream,
        count=service.stats.count,
    )
    baselines.start()
    worker = MaintenanceWorker(
        lambda name: pipeline, service, {"pump-1": AssetDefaults(None, 1780.0)}, judge=baselines.judge_window
    )
    # when six healthy windows arrive, micro-batched as the pool does
    items = []
    for seed in range(6):
        sample = generate_window(np.random.default_rng(seed), "healthy", rpm=1780.0, fs_hz=25600.0, duration_s=0.5)
        payload = json.dumps(to_message(sample, include_bearing=True)).encode()
        items.append(WorkItem("vibration/pump-1", "pump-1", "bearing-health", payload))
    worker.handle(items[:4])
    worker.handle(items[4:])
    # then every result has severity and a baseline block: commissioning 1..4 of 4, then judged against it
    assert service.outbox is not None
    service.outbox.flush()  # results are published once their outbox record is committed
    results = service.publisher.on("/maintenance/pump-1/health")  # type: ignore[union-attr]
    assert [r["baseline"]["status"] for r in results[:4]] == ["commissioning"] * 4
    assert [r["baseline"]["progress"] for r in results[:4]] == [[1, 4], [2, 4], [3, 4], [4, 4]]
    assert {r["baseline"]["status"] for r in results[4:]} <= {"used", "other_speed"}
    assert all(r["severity"]["iso_zone"] in "ABCD" and r["severity"]["velocity_rms_mm_s"] > 0 for r in results)
    assert all({"scores", "features", "model", "health_index", "latency_ms"} <= set(r) for r in results)
    # and the learned baseline travelled to the outbox beside an event
    assert [e["type"] for e in service.publisher.on("/events")] == ["baseline_learned"]  # type: ignore[union-attr]
    assert service.outbox is not None
    service.outbox.flush()
    streams = {r.stream: json.loads(r.body) for r in service.outbox.batch(100, 1 << 24)}
    assert streams["baseline/pump-1"]["state"] == "learned" and streams["baseline/pump-1"]["baseline"]["windows"] == 4
    service.outbox.close()
