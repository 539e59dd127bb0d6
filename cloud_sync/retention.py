"""Retention: telemetry pruned by age, samples (rows, labels and bytes) by age and label status."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, Engine, delete, select, text
from sqlmodel import col

from cloud_sync.db import lock_key, now_ms
from cloud_sync.errors import StorageError
from cloud_sync.settings import Settings
from cloud_sync.storage import Storage
from cloud_sync.tables import Sample, SampleLabel, Telemetry

log = logging.getLogger(__name__)
DAY_MS = 86_400_000
CHUNK = 2000  # rows per delete transaction: short transactions keep intake flowing while a big backlog goes
LOCK = "cloud-sync:prune"


@dataclass
class Pruned:
    """What one pass deleted."""

    telemetry: int = 0
    samples: int = 0
    files: int = 0


def sample_grace_ms(settings: Settings) -> int | None:
    """Samples younger than this keep their bytes through the next pass (intake may reuse them); None: forever."""
    days = [d for d in (settings.unlabelled_sample_retention_days, settings.labelled_sample_retention_days) if d]
    return int(min(days) * DAY_MS / 2) if days else None


def _prune_telemetry(connection: Connection, cutoff_ms: int) -> int:
    total = 0
    while True:
        ids = select(col(Telemetry.id)).where(col(Telemetry.received_ms) < cutoff_ms).limit(CHUNK).scalar_subquery()
        deleted = connection.execute(delete(Telemetry).where(col(Telemetry.id).in_(ids))).rowcount
        connection.commit()
        total += deleted
        if deleted < CHUNK:
            return total


def _prune_samples(connection: Connection, storage: Storage, cutoff_ms: int, labelled: bool) -> tuple[int, int]:
    label = col(Sample.label)
    status = label.is_not(None) if labelled else label.is_(None)
    samples = files = 0
    while True:
        query = select(col(Sample.id), col(Sample.input_sha256), col(Sample.storage_key))
        rows = connection.execute(query.where(col(Sample.received_ms) < cutoff_ms, status).limit(CHUNK)).all()
        if not rows:
            return samples, files
        ids = [row[0] for row in rows]
        connection.execute(delete(SampleLabel).where(col(SampleLabel.sample_id).in_(ids)))
        connection.execute(delete(Sample).where(col(Sample.id).in_(ids)))
        connection.commit()
        samples += len(ids)
        keys = {sha: key for _, sha, key in rows}
        still_used = set(
            connection.execute(
                select(col(Sample.input_sha256)).where(col(Sample.input_sha256).in_(list(keys)))
            ).scalars()
        )
        connection.commit()
        for sha, key in keys.items():
            if sha in still_used:
                continue  # other samples share these bytes
            try:
                storage.delete(key)
                files += 1
            except StorageError as exc:
                log.warning("retention: %s (left for the next pass)", exc)


def prune(connection: Connection, storage: Storage, settings: Settings) -> Pruned:
    """Apply the retention settings once (on a connection in autocommit-free mode, committing per chunk)."""
    stamp = now_ms()
    found = Pruned()
    if settings.telemetry_retention_days:
        found.telemetry = _prune_telemetry(connection, stamp - int(settings.telemetry_retention_days * DAY_MS))
    for labelled, days in (
        (False, settings.unlabelled_sample_retention_days),
        (True, settings.labelled_sample_retention_days),
    ):
        if days:
            samples, files = _prune_samples(connection, storage, stamp - int(days * DAY_MS), labelled)
            found.samples += samples
            found.files += files
    if found.telemetry or found.samples:
        log.info("retention: deleted %d telemetry rows, %d samples, %d files", *asdict(found).values())
    return found


def prune_if_first(engine: Engine, storage: Storage, settings: Settings) -> Pruned | None:
    """Prune unless another replica is doing it right now (session advisory lock); None when skipped."""
    if not (
        settings.telemetry_retention_days
        or settings.unlabelled_sample_retention_days
        or settings.labelled_sample_retention_days
    ):
        return Pruned()
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": lock_key(LOCK)}).scalar()
            connection.commit()
            if not got:
                return None
        try:
            return prune(connection, storage, settings)
        finally:
            if postgres:
                connection.rollback()
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock_key(LOCK)})
                connection.commit()
