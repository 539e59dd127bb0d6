"""Given the agent's real stats, queues and result store, AgentView shows what the agent is doing."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest

from edge_agent.ingest.tags import TagUpdate
from edge_agent.queues import DropQueue
from edge_agent.stats import AgentStats
from edge_agent.store import ResultStore, health_record, inspection_record
from edge_agent.web import AgentView, LabelRejected, ThumbnailBuffer
from edge_agent.web.view import scrub_ota_entry
from models.training.surfaces import generate_surface

LABELS = ["ok", "scratch", "pit", "crack", "stain"]
NOW_MS = int(time.time() * 1000)  # the store prunes rows older than its retention


class FakeModels:
    """The two ModelManager methods AgentView uses, plus names()."""

    def __init__(self, loaded: list[str]) -> None:
        self.loaded = loaded

    def describe(self) -> list[dict[str, Any]]:
        return [
            {
                "name": n,
                "version": "1.0.0",
                "task": "quality_inspection",
                "runtime": "onnx",
                "sha256": "f" * 64,
                "signed_by": "key-1",
                "selftest_ms": 12.3,
            }
            for n in self.loaded
        ]

    def get(self, name: str) -> Any:
        if name not in self.loaded:
            return None
        return SimpleNamespace(model=SimpleNamespace(manifest=SimpleNamespace(output=SimpleNamespace(labels=LABELS))))

    def names(self) -> list[str]:
        return sorted(self.loaded)


def inspection(camera: str, part_id: str, verdict: str, label: str, ts_ms: int) -> dict[str, Any]:
    return {
        "ts_ms": ts_ms,
        "camera": camera,
        "part_id": part_id,
        "verdict": verdict,
        "label": label,
        "scores": {label: 0.8},
        "model": {"name": "surface", "version": "1.0.0"},
        "latency_ms": 9.0,
    }


@pytest.fixture
def parts(tmp_path: Path) -> Any:
    store = ResultStore(tmp_path / "agent.db", retention_days=1, flush_s=0.02)
    store.start()
    service = SimpleNamespace(
        topics=SimpleNamespace(gateway="gw-7"),
        cameras={"cam-1": "surface"},
        assets={"pump-1": "bearing"},
        tags={("pump-1", "temp"): TagUpdate("pump-1", "temp", 41.0, 1000, 192, "degC")},
        broker_connected=True,
        broker_detail="connected",
    )
    labels: list[tuple[str, str, str, str]] = []
    parts = SimpleNamespace(
        stats=AgentStats(),
        store=store,
        service=service,
        labels=labels,
        thumbnails=ThumbnailBuffer(20),
        frames=DropQueue(4, "drop_oldest"),
        windows=DropQueue(8, "block_then_drop"),
        models=FakeModels(["surface"]),
        ready=True,
    )
    parts.view = AgentView(
        parts.stats,
        cast(Any, parts.models),
        store,
        cast(Any, service),
        parts.frames,
        parts.windows,
        ota_history=lambda: [{"name": "surface", "version": "1.1.0", "state": "committed", "ts_ms": 1}],
        thumbnails=parts.thumbnails,
        label_sink=lambda *args: labels.append(args),
        ready=lambda: parts.ready,
    )
    yield parts
    store.close()


def wait_written(store: ResultStore, count: int) -> None:
    deadline = time.monotonic() + 5
    while store.written < count and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.written >= count


def test_recent_inspections_join_the_thumbnails_in_memory(parts: Any) -> None:
    # given two stored results, and a thumbnail of the second (the worker made it before storing the result)
    frame = generate_surface(np.random.default_rng(8), "scratch").image
    parts.thumbnails.add("cam-1", "p2", frame, "ng", "scratch", ts_ms=NOW_MS)
    parts.store.add(inspection_record(inspection("cam-1", "p1", "ok", "ok", NOW_MS - 1000)))
    parts.store.add(inspection_record(inspection("cam-1", "p2", "ng", "scratch", NOW_MS)))
    wait_written(parts.store, 2)
    # when the page asks for recent inspections
    newest, older = parts.view.recent_inspections(10)
    # then the newest comes first, with its thumbnail, the highlight method and the model's labels
    assert (newest.part_id, newest.verdict, newest.scores) == ("p2", "ng", {"scratch": 0.8})
    assert newest.thumbnail_id is not None and parts.view.thumbnail(newest.thumbnail_id)[:2] == b"\xff\xd8"
    assert newest.highlight == "local contrast" and newest.labels == LABELS
    assert older.thumbnail_id is None and older.highlight is None


def test_health_trend_counters_queues_tags_and_models(parts: Any) -> None:
    row = {
        "ts_ms": NOW_MS,
        "asset": "pump-1",
        "state": "healthy",
        "anomaly_score": 0.1,
        "health_index": 0.93,
        "scores": {"healthy": 0.9},
        "model": {"name": "bearing", "version": "2.0.0"},
        "latency_ms": 3.0,
    }
    parts.store.add(health_record(row))
    wait_written(parts.store, 1)
    assert [(p.state, p.health_index) for p in parts.view.health_trend("pump-1", 10)] == [("healthy", 0.93)]
    parts.stats.count("received", "cam/cam-1", 3)
    parts.stats.observe("inspection", 12.0)
    parts.frames.put(1)
    assert parts.view.counters()[("received", "cam/cam-1")] == 3
    assert parts.view.latency()["inspection"].count == 1
    assert [(q.name, q.depth, q.capacity) for q in parts.view.queues()] == [("frames", 1, 4), ("windows", 0, 8)]
    assert [(t.tag, t.value, t.unit) for t in parts.view.tags()] == [("temp", 41.0, "degC")]
    assert [(m.name, m.labels) for m in parts.view.models()] == [("surface", LABELS)]
    assert parts.view.assets() == ["pump-1"] and parts.view.identity().gateway == "gw-7"
    assert parts.view.outbox() is None


def test_readiness_names_every_missing_piece(parts: Any) -> None:
    assert parts.view.readiness().ready is False  # the bearing model of pump-1 is not loaded
    parts.models.loaded.append("bearing")
    assert parts.view.readiness().ready is True
    parts.service.broker_connected = False
    parts.ready = False
    assert parts.view.readiness().reasons == ["broker not connected", "agent still starting"]


def test_operator_labels_are_checked_against_camera_and_model(parts: Any) -> None:
    parts.view.submit_label("cam-1", "p1", "crack", "Ana")
    assert parts.labels == [("cam-1", "p1", "crack", "Ana")]
    with pytest.raises(LabelRejected, match="unknown camera"):
        parts.view.submit_label("cam-9", "p1", "crack", "Ana")
    with pytest.raises(LabelRejected, match="not a label"):
        parts.view.submit_label("cam-1", "p1", "dent", "Ana")
    assert len(parts.labels) == 1


def test_ota_history_is_newest_first_and_scrubbed(parts: Any) -> None:
    assert parts.view.ota_history() == [{"name": "surface", "version": "1.1.0", "state": "committed", "ts_ms": 1}]
    entry = scrub_ota_entry(
        {
            "name": "m",
            "version": "1",
            "state": "rejected",
            "reason": "GET https://h/p.tar?sig=abc&exp=1 failed",
            "detail": {"token": "t", "signing_key": "k", "presigned_url": "u", "agreement": 0.97, "nested": {"a": 1}},
            "unexpected": "dropped",
        }
    )
    assert entry == {
        "name": "m",
        "version": "1",
        "state": "rejected",
        "reason": "GET https://h/p.tar?… failed",
        "detail": {"agreement": 0.97},
    }
