"""``/v1/duplicates``: the near-duplicate groups recorded at ingestion (recorded pairs only; see
:mod:`modalign.search.duplicates`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from modalign.search.duplicates import list_duplicates
from modalign.service.deps import ReadKeyDep, StateDep
from modalign.service.guard import GuardedRoute
from modalign.service.problems import problem_responses
from modalign.service.schemas import DuplicatesView

router = APIRouter(prefix="/v1/duplicates", tags=["assets"], route_class=GuardedRoute)


@router.get(
    "", response_model=DuplicatesView, dependencies=[ReadKeyDep],
    responses=problem_responses(401, 404, 422, 503),
)
async def get_duplicates(
    state: StateDep,
    dataset: Annotated[
        str | None, Query(max_length=128, description="Only pairs with both images in it.")
    ] = None,
    threshold: Annotated[
        float | None,
        Query(gt=0.0, le=1.0, description="Only pairs at this cosine or above (recorded only)."),
    ] = None,
    version: Annotated[
        str | None, Query(max_length=128, description="Model version (default: the active one).")
    ] = None,
) -> DuplicatesView:
    """Near-duplicate groups: images tied by the pairs recorded at ingestion, largest first."""
    listing = await run_in_threadpool(
        lambda: list_duplicates(
            state.readers, version=version, dataset=dataset, threshold=threshold
        )
    )
    return DuplicatesView.model_validate(listing.to_dict())
