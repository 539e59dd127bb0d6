"""The model registry: publish (check, re-sign, store) and look up model versions."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cloud_sync.db import now_ms, session
from cloud_sync.errors import Conflict, NotFound
from cloud_sync.package import CheckedPackage, check_package, write_artifact
from cloud_sync.signing import FleetSigner
from cloud_sync.storage import Storage
from cloud_sync.tables import ModelVersion
from cloud_sync.wire import ModelOut, PublishOut
from edge_agent.contracts import semver_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """The registry entry of an upload and whether this upload created it."""

    record: ModelVersion
    created: bool


def _existing(db: Session, package: CheckedPackage) -> ModelVersion | None:
    """The identical entry already published, or None when the version is new; Conflict otherwise."""
    manifest = package.manifest
    versions = db.exec(select(ModelVersion).where(ModelVersion.name == manifest.name)).all()
    for record in versions:
        if record.version == manifest.version:
            if record.content_sha256 == package.content_sha256:
                return record
            raise Conflict(f"{manifest.name} {manifest.version} is already published with different content")
    if versions:
        newest = max(versions, key=lambda record: semver_key(record.version))
        if semver_key(manifest.version) <= semver_key(newest.version):
            raise Conflict(
                f"{manifest.name} {manifest.version} is not newer than the published {newest.version}; "
                "versions only go up"
            )
    return None


def publish(
    engine: Engine, storage: Storage, signer: FleetSigner, upload: Path, workdir: Path, max_bytes: int
) -> Published:
    """Check an uploaded tar, re-sign its manifest, store the artifact and record it."""
    package = check_package(upload, workdir, max_bytes)
    manifest = package.manifest
    with session(engine) as db:
        found = _existing(db, package)
    if found is not None:
        log.info("publish %s %s: identical to the published version", manifest.name, manifest.version)
        return Published(found, created=False)
    artifact = workdir / "artifact.tar"
    artifact_sha256, artifact_size = write_artifact(package, signer.sign(package.manifest_bytes), artifact)
    key = f"models/{manifest.name}/{manifest.version}/{artifact_sha256}.tar"
    storage.put(key, artifact)
    record = ModelVersion(
        name=manifest.name,
        version=manifest.version,
        task=manifest.task,
        runtime=manifest.runtime,
        created=manifest.created,
        description=manifest.description,
        manifest_json=package.manifest_bytes.decode("utf-8"),
        sha256=manifest.sha256,
        size=manifest.size,
        content_sha256=package.content_sha256,
        signed_by=signer.key_id,
        artifact_key=key,
        artifact_sha256=artifact_sha256,
        artifact_size=artifact_size,
        published_ms=now_ms(),
    )
    with session(engine) as db:
        db.add(record)
        try:
            db.commit()
        except IntegrityError:
            # A concurrent upload of the same version won; answer as if this one came second.
            db.rollback()
            storage.delete(key)
            with session(engine) as again:
                found = _existing(again, package)
            if found is None:
                raise
            return Published(found, created=False)
    log.info("published %s %s (artifact %s, %d bytes)", manifest.name, manifest.version, key, artifact_size)
    return Published(record, created=True)


def get_version(db: Session, name: str, version: str) -> ModelVersion:
    """The registry entry; NotFound when unknown."""
    record = db.exec(select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)).first()
    if record is None:
        raise NotFound(f"model {name} {version} is not published")
    return record


def list_versions(db: Session) -> list[ModelVersion]:
    """Every entry, by name, then version (oldest first)."""
    records = db.exec(select(ModelVersion).order_by(col(ModelVersion.name))).all()
    return sorted(records, key=lambda record: (record.name, semver_key(record.version)))


def publish_out(record: ModelVersion) -> PublishOut:
    """Wire form of a publish answer."""
    return PublishOut(
        name=record.name,
        version=record.version,
        sha256=record.sha256,
        size=record.size,
        artifact_sha256=record.artifact_sha256,
        artifact_size=record.artifact_size,
        signed_by=record.signed_by,
    )


def model_out(record: ModelVersion) -> ModelOut:
    """Wire form of a registry entry."""
    return ModelOut(
        name=record.name,
        version=record.version,
        task=record.task,
        runtime=record.runtime,
        created=record.created,
        description=record.description,
        sha256=record.sha256,
        size=record.size,
        artifact_sha256=record.artifact_sha256,
        artifact_size=record.artifact_size,
        published_ms=record.published_ms,
    )
