"""Groups, devices and their tokens, OTA reports, and the desired-state document of a device."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Table, and_, literal, null
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from cloud_sync.db import dialect_insert, now_ms
from cloud_sync.errors import Conflict, NotFound
from cloud_sync.rollouts import apply_report
from cloud_sync.tables import Device, DeviceGroup, DeviceModel, ModelVersion, Report, Rollout, RolloutDevice
from cloud_sync.wire import FAILED_STATES, DesiredModel, DeviceOut, GroupOut, ReportIn, StateOut

log = logging.getLogger(__name__)
GROUPS: Table = DeviceGroup.__table__  # type: ignore[attr-defined]
REPORTS: Table = Report.__table__  # type: ignore[attr-defined]
ROLLOUTS: Table = Rollout.__table__  # type: ignore[attr-defined]
WAVES: Table = RolloutDevice.__table__  # type: ignore[attr-defined]
RUNNING: Table = DeviceModel.__table__  # type: ignore[attr-defined]
VERSIONS: Table = ModelVersion.__table__  # type: ignore[attr-defined]


def hash_token(token: str) -> str:
    """How tokens are stored and looked up: hex sha256 of the token text."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def iso_ms(value: int | None) -> str | None:
    """ISO 8601 UTC of a millisecond timestamp."""
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc).isoformat(timespec="seconds")


def ensure_group(db: Session, name: str) -> tuple[DeviceGroup, bool]:
    """The group, created when new; the flag says whether it was created."""
    # INSERT ... ON CONFLICT: two replicas provisioning the first devices of a new group at once both succeed
    statement = dialect_insert(db, GROUPS).values(name=name, created_ms=now_ms()).on_conflict_do_nothing()
    created = bool(db.connection().execute(statement).rowcount)
    group = db.get(DeviceGroup, name)
    assert group is not None
    return group, created


def list_groups(db: Session) -> list[GroupOut]:
    """Every group with its device count."""
    counts = dict(db.exec(select(Device.group_name, func.count()).group_by(col(Device.group_name))).all())
    groups = db.exec(select(DeviceGroup).order_by(col(DeviceGroup.name))).all()
    return [GroupOut(name=group.name, devices=counts.get(group.name, 0)) for group in groups]


def add_device(db: Session, device_id: str, group: str) -> str:
    """Provision a device; returns its token (only its hash is stored)."""
    if db.get(Device, device_id) is not None:
        raise Conflict(f"device {device_id} already exists; issue a new token with POST /devices/{device_id}/token")
    ensure_group(db, group)
    # 32 random bytes, URL-safe: the token travels in an HTTP header and sits in a credentials file.
    token = secrets.token_urlsafe(32)
    db.add(Device(id=device_id, group_name=group, token_sha256=hash_token(token), created_ms=now_ms()))
    try:
        db.flush()
    except IntegrityError as exc:
        raise Conflict(f"device {device_id} already exists") from exc
    log.info("device %s provisioned in group %s", device_id, group)
    return token


def rotate_token(db: Session, device_id: str) -> tuple[Device, str]:
    """Replace a device's token; the old one stops working at once."""
    device = db.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} does not exist")
    token = secrets.token_urlsafe(32)
    device.token_sha256 = hash_token(token)
    db.add(device)
    log.info("device %s: token replaced", device_id)
    return device, token


def device_out(db: Session, device: Device) -> DeviceOut:
    """Wire form: committed versions, last seen, latest state per model."""
    models = db.exec(select(DeviceModel).where(DeviceModel.device_id == device.id)).all()
    reports = db.exec(
        select(Report).where(Report.device_id == device.id).order_by(col(Report.ts_ms).desc(), col(Report.id).desc())
    ).all()
    latest: dict[str, Report] = {}
    for report in reports:
        latest.setdefault(report.name, report)
    return DeviceOut(
        id=device.id,
        group=device.group_name,
        models={model.name: model.version for model in models},
        last_seen=iso_ms(device.last_seen_ms),
        states=[state_out(report) for report in latest.values()],
    )


def history(db: Session, device: Device, limit: int = 500) -> list[Report]:
    """The device's reports, newest first."""
    query = select(Report).where(Report.device_id == device.id)
    return list(db.exec(query.order_by(col(Report.ts_ms).desc(), col(Report.id).desc()).limit(limit)).all())


def state_out(report: Report) -> StateOut:
    """Wire form of one report."""
    return StateOut(
        name=report.name,
        version=report.version,
        state=report.state,
        reason=report.reason,
        ts_ms=report.ts_ms,
        rollout_id=report.rollout_id,
    )


def record_report(db: Session, device_id: str, report: ReportIn) -> bool:
    """Store a state change once (idempotent on device, name, version, state, ts_ms); False for a repeat."""
    # one statement both checks and stores: a retry arriving twice at once on two replicas stores one row
    row = {
        "device_id": device_id,
        "name": report.name,
        "version": report.version,
        "state": report.state,
        "reason": report.reason,
        "ts_ms": report.ts_ms,
        "rollout_id": report.rollout_id,
        "detail_json": json.dumps(report.detail, sort_keys=True),
        "received_ms": now_ms(),
    }
    identity = ["device_id", "name", "version", "state", "ts_ms"]
    statement = dialect_insert(db, REPORTS).values(row).on_conflict_do_nothing(index_elements=identity)
    if db.connection().execute(statement.returning(REPORTS.c.id)).first() is None:
        return False
    _track_running(db, device_id, report)
    apply_report(db, device_id, report.name, report.version, report.state, report.reason, report.ts_ms)
    log.info("device %s: %s %s -> %s %s", device_id, report.name, report.version, report.state, report.reason)
    return True


def _track_running(db: Session, device_id: str, report: ReportIn) -> None:
    """Keep DeviceModel at the version the device runs: set on committed, stepped back on a rollback of it."""
    if report.state not in ("committed", "rolled_back"):
        return
    running = db.get(DeviceModel, (device_id, report.name))
    if report.state == "committed":
        if running is None:
            db.add(DeviceModel(device_id=device_id, name=report.name, version=report.version, since_ms=report.ts_ms))
        elif report.ts_ms >= running.since_ms:
            running.version, running.since_ms = report.version, report.ts_ms
            db.add(running)
    elif report.state == "rolled_back" and running is not None and running.version == report.version:
        # An operator rolled back a committed version: the gateway returns to its previous committed one.
        earlier = db.exec(
            select(Report)
            .where(Report.device_id == device_id, Report.name == report.name, Report.state == "committed")
            .where(Report.version != report.version, Report.ts_ms < report.ts_ms)
            .order_by(col(Report.ts_ms).desc())
        ).first()
        if earlier is None:
            db.delete(running)
        else:
            running.version, running.since_ms = earlier.version, report.ts_ms
            db.add(running)
    db.flush()


def artifact_url(name: str, version: str) -> str:
    """Path of a version's artifact; gateways resolve it against their cloud base URL."""
    return f"/api/v1/models/{name}/{version}/artifact"


@dataclass(frozen=True)
class Offer:
    """One model of a device's desired document: every field its entry is made of, read in one query."""

    name: str
    version: str
    rollout_id: int | None
    shadow_json: str | None
    probation_s: float
    artifact_sha256: str | None  # None: a version installed outside the registry, nothing to offer
    artifact_size: int | None


def offers(db: Session, device_id: str) -> list[Offer]:
    """Per model name: the newest open offer the device has not failed, else its committed version."""
    # Core rows, not ORM objects: this runs on every poll of every gateway
    in_registry = and_(VERSIONS.c.name == ROLLOUTS.c.model_name, VERSIONS.c.version == ROLLOUTS.c.version)
    open_offers = (
        sa_select(ROLLOUTS.c.model_name, ROLLOUTS.c.version, ROLLOUTS.c.id, ROLLOUTS.c.shadow_json)
        .add_columns(ROLLOUTS.c.probation_s, VERSIONS.c.artifact_sha256, VERSIONS.c.artifact_size)
        .select_from(WAVES.join(ROLLOUTS, ROLLOUTS.c.id == WAVES.c.rollout_id).outerjoin(VERSIONS, in_registry))
        .where(WAVES.c.device_id == device_id, ROLLOUTS.c.state != "superseded")
        .where(WAVES.c.wave <= ROLLOUTS.c.current_wave, WAVES.c.state.not_in(FAILED_STATES))
        .order_by(ROLLOUTS.c.id.desc())
    )
    running_version = and_(VERSIONS.c.name == RUNNING.c.name, VERSIONS.c.version == RUNNING.c.version)
    running = (
        sa_select(RUNNING.c.name, RUNNING.c.version, null(), null(), literal(0.0))
        .add_columns(VERSIONS.c.artifact_sha256, VERSIONS.c.artifact_size)
        .select_from(RUNNING.outerjoin(VERSIONS, running_version))
        .where(RUNNING.c.device_id == device_id)
    )
    chosen: dict[str, Offer] = {}
    connection = db.connection()
    for row in [*connection.execute(open_offers), *connection.execute(running)]:
        chosen.setdefault(row[0], Offer(*row))
    return [chosen[name] for name in sorted(chosen)]


def offers_etag(found: list[Offer]) -> str:
    """The desired document's ETag, from its inputs: a 304 needs no document built (an artifact never changes)."""
    return f'"{hashlib.sha256(repr(found).encode()).hexdigest()[:32]}"'


def desired_models(found: list[Offer]) -> list[DesiredModel]:
    """The desired document's entries."""
    return [
        DesiredModel(
            name=offer.name,
            version=offer.version,
            artifact_url=artifact_url(offer.name, offer.version),
            artifact_sha256=offer.artifact_sha256,
            artifact_size=offer.artifact_size or 0,
            rollout_id=offer.rollout_id,
            shadow=json.loads(offer.shadow_json) if offer.shadow_json else None,
            probation_s=offer.probation_s,
        )
        for offer in found
        if offer.artifact_sha256 is not None
    ]


def may_download(db: Session, device_id: str, name: str, version: str) -> bool:
    """A device may fetch a version offered to it in an open wave, or the version it runs."""
    return any(offer.name == name and offer.version == version for offer in offers(db, device_id))
