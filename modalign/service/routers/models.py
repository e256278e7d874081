"""``/v1/models``: model versions, their collections, and switching the active one."""

from __future__ import annotations

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from modalign.catalog import repo
from modalign.catalog.db import session_scope
from modalign.errors import NotFoundError
from modalign.service.deps import ApiKeyDep, PathViewDep, SessionDep, StateDep
from modalign.service.guard import GuardedRoute
from modalign.service.problems import ProblemError, problem_responses
from modalign.service.schemas import ModelList, ModelView
from modalign.service.state import ServiceState
from modalign.service.views import model_view

router = APIRouter(prefix="/v1/models", tags=["models"], route_class=GuardedRoute)

ModelId = Path(ge=1, le=2**62, description="Model version id.")


@router.get("", response_model=ModelList, responses=problem_responses(401, 503))
def list_models(state: StateDep, session: SessionDep, paths: PathViewDep) -> ModelList:
    """Every model version, its collections' size and index state, and which one is active."""
    rows = repo.list_model_versions(session=session)
    return ModelList(
        models=[model_view(row, state.store, paths) for row in rows],
        active=next((row.name for row in rows if row.active), None),
    )


@router.post(
    "/{model_id}/activate", response_model=ModelView, dependencies=[ApiKeyDep],
    responses=problem_responses(401, 404, 409, 422, 503),
)
async def activate_model(state: StateDep, model_id: int = ModelId) -> ModelView:
    """Make this version the one queries use: its encoder is loaded first, then the store's
    aliases and the catalog switch, then the new encoder is swapped in."""
    return await run_in_threadpool(activate, state, model_id)


def activate(state: ServiceState, model_id: int) -> ModelView:
    """Switch the active model version everywhere (see :func:`activate_model`)."""
    with session_scope(state.readers) as session:
        name = repo.get_model_version(session=session, ref=model_id).name
    encoder = state.encoder.prepare(name)
    try:
        state.store.set_active_version(name)
    except NotFoundError as exc:
        raise ProblemError(
            409, f"model version {name!r} has no collections in the store yet "
            f"(run `modalign reindex --model {name}`): {exc}"
        ) from exc
    with session_scope(state.sessions) as session:
        row = repo.activate_model_version(session=session, ref=model_id)
        session.refresh(row)
    state.encoder.use(encoder)
    return model_view(row, state.store)
