"""Initial schema: model versions, groups, devices, reports, rollouts.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _name(column: str) -> sa.Column:
    return sa.Column(column, sa.String(length=64), nullable=False)


def _ms(column: str, nullable: bool = False) -> sa.Column:
    return sa.Column(column, sa.BigInteger(), nullable=nullable)


def upgrade() -> None:
    """Create every table of the first release."""
    op.create_table(
        "device_groups",
        _name("name"),
        _ms("created_ms"),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        _name("name"),
        _name("version"),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("runtime", sa.String(length=16), nullable=False),
        _name("created"),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("manifest_json", sa.Text(), nullable=False),
        _name("sha256"),
        _ms("size"),
        _name("content_sha256"),
        sa.Column("signed_by", sa.String(length=16), nullable=False),
        sa.Column("artifact_key", sa.String(length=512), nullable=False),
        _name("artifact_sha256"),
        _ms("artifact_size"),
        _ms("published_ms"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
    )
    op.create_index("ix_model_versions_name", "model_versions", ["name"])
    op.create_table(
        "devices",
        _name("id"),
        _name("group_name"),
        _name("token_sha256"),
        _ms("created_ms"),
        _ms("last_seen_ms", nullable=True),
        sa.ForeignKeyConstraint(["group_name"], ["device_groups.name"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_sha256"),
    )
    op.create_index("ix_devices_group_name", "devices", ["group_name"])
    op.create_table(
        "rollouts",
        sa.Column("id", sa.Integer(), nullable=False),
        _name("model_name"),
        _name("version"),
        _name("group_name"),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("canary_percent", sa.Float(), nullable=False),
        sa.Column("wave_percent", sa.Float(), nullable=False),
        sa.Column("failure_threshold", sa.Float(), nullable=False),
        sa.Column("shadow_json", sa.Text(), nullable=True),
        sa.Column("probation_s", sa.Float(), nullable=False),
        sa.Column("current_wave", sa.Integer(), nullable=False),
        sa.Column("wave_count", sa.Integer(), nullable=False),
        sa.Column("failures_acknowledged", sa.Integer(), nullable=False),
        _ms("created_ms"),
        _ms("updated_ms"),
        sa.ForeignKeyConstraint(["group_name"], ["device_groups.name"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_rollouts_group_model", "rollouts", ["group_name", "model_name"])
    op.create_table(
        "device_models",
        _name("device_id"),
        _name("name"),
        _name("version"),
        _ms("since_ms"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint("device_id", "name"),
    )
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        _name("device_id"),
        _name("name"),
        _name("version"),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ms("ts_ms"),
        sa.Column("rollout_id", sa.Integer(), nullable=True),
        sa.Column("detail_json", sa.Text(), nullable=False),
        _ms("received_ms"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("device_id", "name", "version", "state", "ts_ms", name="uq_reports_identity"),
    )
    op.create_index("ix_reports_device_received", "reports", ["device_id", "received_ms"])
    op.create_index("ix_reports_state", "reports", ["state"])
    op.create_table(
        "rollout_devices",
        sa.Column("rollout_id", sa.Integer(), nullable=False),
        _name("device_id"),
        sa.Column("wave", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _ms("updated_ts_ms"),
        sa.ForeignKeyConstraint(["device_id"], ["devices.id"]),
        sa.ForeignKeyConstraint(["rollout_id"], ["rollouts.id"]),
        sa.PrimaryKeyConstraint("rollout_id", "device_id"),
    )
    op.create_index("ix_rollout_devices_device", "rollout_devices", ["device_id"])


def downgrade() -> None:
    """Drop every table (loses all data)."""
    for table in ("rollout_devices", "reports", "device_models", "rollouts", "devices", "model_versions"):
        op.drop_table(table)
    op.drop_table("device_groups")
