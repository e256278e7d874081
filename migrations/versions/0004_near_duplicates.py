"""Near-duplicates: an asset ingested within the near-duplicate cosine of one already indexed in
a model version, its nearest (the original), the group it joins and the cosine.

Assets ingested before this revision have no rows: their near-duplicates are found only as new
images arrive (or when they are embedded into a new model version).

Revision ID: 0004_near_duplicates
Revises: 0003_job_leases
Create Date: 2026-12-04 12:00:00+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_near_duplicates"
down_revision: str | Sequence[str] | None = "0003_job_leases"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "near_duplicates"
INDEXED = ("model_version_id", "original_asset_id", "group_asset_id")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("original_asset_id", sa.Integer(), nullable=False),
        sa.Column("group_asset_id", sa.Integer(), nullable=False),
        sa.Column("cosine", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _asset_key("asset_id"),
        _asset_key("original_asset_id"),
        _asset_key("group_asset_id"),
        sa.ForeignKeyConstraint(
            ["model_version_id"], ["model_versions.id"],
            name=op.f("fk_near_duplicates_model_version_id_model_versions"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "model_version_id", name=op.f("pk_near_duplicates")),
    )
    for column in INDEXED:
        op.create_index(op.f(f"ix_near_duplicates_{column}"), TABLE, [column])


def _asset_key(column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["assets.id"], name=op.f(f"fk_near_duplicates_{column}_assets"),
        ondelete="CASCADE",
    )


def downgrade() -> None:
    op.drop_table(TABLE)
