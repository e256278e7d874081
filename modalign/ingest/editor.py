"""The embedded :class:`~modalign.search.editing.CollectionEditor`: deletes and edits carried out
in this process, on its catalog and store (what ``SearchClient(editor=...)`` uses).

A delete runs as a delete job here and now, under a lease of this process (so it never shows
as interrupted while it runs); an edit is :func:`modalign.ingest.edits.update_asset`.
"""

from __future__ import annotations

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.ingest.deletes import create_delete_job, plan_delete
from modalign.ingest.dispatch import InProcessDispatcher
from modalign.ingest.edits import update_asset
from modalign.ingest.jobs import resume
from modalign.ingest.lease import LeaseKeeper
from modalign.ingest.owners import Owner, Role
from modalign.ingest.progress import job_progress
from modalign.ingest.resources import IngestResources
from modalign.search.editing import DeleteOutcome, DeleteTarget, ListEdit
from modalign.search.hydrate import asset_info
from modalign.search.results import AssetInfo


class CatalogEditor:
    """Deletes and edits on an :class:`IngestResources` (its catalog, store and encoders)."""

    def __init__(self, resources: IngestResources, role: Role = Role.CLI) -> None:
        self.resources = resources
        self.role = role

    def delete_assets(self, target: DeleteTarget, *, dry_run: bool = False) -> DeleteOutcome:
        """Plan the delete; unless ``dry_run``, run it as a job to the end."""
        res = self.resources
        with res.store.use() as store:
            plan = plan_delete(res.sessions, store, target)
        outcome = DeleteOutcome(plan.assets, plan.memberships, plan.sample, dry_run)
        if dry_run or not plan.removals:
            return outcome
        keeper = LeaseKeeper(res.sessions, Owner.this_process(self.role), res.settings.ingest)
        try:
            job_id = create_delete_job(res.sessions, plan, target, keeper.lease)
            keeper.hold(job_id)
            resume(res.settings, res.sessions, InProcessDispatcher(res), job_id)
            keeper.release(job_id)
        finally:
            keeper.close()
        status = job_progress(res.sessions, job_id).status
        return DeleteOutcome(plan.assets, plan.memberships, plan.sample, False, job_id, status)

    def update_asset(self, asset_id: int, *, captions: ListEdit, tags: ListEdit) -> AssetInfo:
        """Edit the asset's captions and tags; returns it as the catalog now has it."""
        res = self.resources
        update_asset(res, asset_id, captions=captions, tags=tags,
                     max_caption_chars=res.settings.ingest.max_caption_chars)
        with session_scope(res.sessions) as session:
            return asset_info(repo.get_asset(session=session, asset_id=asset_id))
