"""Queries over stored telemetry: filtered listings, result counts per model version and device, drop counters."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from cloud_sync.tables import DeviceDrop, Telemetry
from cloud_sync.wire_data import SummaryOut, TelemetryOut
from edge_agent.contracts import semver_key

RESULT_KINDS = ("inspection", "health")


def query(db: Session, filters: dict[str, Any], limit: int) -> list[Telemetry]:
    """Records matching the filters (device, stream, kind, model, since_ms), newest first."""
    statement = select(Telemetry)
    for name, column in (
        ("device", Telemetry.device_id),
        ("stream", Telemetry.stream),
        ("kind", Telemetry.kind),
        ("model", Telemetry.model_name),
    ):
        if filters.get(name) is not None:
            statement = statement.where(column == filters[name])
    if filters.get("since_ms") is not None:
        statement = statement.where(col(Telemetry.ts_ms) >= filters["since_ms"])
    statement = statement.order_by(col(Telemetry.ts_ms).desc(), col(Telemetry.id).desc()).limit(limit)
    return list(db.exec(statement).all())


def telemetry_out(row: Telemetry) -> TelemetryOut:
    """Wire form of a record with its stored document."""
    return TelemetryOut(
        device=row.device_id,
        stream=row.stream,
        seq=row.seq,
        ts_ms=row.ts_ms,
        received_ms=row.received_ms,
        kind=row.kind,
        source=row.source,
        part_id=row.part_id,
        verdict=row.verdict,
        label=row.label,
        state=row.state,
        event_type=row.event_type,
        anomaly_score=row.anomaly_score,
        model=row.model_name,
        version=row.model_version,
        document=json.loads(row.document_json),
    )


def drops(db: Session, device_id: str | None = None) -> dict[str, dict[str, int]]:
    """The latest outbox drop counters per device and priority class."""
    statement = select(DeviceDrop).order_by(col(DeviceDrop.device_id), col(DeviceDrop.drop_class))
    if device_id is not None:
        statement = statement.where(DeviceDrop.device_id == device_id)
    found: dict[str, dict[str, int]] = defaultdict(dict)
    for row in db.exec(statement).all():
        found[row.device_id][row.drop_class] = row.count
    return dict(found)


def summary(db: Session, model: str | None, since_ms: int | None) -> SummaryOut:
    """Result counts per verdict (inspection) or state (health), per model version and per device."""
    outcome = func.coalesce(Telemetry.verdict, Telemetry.state, "none")
    keys = (col(Telemetry.model_name), col(Telemetry.model_version), col(Telemetry.kind), col(Telemetry.device_id))
    statement = (
        sa_select(*keys, outcome, func.count())
        .where(col(Telemetry.kind).in_(RESULT_KINDS), col(Telemetry.model_name).is_not(None))
        .group_by(*keys, outcome)
    )
    if model is not None:
        statement = statement.where(col(Telemetry.model_name) == model)
    if since_ms is not None:
        statement = statement.where(col(Telemetry.ts_ms) >= since_ms)
    groups: dict[tuple[str, str, str], dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for name, version, kind, device, result, count in db.connection().execute(statement).all():
        groups[(str(name), str(version or ""), str(kind))][str(device)][str(result)] = int(count)

    def order(key: tuple[str, str, str]) -> tuple[Any, ...]:
        try:
            version_key: tuple[Any, ...] = (0, semver_key(key[1]))
        except ValueError:
            version_key = (1, key[1])
        return key[0], version_key, key[2]

    models = []
    for key in sorted(groups, key=order):
        per_device = groups[key]
        totals: dict[str, int] = defaultdict(int)
        devices = []
        for device in sorted(per_device):
            for result, count in per_device[device].items():
                totals[result] += count
            devices.append({"device": device, "total": sum(per_device[device].values()), "counts": per_device[device]})
        models.append(
            {
                "model": key[0],
                "version": key[1],
                "kind": key[2],
                "total": sum(totals.values()),
                "counts": dict(sorted(totals.items())),
                "devices": devices,
            }
        )
    return SummaryOut.model_validate({"model": model, "since_ms": since_ms, "models": models, "drops": drops(db)})
