"""``/v1/assets``: a catalogued image's metadata and its thumbnail."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Response
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.catalog.models import Asset
from modalign.service.deps import PathViewDep, ReadKeyDep, SessionDep, StateDep
from modalign.service.guard import GuardedRoute
from modalign.service.problems import problem_responses
from modalign.service.schemas import AssetView
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
