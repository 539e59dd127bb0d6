"""Rollouts: wave planning, advancing on committed reports, pausing on failures, pause/resume."""

from __future__ import annotations

import json
import logging
import math
from collections import Counter

from sqlalchemy import Table, func, update
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from cloud_sync.db import advisory_lock, now_ms
from cloud_sync.errors import Conflict, NotFound
from cloud_sync.registry import get_version
from cloud_sync.tables import Device, DeviceGroup, DeviceModel, Rollout, RolloutDevice
from cloud_sync.wire import FAILED_STATES, FINAL_STATES, RolloutDeviceOut, RolloutIn, RolloutOut, WaveOut

log = logging.getLogger(__name__)
LIVE = ("active", "paused")
WAVES: Table = RolloutDevice.__table__  # type: ignore[attr-defined]


def plan_waves(devices: int, canary_percent: float, wave_percent: float) -> list[int]:
    """Wave sizes: the canary (at least one device), then waves of wave_percent of the group each."""
    canary = min(devices, max(1, math.ceil(devices * canary_percent / 100)))
    step = max(1, math.ceil(devices * wave_percent / 100))
    sizes = [canary]
    left = devices - canary
    while left > 0:
        sizes.append(min(step, left))
        left -= sizes[-1]
    return sizes


def _rows(db: Session, rollout: Rollout) -> list[RolloutDevice]:
    query = select(RolloutDevice).where(RolloutDevice.rollout_id == rollout.id).order_by(col(RolloutDevice.device_id))
    return list(db.exec(query).all())


def _open_wave(db: Session, rollout: Rollout, rows: list[RolloutDevice], wave: int) -> None:
    rollout.current_wave = wave
    for row in rows:
        if row.wave != wave or row.state != "pending":
            continue
        running = db.get(DeviceModel, (row.device_id, rollout.model_name))
        # A device that already runs this version has nothing to do: it counts as committed at once.
        row.state = "committed" if running is not None and running.version == rollout.version else "offered"
        db.add(row)
    log.info("rollout %s: wave %d of %d open", rollout.id, wave, rollout.wave_count)


def _tally(db: Session, rollout: Rollout) -> Counter[tuple[int, str]]:
    """Devices per (wave, state): what evaluate decides on, without loading a row per device."""
    # a report on a 1,000-device rollout used to load 1,000 ORM rows under the rollout's lock
    query = (
        sa_select(WAVES.c.wave, WAVES.c.state, func.count())
        .where(WAVES.c.rollout_id == rollout.id)
        .group_by(WAVES.c.wave, WAVES.c.state)
    )
    db.flush()
    return Counter({(int(wave), str(state)): int(count) for wave, state, count in db.connection().execute(query)})


def evaluate(db: Session, rollout: Rollout) -> None:
    """Pause on too many failures, open the next wave when the current one has finished, or complete."""
    while rollout.state == "active":
        tally = _tally(db, rollout)
        offered = sum(n for (wave, _), n in tally.items() if wave <= rollout.current_wave)
        failed = sum(n for (wave, state), n in tally.items() if wave <= rollout.current_wave and state in FAILED_STATES)
        share = failed / offered
        if share > rollout.failure_threshold and failed > rollout.failures_acknowledged:
            latest = db.exec(
                select(RolloutDevice)
                .where(RolloutDevice.rollout_id == rollout.id, RolloutDevice.wave <= rollout.current_wave)
                .where(col(RolloutDevice.state).in_(FAILED_STATES))
                .order_by(col(RolloutDevice.updated_ts_ms).desc())
            ).first()
            assert latest is not None
            rollout.state = "paused"
            rollout.reason = (
                f"{failed} of {offered} offered devices failed "
                f"({share:.0%} > {rollout.failure_threshold:.0%})"
                f"; latest {latest.device_id}: {latest.state}: {latest.reason or 'no reason given'}"
            )
            log.warning("rollout %s paused: %s", rollout.id, rollout.reason)
            break
        if any(wave == rollout.current_wave and state not in FINAL_STATES for wave, state in tally):
            break
        if rollout.current_wave + 1 < rollout.wave_count:
            _open_wave(db, rollout, _rows(db, rollout), rollout.current_wave + 1)
            continue
        committed = sum(n for (_, state), n in tally.items() if state == "committed")
        rollout.state = "completed"
        rollout.reason = f"{committed} committed, {failed} failed"
        log.info("rollout %s completed: %s", rollout.id, rollout.reason)
    rollout.updated_ms = now_ms()
    db.add(rollout)


def create(db: Session, spec: RolloutIn) -> Rollout:
    """Plan and start a rollout; live rollouts of the same model to the same group are superseded."""
    get_version(db, spec.model, spec.version)
    if db.get(DeviceGroup, spec.group) is None:
        raise NotFound(f"group {spec.group} does not exist")
    devices = db.exec(select(Device).where(Device.group_name == spec.group).order_by(col(Device.id))).all()
    if not devices:
        raise Conflict(f"group {spec.group} has no devices")
    # two replicas creating rollouts of one model for one group at once: the second supersedes the first
    advisory_lock(db.connection(), f"rollout:{spec.group}:{spec.model}")
    sizes = plan_waves(len(devices), spec.canary_percent, spec.wave_percent)
    stamp = now_ms()
    rollout = Rollout(
        model_name=spec.model,
        version=spec.version,
        group_name=spec.group,
        state="active",
        canary_percent=spec.canary_percent,
        wave_percent=spec.wave_percent,
        failure_threshold=spec.failure_threshold,
        shadow_json=spec.shadow.model_dump_json() if spec.shadow else None,
        probation_s=spec.probation_s,
        wave_count=len(sizes),
        created_ms=stamp,
        updated_ms=stamp,
    )
    db.add(rollout)
    db.flush()
    older = select(Rollout).where(
        Rollout.group_name == spec.group, Rollout.model_name == spec.model, col(Rollout.state).in_(LIVE)
    )
    for previous in db.exec(older.with_for_update()).all():
        if previous.id != rollout.id:
            previous.state, previous.reason, previous.updated_ms = (
                "superseded",
                f"superseded by rollout {rollout.id}",
                stamp,
            )
            db.add(previous)
    assert rollout.id is not None
    waves = [index for index, size in enumerate(sizes) for _ in range(size)]
    rows = [
        RolloutDevice(rollout_id=rollout.id, device_id=d.id, wave=w, state="pending") for d, w in zip(devices, waves)
    ]
    db.add_all(rows)
    _open_wave(db, rollout, rows, 0)
    db.flush()
    evaluate(db, rollout)
    log.info("rollout %s: %s %s to %s in waves %s", rollout.id, spec.model, spec.version, spec.group, sizes)
    return rollout


def get(db: Session, rollout_id: int, lock: bool = False) -> Rollout:
    """A rollout by id (row-locked and re-read on PostgreSQL when lock); NotFound when unknown."""
    query = select(Rollout).where(Rollout.id == rollout_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    rollout = db.exec(query).first()
    if rollout is None:
        raise NotFound(f"rollout {rollout_id} does not exist")
    return rollout


def pause(db: Session, rollout: Rollout) -> None:
    """Stop opening waves; devices already offered keep their offer."""
    if rollout.state not in LIVE:
        raise Conflict(f"rollout {rollout.id} is {rollout.state}; only an active rollout can be paused")
    if rollout.state == "active":
        rollout.state, rollout.reason, rollout.updated_ms = "paused", "paused by an operator", now_ms()
        db.add(rollout)


def resume(db: Session, rollout: Rollout) -> None:
    """Continue; the failures seen so far are accepted, only further failures pause again."""
    if rollout.state not in LIVE:
        raise Conflict(f"rollout {rollout.id} is {rollout.state}; only a paused rollout can be resumed")
    if rollout.state == "paused":
        rows = _rows(db, rollout)
        rollout.failures_acknowledged = sum(r.state in FAILED_STATES and r.wave <= rollout.current_wave for r in rows)
        rollout.state, rollout.reason = "active", ""
        evaluate(db, rollout)


def apply_report(db: Session, device_id: str, name: str, version: str, state: str, reason: str, ts_ms: int) -> None:
    """Move the device's row in every rollout of this model version; re-evaluate the live ones."""
    # Completed rollouts are updated too: a later rollback must stop their offer to this device.
    query = (
        select(Rollout.id)
        .join(RolloutDevice, col(Rollout.id) == col(RolloutDevice.rollout_id))
        .where(RolloutDevice.device_id == device_id, Rollout.model_name == name, Rollout.version == version)
        .where(Rollout.state != "superseded")
    )
    # Only a final state (committed, or a failure) can finish a wave or pause a rollout; the steps before it
    # (downloading, verifying, ... probation) move their row without taking the rollout's lock or evaluating.
    decisive = state in FINAL_STATES or state in FAILED_STATES
    for rollout_id in db.exec(query).all():
        # The rollout row is locked first so that concurrent final reports of one wave evaluate one after another.
        rollout = get(db, rollout_id or 0, lock=True) if decisive else None
        # an older state change arriving late does not undo a newer one
        moved = (
            update(WAVES)
            .where(WAVES.c.rollout_id == rollout_id, WAVES.c.device_id == device_id, WAVES.c.updated_ts_ms <= ts_ms)
            .values(state=state, reason=reason, updated_ts_ms=ts_ms)
            .returning(WAVES.c.device_id)
        )
        if db.connection().execute(moved).first() is not None and rollout is not None and rollout.state in LIVE:
            evaluate(db, rollout)


def rollout_out(db: Session, rollout: Rollout, with_devices: bool = True) -> RolloutOut:
    """Wire form with per-wave and per-state counts."""
    rows = _rows(db, rollout)
    waves = []
    for index in range(rollout.wave_count):
        members = [row for row in rows if row.wave == index]
        waves.append(
            WaveOut(
                index=index,
                devices=len(members),
                open=index <= rollout.current_wave,
                counts=dict(Counter(row.state for row in members)),
            )
        )
    return RolloutOut(
        id=rollout.id or 0,
        model=rollout.model_name,
        version=rollout.version,
        group=rollout.group_name,
        state=rollout.state,
        reason=rollout.reason,
        canary_percent=rollout.canary_percent,
        wave_percent=rollout.wave_percent,
        failure_threshold=rollout.failure_threshold,
        shadow=json.loads(rollout.shadow_json) if rollout.shadow_json else None,
        probation_s=rollout.probation_s,
        current_wave=rollout.current_wave,
        waves=waves,
        counts=dict(Counter(row.state for row in rows)),
        devices=[
            RolloutDeviceOut(
                id=row.device_id, wave=row.wave, state=row.state, reason=row.reason, ts_ms=row.updated_ts_ms
            )
            for row in rows
        ]
        if with_devices
        else [],
        created_ms=rollout.created_ms,
        updated_ms=rollout.updated_ms,
    )
