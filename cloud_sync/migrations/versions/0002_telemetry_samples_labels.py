"""Outbox intake: the telemetry ledger, gateway drop counters, hard-example samples and their labels.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _text(column: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(column, sa.String(length=length), nullable=nullable)


def _ms(column: str, nullable: bool = False) -> sa.Column:
    return sa.Column(column, sa.BigInteger(), nullable=nullable)


def _record(table: str) -> list[sa.Column | sa.Constraint]:
    """Columns and constraints naming one outbox record of one device."""
    return [
        _text("device_id", 64),
        _text("stream", 160),
        _ms("seq"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.UniqueConstraint("device_id", "stream", "seq", name=f"uq_{table}_record"),
    ]


def upgrade() -> None:
    """Create the intake tables."""
    op.create_table(
        "device_drops",
        _text("device_id", 64),
        _text("drop_class", 32),
        _ms("count"),
        _ms("updated_ms"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint("device_id", "drop_class"),
    )
    op.create_table(
        "telemetry",
        sa.Column("id", sa.Integer(), nullable=False),
        *_record("telemetry"),
        _ms("ts_ms"),
        _ms("received_ms"),
        _text("kind", 32),
        _text("source", 128, nullable=True),
        _text("part_id", 128, nullable=True),
        _text("verdict", 32, nullable=True),
        _text("label", 64, nullable=True),
        _text("state", 64, nullable=True),
        _text("event_type", 64, nullable=True),
        sa.Column("anomaly_score", sa.Float(), nullable=True),
        _text("model_name", 64, nullable=True),
        _text("model_version", 64, nullable=True),
        _text("body_sha256", 64),
        sa.Column("document_json", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_telemetry_device_ts", "telemetry", ["device_id", "ts_ms"])
    op.create_index("ix_telemetry_kind_ts", "telemetry", ["kind", "ts_ms"])
    op.create_index("ix_telemetry_model_ts", "telemetry", ["model_name", "ts_ms"])
    op.create_table(
        "samples",
        sa.Column("id", sa.Integer(), nullable=False),
        *_record("samples"),
        _text("source", 128),
        _text("part_id", 128, nullable=True),
        _ms("ts_ms"),
        _text("reason", 32),
        _text("model_name", 64),
        _text("model_version", 64),
        _text("predicted", 64, nullable=True),
        _text("content_type", 64),
        _text("input_sha256", 64),
        _ms("size"),
        _text("storage_key", 256),
        _text("label", 64, nullable=True),
        _text("label_origin", 32, nullable=True),
        _text("labelled_by", 128, nullable=True),
        sa.Column("provenance_json", sa.Text(), nullable=False),
        _ms("received_ms"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_samples_join_ts", "samples", ["device_id", "source", "ts_ms"])
    op.create_index("ix_samples_join_part", "samples", ["device_id", "source", "part_id"])
    op.create_index("ix_samples_model", "samples", ["model_name", "id"])
    op.create_index("ix_samples_sha256", "samples", ["input_sha256"])
    op.create_table(
        "sample_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sample_id", sa.Integer(), nullable=True),
        _text("device_id", 64),
        _text("source", 128),
        _text("part_id", 128, nullable=True),
        _ms("ts_ms", nullable=True),
        _text("label", 64),
        _text("via", 16),
        _text("origin", 32),
        _text("labelled_by", 128),
        _ms("record_seq", nullable=True),
        _ms("created_ms"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.ForeignKeyConstraint(["sample_id"], ["samples.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_id", "record_seq", name="uq_sample_labels_record"),
    )
    op.create_index("ix_sample_labels_sample", "sample_labels", ["sample_id"])
    op.create_index("ix_sample_labels_join_ts", "sample_labels", ["device_id", "source", "ts_ms"])
    op.create_index("ix_sample_labels_join_part", "sample_labels", ["device_id", "source", "part_id"])


def downgrade() -> None:
    """Drop the intake tables (loses all telemetry, sample metadata and labels; stored sample files stay)."""
    for table in ("sample_labels", "samples", "telemetry", "device_drops"):
        op.drop_table(table)
