"""Asset memberships (an image in several datasets, each under its own file) and the sync and
delete job kinds.

Every existing asset gets one membership: its dataset and uri, with its tags and no recorded
captions (a later sync treats the source's captions as new, which adds nothing already there).

Revision ID: 0002_asset_members
Revises: 0001_initial
Create Date: 2026-12-03 12:00:00+00:00
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0002_asset_members"
down_revision: str | Sequence[str] | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_KINDS = "kind IN ('ingest', 'reindex')"
NEW_KINDS = "kind IN ('ingest', 'reindex', 'sync', 'delete')"
PAGE = 1000


def upgrade() -> None:
    create_asset_members()
    backfill_members()
    set_job_kinds(NEW_KINDS)


def create_asset_members() -> None:
    op.create_table(
        "asset_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("uri_hash", sa.String(length=64), nullable=False),
        sa.Column("captions", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"],
            name=op.f("fk_asset_members_asset_id_assets"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_members")),
        sa.UniqueConstraint(
            "dataset", "uri_hash", name=op.f("uq_asset_members_dataset_uri_hash")
        ),
    )
    op.create_index(op.f("ix_asset_members_asset_id"), "asset_members", ["asset_id"])
    op.create_index(op.f("ix_asset_members_dataset"), "asset_members", ["dataset"])


def backfill_members() -> None:
    bind = op.get_bind()
    assets = sa.table(
        "assets", sa.column("id"), sa.column("dataset"), sa.column("uri"),
        sa.column("tags", sa.JSON),
    )
    members = sa.table(
        "asset_members", sa.column("asset_id"), sa.column("dataset"), sa.column("uri"),
        sa.column("uri_hash"), sa.column("captions", sa.JSON), sa.column("tags", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":  # stored naive UTC there, as the models' UTCDateTime does
        now = now.replace(tzinfo=None)
    last = 0
    while True:
        rows = bind.execute(
            sa.select(assets).where(assets.c.id > last).order_by(assets.c.id).limit(PAGE)
        ).all()
        if not rows:
            return
        bind.execute(members.insert(), [_member(row, now) for row in rows])
        last = rows[-1].id


def _member(row: sa.Row[tuple[object, ...]], now: datetime) -> dict[str, object]:
    uri = str(row.uri)
    return {
        "asset_id": row.id, "dataset": row.dataset, "uri": uri,
        "uri_hash": hashlib.sha256(uri.encode("utf-8")).hexdigest(), "captions": [],
        "tags": list(row.tags or []), "created_at": now, "updated_at": now,
    }


def set_job_kinds(check: str) -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_constraint(op.f("ck_jobs_kind"), type_="check")
        batch.create_check_constraint("kind", check)


def downgrade() -> None:
    op.execute("DELETE FROM jobs WHERE kind IN ('sync', 'delete')")
    set_job_kinds(OLD_KINDS)
    op.drop_table("asset_members")
