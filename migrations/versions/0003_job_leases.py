"""Job leases: the process holding a job, its last heartbeat and when its lease lapses.

Jobs open when this runs get no owner, so they are reported interrupted (whoever ran them is
not renewing a lease) and ``modalign jobs resume`` takes them over.

Revision ID: 0003_job_leases
Revises: 0002_asset_members
Create Date: 2026-12-03 13:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_job_leases"
down_revision: str | Sequence[str] | None = "0002_asset_members"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEASE_COLUMNS = ("owner", "heartbeat_at", "lease_expires_at")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        for name in reversed(LEASE_COLUMNS):
            batch.drop_column(name)
