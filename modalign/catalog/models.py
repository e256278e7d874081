"""The catalog's tables as SQLAlchemy 2.0 declarative models.

Portable across SQLite and PostgreSQL: JSON columns, tz-aware UTC datetimes (stored naive UTC on
SQLite, ``timestamptz`` on PostgreSQL, always read back as aware UTC), status columns as short
strings guarded by CHECK constraints. The schema is created only by the Alembic migrations in
``migrations/``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always aware UTC in Python, whatever the dialect stores."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JobKind(StrEnum):
    INGEST = "ingest"
    REINDEX = "reindex"
    SYNC = "sync"
    DELETE = "delete"


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self not in (JobStatus.PENDING, JobStatus.RUNNING)


class JobState(StrEnum):
    """What a job is reported as: its stored status, or ``interrupted`` (derived when read,
    never stored: open, but no live process holds its lease; see
    :mod:`modalign.ingest.owners`)."""

    PENDING = "pending"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed_with_errors"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self is not JobState.INTERRUPTED and JobStatus(self.value).terminal


class ItemStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


def _in_check(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class Asset(Base):
    """One image, identified by the SHA-256 of its bytes.

    ``dataset`` and ``uri`` are those of its first membership (:class:`AssetMember`); ``tags``
    are the asset's own (every membership's tags merged in, then edited as the user says).
    """

    __tablename__ = "assets"

    id: Mapped[int] = mapped_column(primary_key=True)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    uri: Mapped[str] = mapped_column(Text)
    width: Mapped[int]
    height: Mapped[int]
    mime: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int]
    source: Mapped[str] = mapped_column(String(64), index=True)
    dataset: Mapped[str] = mapped_column(String(128), index=True)
    split: Mapped[str | None] = mapped_column(String(32))
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    captions: Mapped[list[Caption]] = relationship(
        back_populates="asset",
        order_by="Caption.position",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )
    members: Mapped[list[AssetMember]] = relationship(
        back_populates="asset",
        order_by="AssetMember.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class AssetMember(Base):
    """An asset's place in a dataset: the file it was ingested from there (unique per dataset),
    and the captions and tags that entry offered (what a sync compares the source against)."""

    __tablename__ = "asset_members"
    __table_args__ = (UniqueConstraint("dataset", "uri_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    dataset: Mapped[str] = mapped_column(String(128), index=True)
    uri: Mapped[str] = mapped_column(Text)
    uri_hash: Mapped[str] = mapped_column(String(64))
    captions: Mapped[list[str]] = mapped_column(default=list)
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    asset: Mapped[Asset] = relationship(back_populates="members")


class Caption(Base):
    """A text describing an asset; position 0 is its name or title."""

    __tablename__ = "captions"
    __table_args__ = (UniqueConstraint("asset_id", "text_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    position: Mapped[int] = mapped_column(default=0)

    asset: Mapped[Asset] = relationship(back_populates="captions")


class ModelVersion(Base):
    """A trained dual encoder checkpoint; at most one is active."""

    __tablename__ = "model_versions"
    __table_args__ = (
        Index(
            "uq_model_versions_one_active",
            "active",
            unique=True,
            sqlite_where=text("active = 1"),
            postgresql_where=text("active"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    dims: Mapped[int]
    checkpoint_path: Mapped[str] = mapped_column(Text)
    card: Mapped[dict[str, Any]] = mapped_column(default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    active: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssetEmbedding(Base):
    """Marks an asset as embedded (its points written) in one model version."""

    __tablename__ = "asset_embeddings"

    asset_id: Mapped[int] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True
    )
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """An ingestion or re-indexing run, its progress counters and its lease.

    ``owner`` names the process holding the job (``role:host:pid:start-token``, see
    :mod:`modalign.ingest.owners`); it renews ``heartbeat_at`` and ``lease_expires_at`` while it
    works. The holder sets the expiry from its own lease setting, so readers need no setting
    to tell a live lease from a lapsed one.
    """

    __tablename__ = "jobs"
    __table_args__ = (
        CheckConstraint(_in_check("kind", JobKind), name="kind"),
        CheckConstraint(_in_check("status", JobStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    source_spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dataset: Mapped[str] = mapped_column(String(128))
    tags: Mapped[list[str]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(32), default=JobStatus.PENDING.value, index=True)
    total_items: Mapped[int] = mapped_column(default=0)
    done_items: Mapped[int] = mapped_column(default=0)
    failed_items: Mapped[int] = mapped_column(default=0)
    skipped_items: Mapped[int] = mapped_column(default=0)
    new_points: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    model_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL")
    )
    error: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]


class JobItem(Base):
    """One source item of a job (usually one image) and what happened to it."""

    __tablename__ = "job_items"
    __table_args__ = (
        UniqueConstraint("job_id", "seq"),
        Index("ix_job_items_job_id_status", "job_id", "status"),
        Index("ix_job_items_job_id_batch_no", "job_id", "batch_no"),
        CheckConstraint(_in_check("status", ItemStatus), name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    seq: Mapped[int]
    batch_no: Mapped[int] = mapped_column(Integer, default=0)
    uri: Mapped[str] = mapped_column(Text)
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    asset_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class NearDuplicate(Base):
    """An asset found, when ingested into a model version, within the near-duplicate cosine of
    an asset already there (``original_asset_id``, its nearest). ``group_asset_id`` is the first
    asset of the group the original belongs to (the original itself when it has no original of
    its own), so the assets sharing one form a group. Every row naming a deleted asset goes
    with it (foreign keys cascade both ways)."""

    __tablename__ = "near_duplicates"

    asset_id: Mapped[int] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), primary_key=True
    )
    model_version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    original_asset_id: Mapped[int] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), index=True
    )
    group_asset_id: Mapped[int] = mapped_column(
        ForeignKey("assets.id", ondelete="CASCADE"), index=True
    )
    cosine: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
