"""Request and response bodies of the HTTP API (pydantic), each with an OpenAPI example."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from modalign.search.filters import Filter
from modalign.search.quantization import MAX_OVERSAMPLING, MIN_OVERSAMPLING
from modalign.search.results import CaptionHit, ImageHit

MAX_LIMIT = 100
MAX_OFFSET = 10_000
MAX_TEXT_CHARS = 1_000
MAX_VECTOR_DIM = 4_096

JOB_EXAMPLE: Any = {
    "id": 3, "kind": "ingest", "status": "running", "dataset": "demo",
    "tags": [], "source": {"path": "/data/demo/manifest.jsonl"},
    "total_items": 1000, "done_items": 400, "failed_items": 2,
    "skipped_items": 0, "pending_items": 598, "new_points": 800,
    "progress": 0.402, "rate_items_per_s": 55.1, "eta_s": 10.9,
    "created_at": "2026-01-01T00:00:00Z", "started_at": "2026-01-01T00:00:01Z",
    "finished_at": None, "updated_at": "2026-01-01T00:00:08Z",
    "model_version_id": 1, "error": None,
    "owner": "api:host1:4242:98765", "holder": "the API service, process 4242 on host1",
    "heartbeat_at": "2026-01-01T00:00:08Z", "lease_expires_at": "2026-01-01T00:00:38Z",
    "resume_command": None,
}

MODEL_EXAMPLE: Any = {
    "id": 1, "name": "v1", "dims": 256, "active": True,
    "created_at": "2026-01-01T00:00:00Z", "metrics": {"i2t_r@1": 0.41},
    "card": {}, "collections": [],
}

FILTER_EXAMPLE: Any = {"must": [{"field": "source", "op": "match", "value": "emoji"}]}


class QueryKnobs(BaseModel):
    """Paging and engine knobs shared by every search."""

    model_config = ConfigDict(extra="forbid")

    filter: Filter | None = Field(None, description="Payload filter (must / should / must_not).")
    limit: int = Field(10, ge=1, le=MAX_LIMIT, description="Hits to return.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET, description="Hits to skip (paging).")
    score_threshold: float | None = Field(
        None, ge=-1.0, le=1.0, description="Drop hits with a lower cosine similarity."
    )
    ef: int | None = Field(None, ge=8, le=4_096, description="HNSW beam width for this query.")
    exact: bool = Field(False, description="Brute-force search instead of HNSW.")
    oversampling: float | None = Field(
        None, ge=MIN_OVERSAMPLING, le=MAX_OVERSAMPLING,
        description="Quantized collections: limit x this many candidates are rescored on the "
        "original vectors (default: the store's setting). Ignored without quantization.",
    )
    hydrate: bool = Field(True, description="Attach each hit's catalog metadata and captions.")
    collapse_duplicates: bool = Field(
        False, description="Image searches: one hit, the best, per near-duplicate group."
    )
    group_by_asset: bool = Field(
        False, description="Caption searches: each image's best caption, once."
    )
    text_weight: float = Field(
        0.5, ge=0.0, le=1.0,
        description="A text sent with an uploaded image (a combined query): the weight of the "
        "text's embedding in the sum (the image's is 1 minus it).",
    )


class QueryBody(QueryKnobs):
    """A JSON search: a text query, or a raw query vector."""

    text: str | None = Field(
        None, min_length=1, max_length=MAX_TEXT_CHARS, description="Free-text query."
    )
    vector: list[Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        None, min_length=1, max_length=MAX_VECTOR_DIM,
        description="A query vector in the model's embedding space (instead of text).",
    )
    mode: Literal["vector", "keyword", "hybrid"] | None = Field(
        None,
        description="Text queries: vector (embeddings), keyword (the words of captions and "
        "tags) or hybrid (both lists fused by reciprocal rank); default: the service's "
        "store.search_mode. Vector queries search with mode vector only.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": "a red apple", "limit": 5},
                {"text": "a cat", "filter": FILTER_EXAMPLE, "limit": 10, "offset": 10},
            ]
        },
    )

    @model_validator(mode="after")
    def _one_query(self) -> Self:
        if (self.text is None) == (self.vector is None):
            raise ValueError("give exactly one of 'text' or 'vector'")
        if self.text is not None and not self.text.strip():
            raise ValueError("'text' must not be blank")
        return self


class SimilarBody(QueryKnobs):
    """Images like a catalogued one."""

    asset_id: int = Field(ge=1, le=2**62, description="The asset whose image is the query.")

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"asset_id": 1, "limit": 8}]}
    )


class UploadForm(BaseModel):
    """A multipart search: the image file plus the same knobs as plain form fields."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"file": "<PNG or JPEG bytes>", "limit": 10, "filter": '{"must": []}'}
    ]})

    file: bytes = Field(json_schema_extra={"format": "binary"}, description="The query image.")
    limit: int = Field(10, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    score_threshold: float | None = Field(None, ge=-1.0, le=1.0)
    ef: int | None = Field(None, ge=8, le=4_096)
    exact: bool = False
    oversampling: float | None = Field(None, ge=MIN_OVERSAMPLING, le=MAX_OVERSAMPLING)
    hydrate: bool = True
    collapse_duplicates: bool = False
    group_by_asset: bool = False
    text_weight: float = Field(0.5, ge=0.0, le=1.0)
    text: str | None = Field(
        None, min_length=1, max_length=MAX_TEXT_CHARS,
        description="With the image, a combined query: \"this picture, but red\".",
    )
    mode: Literal["vector", "keyword", "hybrid"] | None = Field(
        None, description="A combined query's mode (keyword needs a text alone)."
    )
    filter: str | None = Field(None, description="The filter as a JSON string.")


class JobRequest(BaseModel):
    """Ingest a source path (folder, JSONL manifest, COCO or Flickr30K captions)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"source": "demo/manifest.jsonl", "dataset": "demo", "tags": ["demo"]}]
        },
    )

    source: str = Field(
        min_length=1, max_length=4_096,
        description="Path under an allowed folder; relative paths are taken from the data dir.",
    )
    image_root: str | None = Field(
        None, min_length=1, max_length=4_096,
        description="Where a COCO/Flickr30K captions file's images are (default: its folder).",
    )
    dataset: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[\w.\-]+$")
    tags: list[Annotated[str, Field(min_length=1, max_length=100)]] = Field(
        default_factory=list, max_length=32
    )
    sync: bool = Field(
        False,
        description="Make the dataset follow the source: add what is new, re-embed what changed, "
        "remove what vanished (a sync job).",
    )


Text = Annotated[str, Field(min_length=1, max_length=2_000)]
MAX_EDIT_ITEMS = 256


class ListEditBody(BaseModel):
    """A change to a list of texts: ``replace`` it whole, or ``add`` and ``remove`` items."""

    model_config = ConfigDict(extra="forbid")

    replace: list[Text] | None = Field(None, max_length=MAX_EDIT_ITEMS)
    add: list[Text] = Field(default_factory=list, max_length=MAX_EDIT_ITEMS)
    remove: list[Text] = Field(default_factory=list, max_length=MAX_EDIT_ITEMS)


class AssetUpdateBody(BaseModel):
    """Edit an asset's captions and tags (every model version's points follow)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"captions": {"add": ["a red kite"]}, "tags": {"remove": ["draft"]}},
            {"captions": {"replace": ["a kite", "a red kite in the sky"]}},
        ]},
    )

    captions: ListEditBody = Field(default_factory=ListEditBody)
    tags: ListEditBody = Field(default_factory=ListEditBody)


class DeleteBody(BaseModel):
    """What to delete: asset ids, a dataset (withdrawn membership by membership), a filter, or
    ``all``; ``dry_run`` reports what would go and changes nothing."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [
            {"dataset": "old-photos"}, {"asset_ids": [3, 7], "dry_run": True},
            {"filter": FILTER_EXAMPLE},
        ]},
    )

    asset_ids: list[Annotated[int, Field(ge=1, le=2**62)]] = Field(
        default_factory=list, max_length=10_000
    )
    dataset: str | None = Field(None, min_length=1, max_length=128)
    filter: Filter | None = None
    all: bool = Field(False, description="Delete every asset (refused with any other target).")
    dry_run: bool = False


class DeleteView(BaseModel):
    """What a delete will do (a dry run) or is doing (its job)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"dry_run": True, "assets": 0, "memberships": 2, "sample": ["old/a.png", "old/b.png"],
         "job": None},
    ]})

    dry_run: bool
    assets: int = Field(description="Whole assets named.")
    memberships: int = Field(description="Memberships named (an asset goes with its last one).")
    sample: list[str] = Field(description="Files of the first few.")
    job: JobView | None = Field(None, description="The delete job (absent for a dry run).")


class FailureView(BaseModel):
    """A job item that failed, and why."""

    seq: int
    uri: str
    error: str | None
    attempts: int


class JobView(BaseModel):
    """A job's state and progress counters."""

    model_config = ConfigDict(json_schema_extra={"examples": [JOB_EXAMPLE]})

    id: int
    kind: str
    status: str = Field(
        description="pending, running, completed, completed_with_errors, failed, cancelled; or "
        "interrupted: pending or running, but no live process holds the job's lease."
    )
    dataset: str
    tags: list[str]
    source: dict[str, Any]
    total_items: int
    done_items: int
    failed_items: int
    skipped_items: int
    pending_items: int
    new_points: int
    progress: float = Field(description="Finished items / total items (0..1).")
    rate_items_per_s: float | None = Field(description="Finished items per second so far.")
    eta_s: float | None = Field(description="Seconds left at the current rate.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    model_version_id: int | None
    error: str | None
    owner: str | None = Field(
        description="The process holding (or that last held) the job: role:host:pid:start-token."
    )
    holder: str = Field(description="The owner in words.")
    heartbeat_at: datetime | None = Field(description="When the owner last renewed the lease.")
    lease_expires_at: datetime | None = Field(
        description="When the lease lapses unless the owner renews it."
    )
    resume_command: str | None = Field(
        description="For an interrupted job: the command that finishes it (or POST "
        "/v1/jobs/{id}/resume)."
    )


class JobDetail(JobView):
    """A job with its failed items (first page)."""

    failures: list[FailureView]


class JobList(BaseModel):
    """Jobs, newest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"jobs": [JOB_EXAMPLE]}]})

    jobs: list[JobView]


class ModelView(BaseModel):
    """A registered model version."""

    model_config = ConfigDict(json_schema_extra={"examples": [MODEL_EXAMPLE]})

    id: int
    name: str
    dims: int
    active: bool
    created_at: datetime
    metrics: dict[str, Any]
    card: dict[str, Any]
    collections: list[CollectionView] = Field(default_factory=list)


class CollectionView(BaseModel):
    """A vector collection's size and index state."""

    name: str
    kind: str
    points: int
    indexed_points: int
    segments: int
    status: str
    quantization: str = Field("none", description="none, int8 or binary (fixed at creation).")


class ModelList(BaseModel):
    """Every model version and the active one."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"models": [MODEL_EXAMPLE], "active": "v1"}]}
    )

    models: list[ModelView]
    active: str | None = Field(description="Name of the active model version.")


class CaptionView(BaseModel):
    id: int
    text: str
    position: int


class AssetView(BaseModel):
    """A catalogued image and its captions."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{
                "id": 7, "content_hash": "ab" * 32, "uri": "emoji/1f34e.png", "width": 128,
                "height": 128, "mime": "image/png", "size_bytes": 5120, "source": "emoji",
                "dataset": "demo", "datasets": ["demo"], "split": "train", "tags": ["food"],
                "created_at": "2026-01-01T00:00:00Z", "thumbnail_url": "/v1/assets/7/thumbnail",
                "captions": [{"id": 9, "text": "red apple", "position": 0}],
            }]
        }
    )

    id: int
    content_hash: str
    uri: str
    width: int
    height: int
    mime: str
    size_bytes: int
    source: str
    dataset: str
    datasets: list[str] = Field(description="Every dataset the image belongs to.")
    split: str | None
    tags: list[str]
    created_at: datetime
    thumbnail_url: str
    captions: list[CaptionView]


class CheckView(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    """Whether each dependency answered."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "status": "ok",
        "checks": {
            "database": {"ok": True, "detail": "sqlite"},
            "store": {"ok": True, "detail": "1 model version(s), active v1"},
            "broker": {"ok": True, "detail": "not used (jobs run in-process)"},
            "encoder": {"ok": True, "detail": "model v1"},
        },
    }]})

    status: str = Field(description="ok when every check passed.")
    checks: dict[str, CheckView]


class CollectionCheckView(BaseModel):
    """One collection of one model version as the last check saw it."""

    version: str
    kind: str
    catalog: int = Field(description="Points the catalog says it holds.")
    store: int = Field(description="Points it holds.")
    missing: int
    orphans: int
    mismatched: int = Field(description="Points whose payload disagrees with the catalog.")
    clean: bool


class CheckState(BaseModel):
    """The last ``modalign check`` the service ran (refreshed in the background)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "checked_at": "2026-01-01T00:00:00Z", "clean": True, "memberless_assets": 0,
        "unfinished_jobs": [],
        "collections": [{"version": "v1", "kind": "images", "catalog": 7300, "store": 7300,
                         "missing": 0, "orphans": 0, "mismatched": 0, "clean": True}],
    }]})

    checked_at: datetime
    clean: bool
    collections: list[CollectionCheckView]
    memberless_assets: int
    unfinished_jobs: list[int]


class ThroughputPoint(BaseModel):
    start: datetime
    items: int


class Dashboard(BaseModel):
    """Everything the ops page shows, in one poll."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "jobs": [{**JOB_EXAMPLE, "failures": [
            {"seq": 17, "uri": "bad/page.jpg", "error": "not an image: content is HTML",
             "attempts": 1}]}],
        "throughput": [{"start": "2026-01-01T00:00:00Z", "items": 3300}],
        "queue_depth": 4, "broker_mode": "inprocess", "models": [MODEL_EXAMPLE],
        "active_model": "v1",
        "item_totals": {"pending": 598, "done": 400, "failed": 2, "skipped": 0},
    }]})

    jobs: list[JobDetail] = Field(description="Newest jobs, each with its first failures.")
    throughput: list[ThroughputPoint]
    queue_depth: int | None
    broker_mode: str
    models: list[ModelView]
    active_model: str | None
    item_totals: dict[str, int]
    check: CheckState | None = Field(
        None, description="The last check of catalog and store (none yet: one is running)."
    )


HIT_EXAMPLE: Any = {
    "point_id": "0b3c6f9e-3f43-5c35-9a52-5f1fe1c1e0a1", "score": 0.412, "asset_id": 7,
    "payload": {"asset_id": 7, "source": "emoji", "dataset": "demo", "tags": ["food"]},
    "asset": {
        "asset_id": 7, "uri": "/data/demo/emoji/1f34e.png", "width": 128, "height": 128,
        "source": "emoji", "dataset": "demo", "split": "test", "tags": ["food"],
        "created_at": "2026-01-01T00:00:00Z", "content_hash": "ab" * 32,
        "captions": [{"text": "red apple", "position": 0}],
    },
}


class ImageHits(BaseModel):
    """Images found, best first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"hits": [HIT_EXAMPLE]}]})

    hits: list[ImageHit]


class CaptionHits(BaseModel):
    """Captions found, best first, each with the image it describes."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"hits": [{
        **HIT_EXAMPLE, "text": "red apple", "position": 0,
        "image_point_id": "0b3c6f9e-3f43-5c35-9a52-5f1fe1c1e0a1",
    }]}]})

    hits: list[CaptionHit]


class DuplicatePairView(BaseModel):
    """A recorded relation: ``asset_id`` is a near-duplicate of ``original_asset_id``."""

    asset_id: int
    original_asset_id: int
    cosine: float


class DuplicateGroupView(BaseModel):
    """Assets tied by recorded near-duplicate pairs (smallest id first)."""

    asset_ids: list[int]
    pairs: list[DuplicatePairView]


class DuplicatesView(BaseModel):
    """The near-duplicate groups recorded at ingestion in one model version, largest first."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "version": "v1", "dataset": None, "threshold": None,
        "groups": [{"asset_ids": [3, 9], "pairs": [
            {"asset_id": 9, "original_asset_id": 3, "cosine": 0.971}
        ]}],
    }]})

    version: str
    dataset: str | None
    threshold: float | None
    groups: list[DuplicateGroupView]
