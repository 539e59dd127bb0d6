"""SQLModel table models (the database schema; Alembic migrations in cloud_sync/migrations create it)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

# Times are integer milliseconds since the epoch (UTC): portable across SQLite and PostgreSQL.


class ModelVersion(SQLModel, table=True):
    """One published, re-signed model package."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_versions_name_version"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, index=True)
    version: str = Field(max_length=64)
    task: str = Field(max_length=32)
    runtime: str = Field(max_length=16)
    created: str = Field(max_length=64)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    manifest_json: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    content_sha256: str = Field(max_length=64)
    signed_by: str = Field(max_length=16)
    artifact_key: str = Field(max_length=512)
    artifact_sha256: str = Field(max_length=64)
    artifact_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    published_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class DeviceGroup(SQLModel, table=True):
    """A named set of gateways that rollouts target."""

    __tablename__ = "device_groups"

    name: str = Field(primary_key=True, max_length=64)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class Device(SQLModel, table=True):
    """A provisioned gateway; only the sha256 of its token is kept."""

    __tablename__ = "devices"

    id: str = Field(primary_key=True, max_length=64)
    group_name: str = Field(foreign_key="device_groups.name", index=True, max_length=64)
    token_sha256: str = Field(max_length=64, unique=True)
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seen_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class DeviceModel(SQLModel, table=True):
    """The version of a model a device last reported as committed (what it runs)."""

    __tablename__ = "device_models"

    device_id: str = Field(foreign_key="devices.id", primary_key=True, max_length=64)
    name: str = Field(primary_key=True, max_length=64)
    version: str = Field(max_length=64)
    since_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class Report(SQLModel, table=True):
    """One OTA state change a device reported; the history is kept."""

    __tablename__ = "reports"
    __table_args__ = (
        UniqueConstraint("device_id", "name", "version", "state", "ts_ms", name="uq_reports_identity"),
        Index("ix_reports_device_received", "device_id", "received_ms"),
        Index("ix_reports_state", "state"),
    )

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(foreign_key="devices.id", max_length=64)
    name: str = Field(max_length=64)
    version: str = Field(max_length=64)
    state: str = Field(max_length=16)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    rollout_id: int | None = Field(default=None)
    detail_json: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    received_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class Rollout(SQLModel, table=True):
    """A model version offered to a group, wave by wave."""

    __tablename__ = "rollouts"
    __table_args__ = (Index("ix_rollouts_group_model", "group_name", "model_name"),)

    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=64)
    version: str = Field(max_length=64)
    group_name: str = Field(foreign_key="device_groups.name", max_length=64)
    state: str = Field(max_length=16)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    canary_percent: float
    wave_percent: float
    failure_threshold: float
    shadow_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    probation_s: float
    current_wave: int = 0
    wave_count: int
    failures_acknowledged: int = 0
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class RolloutDevice(SQLModel, table=True):
    """A device's wave in a rollout and how far it got."""

    __tablename__ = "rollout_devices"
    __table_args__ = (Index("ix_rollout_devices_device", "device_id"),)

    rollout_id: int = Field(foreign_key="rollouts.id", primary_key=True)
    device_id: str = Field(foreign_key="devices.id", primary_key=True, max_length=64)
    wave: int
    state: str = Field(max_length=16)
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    updated_ts_ms: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))


class Telemetry(SQLModel, table=True):
    """One outbox record a gateway uploaded (the intake ledger: every stream, deduplicated on device+stream+seq)."""

    __tablename__ = "telemetry"
    __table_args__ = (
        UniqueConstraint("device_id", "stream", "seq", name="uq_telemetry_record"),
        Index("ix_telemetry_device_ts", "device_id", "ts_ms"),
        Index("ix_telemetry_kind_ts", "kind", "ts_ms"),
        Index("ix_telemetry_model_ts", "model_name", "ts_ms"),
        Index("ix_telemetry_received", "received_ms"),
    )

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(foreign_key="devices.id", max_length=64)
    stream: str = Field(max_length=160)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    received_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    kind: str = Field(max_length=32)
    source: str | None = Field(default=None, max_length=128)
    part_id: str | None = Field(default=None, max_length=128)
    verdict: str | None = Field(default=None, max_length=32)
    label: str | None = Field(default=None, max_length=64)
    state: str | None = Field(default=None, max_length=64)
    event_type: str | None = Field(default=None, max_length=64)
    anomaly_score: float | None = Field(default=None)
    model_name: str | None = Field(default=None, max_length=64)
    model_version: str | None = Field(default=None, max_length=64)
    body_sha256: str = Field(max_length=64)
    document_json: str = Field(sa_column=Column(Text, nullable=False))


class DeviceDrop(SQLModel, table=True):
    """The latest outbox drop counter a gateway reported for one priority class."""

    __tablename__ = "device_drops"

    device_id: str = Field(foreign_key="devices.id", primary_key=True, max_length=64)
    drop_class: str = Field(primary_key=True, max_length=32)
    count: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class Sample(SQLModel, table=True):
    """A hard example: metadata and provenance here, the bytes in the artifact store under a content address."""

    __tablename__ = "samples"
    __table_args__ = (
        UniqueConstraint("device_id", "stream", "seq", name="uq_samples_record"),
        Index("ix_samples_join_ts", "device_id", "source", "ts_ms"),
        Index("ix_samples_join_part", "device_id", "source", "part_id"),
        Index("ix_samples_model", "model_name", "id"),
        Index("ix_samples_sha256", "input_sha256"),
        Index("ix_samples_received", "received_ms"),
    )

    id: int | None = Field(default=None, primary_key=True)
    device_id: str = Field(foreign_key="devices.id", max_length=64)
    stream: str = Field(max_length=160)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    source: str = Field(max_length=128)
    part_id: str | None = Field(default=None, max_length=128)
    ts_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: str = Field(max_length=32)
    model_name: str = Field(max_length=64)
    model_version: str = Field(max_length=64)
    predicted: str | None = Field(default=None, max_length=64)
    content_type: str = Field(max_length=64)
    input_sha256: str = Field(max_length=64)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    storage_key: str = Field(max_length=256)
    label: str | None = Field(default=None, max_length=64)
    label_origin: str | None = Field(default=None, max_length=32)
    labelled_by: str | None = Field(default=None, max_length=128)
    provenance_json: str = Field(sa_column=Column(Text, nullable=False))
    received_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class SampleLabel(SQLModel, table=True):
    """One label of a sample (the history): from the sample itself, a gateway label record, or a cloud labeller."""

    __tablename__ = "sample_labels"
    __table_args__ = (
        UniqueConstraint("device_id", "record_seq", name="uq_sample_labels_record"),
        Index("ix_sample_labels_sample", "sample_id"),
        Index("ix_sample_labels_join_ts", "device_id", "source", "ts_ms"),
        Index("ix_sample_labels_join_part", "device_id", "source", "part_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    sample_id: int | None = Field(default=None, foreign_key="samples.id")
    device_id: str = Field(foreign_key="devices.id", max_length=64)
    source: str = Field(max_length=128)
    part_id: str | None = Field(default=None, max_length=128)
    ts_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    label: str = Field(max_length=64)
    via: str = Field(max_length=16)
    origin: str = Field(max_length=32)
    labelled_by: str = Field(max_length=128)
    record_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))


class RetrainJob(SQLModel, table=True):
    """A queued retraining run: claimed by one replica (SKIP LOCKED), held by a lease it renews while it runs."""

    __tablename__ = "retrain_jobs"
    __table_args__ = (Index("ix_retrain_jobs_state", "state", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    model_name: str = Field(max_length=64)
    quick: bool = False
    state: str = Field(max_length=16)  # queued, running, succeeded, not_better, failed
    attempts: int = 0
    owner: str | None = Field(default=None, max_length=128)
    lease_expires_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    exit_code: int | None = Field(default=None)
    output: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    started_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    finished_ms: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
