"""``/v1/assets``: a catalogued image's metadata and thumbnail; editing and deleting assets.

Edits answer once the catalog and every model version's points agree; deletes are delete jobs
run in the background by the service's job runner, in order with ingestion (see
:mod:`modalign.ingest.removals` for why a deleted asset never comes back in a search).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset
from modalign.ingest.editor import CatalogEditor
from modalign.search.editing import DeleteTarget, ListEdit
from modalign.service.deps import ApiKeyDep, PathViewDep, ReadKeyDep, SessionDep, StateDep
from modalign.service.guard import GuardedRoute
from modalign.service.problems import ProblemError, problem_responses
from modalign.service.redact import PathView
from modalign.service.routers.jobs import job_runner, queue_job
from modalign.service.schemas import (
    AssetUpdateBody,
    AssetView,
    DeleteBody,
    DeleteView,
    ListEditBody,
)
from modalign.service.state import ServiceState
from modalign.service.thumbnails import make_thumbnail, thumbnail_etag
from modalign.service.views import asset_view

router = APIRouter(prefix="/v1/assets", tags=["assets"], route_class=GuardedRoute)

AssetId = Annotated[int, Path(ge=1, le=2**62, description="Asset id.")]
CACHE_CONTROL = "public, max-age=86400"


@router.get(
    "/{asset_id}", response_model=AssetView, responses=problem_responses(401, 404, 422, 503)
)
def get_asset(asset_id: AssetId, session: SessionDep, paths: PathViewDep) -> AssetView:
    """An image's metadata and captions."""
    return asset_view(repo.get_asset(session=session, asset_id=asset_id), paths)


@router.get(
    "/{asset_id}/thumbnail",
    response_class=Response,
    dependencies=[ReadKeyDep],
    responses={
        200: {
            "content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
            "description": "A JPEG thumbnail.",
        },
        304: {"description": "Not modified (ETag matched)."},
        **problem_responses(401, 404, 422, 503),
    },
)
async def get_thumbnail(
    asset_id: AssetId,
    state: StateDep,
    size: Annotated[int, Query(ge=16, le=512, description="Longest side in pixels.")] = 256,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A JPEG thumbnail of the image (cacheable; its ETag follows the image's content)."""
    asset = await run_in_threadpool(_load_asset, state.readers, asset_id)
    etag = thumbnail_etag(asset, size)
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if if_none_match == etag:
        return Response(status_code=304, headers=headers)
    data = await run_in_threadpool(make_thumbnail, state.settings, asset, size)
    return Response(data, media_type="image/jpeg", headers=headers)


def _load_asset(sessions: sessionmaker[Session], asset_id: int) -> Asset:
    with session_scope(sessions) as session:
        return repo.get_asset(session=session, asset_id=asset_id)


@router.patch(
    "/{asset_id}", response_model=AssetView, dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 413, 422, 503),
)
async def update_asset(
    asset_id: AssetId, body: AssetUpdateBody, state: StateDep, paths: PathViewDep
) -> AssetView:
    """Replace, add or remove an asset's captions and tags; every model version's points
    follow (new captions are encoded with each version's encoder) before this answers."""
    return await run_in_threadpool(_update, state, asset_id, body, paths)


def _update(
    state: ServiceState, asset_id: int, body: AssetUpdateBody, paths: PathView
) -> AssetView:
    editor = _editor(state)
    editor.update_asset(asset_id, captions=_edit(body.captions), tags=_edit(body.tags))
    with session_scope(state.readers) as session:
        return asset_view(repo.get_asset(session=session, asset_id=asset_id), paths)


def _edit(body: ListEditBody) -> ListEdit:
    replace = tuple(body.replace) if body.replace is not None else None
    return ListEdit(replace, tuple(body.add), tuple(body.remove))


@router.delete(
    "/{asset_id}", response_model=DeleteView, status_code=202, dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 422, 503),
)
async def delete_asset(asset_id: AssetId, state: StateDep, response: Response) -> DeleteView:
    """Delete an image from the catalog and from both collections of every model version: a
    delete job, run in the background like ingestion (poll ``GET /v1/jobs/{id}``)."""
    await run_in_threadpool(_load_asset, state.readers, asset_id)  # 404 for an unknown id
    view = await run_in_threadpool(_delete, state, DeleteTarget(asset_ids=(asset_id,)), False)
    if view.job is not None:
        response.headers["Location"] = f"/v1/jobs/{view.job.id}"
    return view


@router.post(
    "/delete", response_model=DeleteView, status_code=202, dependencies=[ApiKeyDep],
    responses={200: {"model": DeleteView, "description": "A dry run: nothing was changed."},
               **problem_responses(401, 404, 413, 422, 503)},
)
async def delete_assets(body: DeleteBody, state: StateDep, response: Response) -> DeleteView:
    """Delete assets by id, a dataset's memberships, or what a payload filter matches (the
    search's own filter); an empty target is refused unless ``all``. ``dry_run`` answers 200
    with what would go."""
    target = DeleteTarget(tuple(body.asset_ids), body.dataset, body.filter, body.all)
    view = await run_in_threadpool(_delete, state, target, body.dry_run)
    if view.job is None:
        response.status_code = 200
    else:
        response.headers["Location"] = f"/v1/jobs/{view.job.id}"
    return view


def _delete(state: ServiceState, target: DeleteTarget, dry_run: bool) -> DeleteView:
    from modalign.ingest.deletes import create_delete_job, plan_delete

    plan = plan_delete(state.readers, state.store, target)
    counts = {"assets": plan.assets, "memberships": plan.memberships, "sample": plan.sample}
    if dry_run or not plan.removals:
        return DeleteView(dry_run=dry_run, **counts)
    runner = job_runner(state)
    job_id = create_delete_job(state.sessions, plan, target, runner.leases.lease)
    return DeleteView(dry_run=False, **counts, job=queue_job(state, job_id))


def _editor(state: ServiceState) -> CatalogEditor:
    if state.editor is None:
        raise ProblemError(503, "the service is not ready to edit")
    return state.editor
