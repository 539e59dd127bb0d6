"""Retraining as a job table (one replica claims a job with SKIP LOCKED and holds a lease); retention indexes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create retrain_jobs; index the columns retention deletes by."""
    op.create_table(
        "retrain_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=64), nullable=False),
        sa.Column("quick", sa.Boolean(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("lease_expires_ms", sa.BigInteger(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("started_ms", sa.BigInteger(), nullable=True),
        sa.Column("finished_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retrain_jobs_state", "retrain_jobs", ["state", "id"])
    # retention deletes by received time: without these it would scan the whole ledger
    op.create_index("ix_telemetry_received", "telemetry", ["received_ms"])
    op.create_index("ix_samples_received", "samples", ["received_ms"])


def downgrade() -> None:
    """Drop retrain_jobs and the retention indexes."""
    op.drop_index("ix_samples_received", "samples")
    op.drop_index("ix_telemetry_received", "telemetry")
    op.drop_table("retrain_jobs")
