"""Outbox records built the way the gateway builds them (edge_agent's own capture code), uploads, stored rows."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select
from werkzeug.test import TestResponse

from cloud_sync.context import services
from cloud_sync.tables import Sample, Telemetry
from edge_agent.outbox.capture import RecentInput, sample_document
from tests.cloud_sync.helpers import bearer

QI = {"name": "surface-inspection", "version": "1.0.0", "sha256": "ab" * 32}
BH = {"name": "bearing-health", "version": "1.0.0", "sha256": "cd" * 32}


def record(stream: str, seq: int, document: Any, priority: str = "health", ts_ms: int | None = None) -> dict[str, Any]:
    """One record as the uploader sends it (the body is compact JSON, base64 on the wire)."""
    body = document if isinstance(document, bytes) else json.dumps(document, separators=(",", ":")).encode()
    return {
        "stream": stream,
        "seq": seq,
        "ts_ms": ts_ms if ts_ms is not None else 1_700_000_000_000 + seq,
        "priority": priority,
        "body_b64": base64.b64encode(body).decode(),
    }


def inspection(seq: int, verdict: str = "ok", camera: str = "cam-1", model: dict[str, str] = QI) -> dict[str, Any]:
    """An inspection result record."""
    document = {
        "ts_ms": 1_700_000_000_000 + seq,
        "part_id": f"P{seq}",
        "camera": camera,
        "verdict": verdict,
        "label": "ok" if verdict == "ok" else "scratch",
        "scores": {"ok": 0.9 if verdict == "ok" else 0.1},
        "margin": 0.5,
        "model": model,
        "inference_ms": 3.0,
        "latency_ms": 5.0,
    }
    return record(f"inspection/{camera}", seq, document, "ok_result" if verdict == "ok" else "ng_result")


def health(seq: int, state: str = "healthy", asset: str = "pump-1", model: dict[str, str] = BH) -> dict[str, Any]:
    """A health result record."""
    document = {
        "ts_ms": 1_700_000_000_000 + seq,
        "asset": asset,
        "state": state,
        "scores": {state: 0.8},
        "anomaly_score": 0.25,
        "anomaly": False,
        "health_index": 0.9,
        "model": model,
        "latency_ms": 4.0,
    }
    return record(f"health/{asset}", seq, document, "health" if state == "healthy" else "alert")


def event(seq: int, kind: str = "queue_drop") -> dict[str, Any]:
    """An agent event record."""
    return record("events", seq, {"ts_ms": 1_700_000_000_000 + seq, "type": kind, "gateway": "gw-1"}, "event")


def sample(
    seq: int,
    payload: bytes,
    ts_ms: int,
    source: str = "cam-1",
    part_id: str | None = None,
    reason: str = "ng",
    label: str | None = None,
    content_type: str = "image/jpeg",
    model: dict[str, str] = QI,
    **context: Any,
) -> dict[str, Any]:
    """A samples/{source} record: the gateway's sample document plus payload_b64."""
    entry = RecentInput(
        source=source,
        part_id=part_id,
        ts_ms=ts_ms,
        model=model,
        predicted="scratch",
        scores={"ok": 0.2, "scratch": 0.8},
        payload=payload,
        content_type=content_type,
        context=context,
    )
    document = {**sample_document(entry, reason, label), "payload_b64": base64.b64encode(payload).decode()}
    return record(f"samples/{source}", seq, document, "sample")


def label(
    seq: int, value: str, source: str = "cam-1", part_id: str | None = None, ts_ms: int | None = None
) -> dict[str, Any]:
    """A labels/{source} record as AgentService.label writes it."""
    document = {
        "source": source,
        "label": value,
        "part_id": part_id,
        "ts_ms": ts_ms,
        "origin": "plc",
        "joined": False,
        "predicted": None,
        "model": None,
    }
    return record(f"labels/{source}", seq, document, "event")


def upload(
    client: FlaskClient, token: str, records: list[dict[str, Any]], device: str = "gw-1", **extra: Any
) -> TestResponse:
    """POST a batch for a device."""
    return client.post(f"/api/v1/devices/{device}/batches", json={"records": records, **extra}, headers=bearer(token))


def stored_keys(app: Flask) -> list[tuple[str, str, int]]:
    """Every (device, stream, seq) in the ledger, one entry per row."""
    with app.app_context(), Session(services().engine) as db:
        rows = db.exec(select(Telemetry.device_id, Telemetry.stream, Telemetry.seq)).all()
    return [(device, stream, int(seq)) for device, stream, seq in rows]


def stored_samples(app: Flask) -> list[Sample]:
    """Every sample row, by id."""
    with app.app_context(), Session(services().engine) as db:
        return list(db.exec(select(Sample).order_by(col(Sample.id))).all())
