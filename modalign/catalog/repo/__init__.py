"""Keyword-only repository functions over the catalog (``repo.upsert_asset(session=..., ...)``).

Every function works inside the caller's session and transaction (see ``db.session_scope``); none
commits. Split by subject: assets and captions, model versions, jobs and job items.
"""

from __future__ import annotations

from modalign.catalog.models import ItemStatus, JobKind, JobStatus
from modalign.catalog.repo.assets import (
    CaptionRow,
    NewAsset,
    UpsertedAsset,
    add_captions,
    add_captions_to_assets,
    caption_hash,
    content_hash,
    embedded_hashes,
    get_asset,
    get_asset_by_hash,
    get_assets,
    normalise_caption,
    record_embedded,
    upsert_asset,
    upsert_assets,
)
from modalign.catalog.repo.jobs import (
    ItemUpdate,
    NewJobItem,
    add_job_items,
    create_job,
    finish_job_if_complete,
    get_job,
    increment_job_counters,
    job_item_status_counts,
    list_failures,
    list_jobs,
    mark_items,
    pending_items,
    set_job_status,
)
from modalign.catalog.repo.models import (
    activate_model_version,
    get_active_model_version,
    get_model_version,
    list_model_versions,
    register_model_version,
    set_model_metrics,
)

__all__ = [
    "CaptionRow",
    "ItemStatus",
    "ItemUpdate",
    "JobKind",
    "JobStatus",
    "NewAsset",
    "NewJobItem",
    "UpsertedAsset",
    "activate_model_version",
    "add_captions",
    "add_captions_to_assets",
    "add_job_items",
    "caption_hash",
    "content_hash",
    "create_job",
    "embedded_hashes",
    "finish_job_if_complete",
    "get_active_model_version",
    "get_asset",
    "get_asset_by_hash",
    "get_assets",
    "get_job",
    "get_model_version",
    "increment_job_counters",
    "job_item_status_counts",
    "list_failures",
    "list_jobs",
    "list_model_versions",
    "mark_items",
    "normalise_caption",
    "pending_items",
    "record_embedded",
    "register_model_version",
    "set_job_status",
    "set_model_metrics",
    "upsert_asset",
    "upsert_assets",
]
