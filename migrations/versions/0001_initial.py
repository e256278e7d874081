"""Initial catalog schema: assets, captions, model versions, asset embeddings, jobs, job items.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-28 16:08:23+00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_KINDS = "kind IN ('ingest', 'reindex')"
JOB_STATUSES = (
    "status IN ('pending', 'running', 'completed', 'completed_with_errors', 'failed', 'cancelled')"
)
ITEM_STATUSES = "status IN ('pending', 'done', 'failed', 'skipped')"


def utc(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def counter(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Integer(), nullable=False)


def upgrade() -> None:
    create_assets()
    create_captions()
    create_model_versions()
    create_asset_embeddings()
    create_jobs()
    create_job_items()


def create_assets() -> None:
    op.create_table(
        "assets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("mime", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("split", sa.String(length=32), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        utc("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assets")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_assets_content_hash")),
    )
    op.create_index(op.f("ix_assets_dataset"), "assets", ["dataset"])
    op.create_index(op.f("ix_assets_source"), "assets", ["source"])


def create_captions() -> None:
    op.create_table(
        "captions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"],
            name=op.f("fk_captions_asset_id_assets"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captions")),
        sa.UniqueConstraint("asset_id", "text_hash", name=op.f("uq_captions_asset_id_text_hash")),
    )


def create_model_versions() -> None:
    op.create_table(
        "model_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("dims", sa.Integer(), nullable=False),
        sa.Column("checkpoint_path", sa.Text(), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        utc("created_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_versions")),
        sa.UniqueConstraint("name", name=op.f("uq_model_versions_name")),
    )
    # At most one active version: a partial unique index over the active rows only.
    op.create_index(
        "uq_model_versions_one_active", "model_versions", ["active"], unique=True,
        sqlite_where=sa.text("active = 1"), postgresql_where=sa.text("active"),
    )


def create_asset_embeddings() -> None:
    op.create_table(
        "asset_embeddings",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        utc("created_at"),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"],
            name=op.f("fk_asset_embeddings_asset_id_assets"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"], ["model_versions.id"],
            name=op.f("fk_asset_embeddings_model_version_id_model_versions"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("asset_id", "model_version_id", name=op.f("pk_asset_embeddings")),
    )
    op.create_index(
        op.f("ix_asset_embeddings_model_version_id"), "asset_embeddings", ["model_version_id"]
    )


def create_jobs() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("source_spec", sa.JSON(), nullable=False),
        sa.Column("dataset", sa.String(length=128), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        counter("total_items"),
        counter("done_items"),
        counter("failed_items"),
        counter("skipped_items"),
        counter("new_points"),
        utc("created_at"),
        utc("started_at", nullable=True),
        utc("finished_at", nullable=True),
        utc("updated_at"),
        sa.Column("model_version_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(JOB_KINDS, name=op.f("ck_jobs_kind")),
        sa.CheckConstraint(JOB_STATUSES, name=op.f("ck_jobs_status")),
        sa.ForeignKeyConstraint(
            ["model_version_id"], ["model_versions.id"],
            name=op.f("fk_jobs_model_version_id_model_versions"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index(op.f("ix_jobs_status"), "jobs", ["status"])


def create_job_items() -> None:
    op.create_table(
        "job_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("uri", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        utc("updated_at"),
        sa.CheckConstraint(ITEM_STATUSES, name=op.f("ck_job_items_status")),
        sa.ForeignKeyConstraint(
            ["asset_id"], ["assets.id"],
            name=op.f("fk_job_items_asset_id_assets"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_job_items_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_items")),
        sa.UniqueConstraint("job_id", "seq", name=op.f("uq_job_items_job_id_seq")),
    )
    op.create_index("ix_job_items_job_id_batch_no", "job_items", ["job_id", "batch_no"])
    op.create_index("ix_job_items_job_id_status", "job_items", ["job_id", "status"])


def downgrade() -> None:
    # Dropping a table drops its indexes; children before parents.
    for table in (
        "job_items", "jobs", "asset_embeddings", "model_versions", "captions", "assets"
    ):
        op.drop_table(table)
