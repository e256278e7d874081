"""Settings: one object, read once at an entry point and passed down.

Every field can be set from the environment with the ``MODALIGN_`` prefix; nested sections use
a double underscore, e.g. ``MODALIGN_DATABASE__URL`` or ``MODALIGN_STORE__BACKEND``. Defaults are
the embedded mode: SQLite and qdrant-edge under one data directory, jobs run in-process.

Settings are strict: an unknown field of any section is refused, and :func:`load_settings` (what
the entry points call) refuses a ``MODALIGN_`` variable that names no setting, with the closest
valid name, so a misspelt variable fails at start-up instead of being ignored.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from modalign.errors import ConfigError

ENV_PREFIX = "MODALIGN_"
DOC_HINT = "the configuration table in README.md"
NOT_SETTINGS = frozenset({"MODALIGN_FAULT"})  # read elsewhere: the fault-injection hook


class Section(BaseModel):
    """A section of the settings: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class PathsSettings(Section):
    """Where modalign keeps its files. Everything lives under ``data_dir`` unless overridden."""

    data_dir: Path = Field(Path("data"), description="Root of every file modalign writes.")

    @property
    def demo_dir(self) -> Path:
        return self.data_dir / "demo"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def cache_dir(self) -> Path:
        return self.data_dir / "cache"

    @property
    def store_dir(self) -> Path:
        return self.data_dir / "qdrant"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def backups_dir(self) -> Path:
        """Where the service writes the backups asked for through its API."""
        return self.data_dir / "backups"

    def to_stored(self, path: Path) -> str:
        """``path`` as the catalog keeps it: relative to the data directory when inside it (so a
        copied, moved or restored data directory still finds its files), else absolute. Symlinks
        are kept as named: a file's identity is the name it was found under."""
        root = self.data_dir.resolve()
        named = Path(os.path.abspath(path))
        for candidate in (named, path.resolve()):
            if candidate.is_relative_to(root):
                return candidate.relative_to(root).as_posix()
        return str(named)

    def from_stored(self, stored: str) -> Path:
        """A path the catalog kept (see :meth:`to_stored`) as a path on this machine."""
        path = Path(stored)
        return path if path.is_absolute() else self.data_dir.resolve() / path


class DatabaseSettings(Section):
    """The metadata catalog (SQLAlchemy URL)."""

    url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/catalog.db."
    )
    echo: bool = Field(False, description="Log every SQL statement.")


class BrokerSettings(Section):
    """How ingestion batches are dispatched."""

    mode: Literal["inprocess", "celery"] = Field(
        "inprocess", description="inprocess: run batches in this process; celery: send to workers."
    )
    url: str = Field("redis://127.0.0.1:6379/0", description="Celery broker URL (Redis).")
    result_backend: str = Field(
        "redis://127.0.0.1:6379/1", description="Celery result backend URL (Redis)."
    )
    queue: str = Field("modalign", description="Celery queue the ingest tasks go to.")
    worker_concurrency: int = Field(1, ge=1, description="Worker processes per `modalign worker`.")
    max_retries: int = Field(5, ge=0, description="Retries of a batch on transient errors.")


class StoreSettings(Section):
    """The vector store."""

    backend: Literal["edge", "client"] = Field(
        "edge", description="edge: qdrant-edge in-process; client: qdrant-client (server or local)."
    )
    url: str | None = Field(
        None, description="Qdrant server URL for backend=client; unset means local mode on disk."
    )
    api_key: str | None = Field(None, description="Qdrant server API key.")
    collection_prefix: str = Field("modalign", description="Prefix of every collection name.")
    hnsw_m: int = Field(16, ge=4, description="HNSW graph degree.")
    hnsw_ef_construct: int = Field(128, ge=8, description="HNSW build-time beam width.")
    hnsw_ef: int = Field(128, ge=8, description="HNSW query-time beam width (default per query).")
    shard_number: int | None = Field(
        None, ge=1, description="Shards per collection on a Qdrant cluster (unset: server default)."
    )
    replication_factor: int | None = Field(
        None, ge=1, description="Copies of each shard on a Qdrant cluster (unset: server default)."
    )
    write_consistency_factor: int | None = Field(
        None, ge=1, description="Replicas that must confirm a write (unset: server default)."
    )
    quantization: Literal["none", "int8", "binary"] = Field(
        "none",
        description="Quantization of a model version's collections, fixed when they are created "
        "(docs/quantization.md): none; int8 (scalar: a quarter of the vectors' memory); binary "
        "(1 bit per dimension). Quantized collections keep their original vectors on disk "
        "(memory-mapped) and rescore the candidates with them.",
    )
    quantization_always_ram: bool = Field(
        True,
        description="Keep the quantized vectors in RAM (pinned); false leaves them "
        "memory-mapped, which the OS may evict under memory pressure.",
    )
    oversampling: float = Field(
        2.0, ge=1.0, le=16.0,
        description="Default per query on quantized collections: limit x this many candidates "
        "are rescored on the original vectors (1-16; a query may set its own).",
    )
    search_mode: Literal["vector", "keyword", "hybrid"] = Field(
        "hybrid",
        description="Default mode of a text query (docs/hybrid.md): vector (dense vectors), "
        "keyword (the words of captions and tags, BM25-style) or hybrid (both lists fused by "
        "reciprocal rank in one engine call); a query may set its own.",
    )
    hybrid_prefetch: int = Field(
        100, ge=1, le=1000,
        description="Hybrid queries: candidates taken from each of the dense and keyword lists "
        "before fusion (at least the page asked for).",
    )
    keyword_weight: float = Field(
        4.0, gt=0.0, le=100.0,
        description="Hybrid queries: weight of the keyword list in the reciprocal rank fusion "
        "(the dense list weighs 1).",
    )
    rrf_k: int = Field(
        60, ge=1, description="Hybrid queries: the k of reciprocal rank fusion, 1 / (k + rank)."
    )
    min_free_mb: int = Field(
        128, ge=0,
        description="The embedded store refuses writes (a clear disk-full error) while less "
        "than this many MB are free on its disk: its memory-mapped files would otherwise crash "
        "the process (SIGBUS) when the disk fills. 0: no check.",
    )


class EncoderSettings(Section):
    """The dual encoder."""

    model: str | None = Field(None, description="Model version to use; default the active one.")
    torch_threads: int = Field(2, ge=1, description="Threads torch / ONNX Runtime may use.")
    image_backend: Literal["onnx", "eager", "onnx-int8"] = Field(
        "onnx", description="Image tower runtime: onnx (fast, exact), eager (reference), onnx-int8."
    )
    text_backend: Literal["torch", "onnx"] = Field(
        "torch",
        description="Text tower runtime: torch (sentence-transformers) or onnx (same features).",
    )
    image_size: int = Field(224, ge=32, description="Image tower input size in pixels.")
    crop_to_content: bool = Field(
        True,
        description="`modalign train` crops images to their drawn content before letterboxing; "
        "a model keeps the value it was trained with.",
    )
    embed_dim: int = Field(256, ge=8, description="Dimension of the shared embedding space.")
    head: Literal["linear", "mlp"] = Field("mlp", description="Projection head kind.")
    finetune_top: int = Field(
        0, ge=0, le=16,
        description="Last image-tower blocks `modalign train` fine-tunes (0: frozen tower).",
    )
    batch_size: int = Field(64, ge=1, description="Batch size for encoding.")


class IngestSettings(Section):
    """Bulk ingestion."""

    batch_size: int = Field(64, ge=1, description="Items per dispatched batch.")
    max_image_bytes: int = Field(32 * 1024 * 1024, ge=1, description="Largest image file accepted.")
    max_image_pixels: int = Field(40_000_000, ge=1, description="Largest decoded image (w*h).")
    min_image_side: int = Field(8, ge=1, description="Smallest accepted image side in pixels.")
    max_aspect_ratio: float = Field(50.0, ge=1.0, description="Largest accepted long/short side.")
    max_caption_chars: int = Field(2000, ge=1, description="Captions are cut to this length.")
    max_sidecar_bytes: int = Field(
        1024 * 1024, ge=1, description="Largest caption sidecar (.txt/.json) read beside an image."
    )
    encoder_process: bool = Field(
        True,
        description="In-process jobs encode in a child process while this one reads and writes.",
    )
    lease_seconds: float = Field(
        30.0, gt=0,
        description="A job whose holder has not renewed its lease for this long is reported "
        "interrupted, and another process may resume it.",
    )
    heartbeat_seconds: float = Field(
        10.0, gt=0,
        description="How often the process running a job renews its lease (under lease_seconds).",
    )
    near_duplicates: Literal["off", "link", "skip"] = Field(
        "link",
        description="A new image within near_duplicate_threshold of one already indexed (or of "
        "an earlier one of its batch): off: not looked for; link: indexed and recorded as its "
        "near-duplicate; skip: not indexed, its item skipped naming the original.",
    )
    near_duplicate_threshold: float = Field(
        0.97, gt=0.0, le=1.0,
        description="Cosine of two images' embeddings at or above which they are "
        "near-duplicates, in (0, 1].",
    )

    @model_validator(mode="after")
    def _heartbeat_within_lease(self) -> IngestSettings:
        if self.heartbeat_seconds >= self.lease_seconds:
            raise ValueError(
                f"ingest.heartbeat_seconds ({self.heartbeat_seconds}) must be shorter than "
                f"ingest.lease_seconds ({self.lease_seconds}), or leases lapse between renewals"
            )
        return self


class ServiceSettings(Section):
    """The HTTP API."""

    host: str = Field("127.0.0.1", description="Address `modalign serve` binds.")
    port: int = Field(8000, ge=1, le=65535, description="Port `modalign serve` binds.")
    api_key: str | None = Field(
        None, description="If set, write endpoints need X-API-Key with this (write) key."
    )
    read_api_key: str | None = Field(
        None,
        description="If set, search, assets, jobs, models and the dashboard JSON need X-API-Key "
        "with this key or the write key; read-key callers see no host paths. Needs api_key.",
    )
    source_roots: list[Path] = Field(
        default_factory=list, description="Folders POST /v1/jobs may ingest from (besides data)."
    )
    max_upload_bytes: int = Field(10 * 1024 * 1024, ge=1, description="Largest query upload.")

    @model_validator(mode="after")
    def _read_key_beside_a_write_key(self) -> Self:
        # a read key without a write key would guard reads while leaving writes open
        if self.read_api_key is not None and self.api_key is None:
            raise ValueError("service.read_api_key needs service.api_key (the write key) too")
        if self.read_api_key is not None and self.read_api_key == self.api_key:
            raise ValueError("service.read_api_key must differ from service.api_key")
        return self


class Settings(BaseSettings):
    """All of modalign's configuration."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid"
    )

    paths: PathsSettings = Field(default_factory=PathsSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    encoders: EncoderSettings = Field(default_factory=EncoderSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    seed: int = Field(0, description="Seed for every random choice (splits, training).")

    @property
    def database_url(self) -> str:
        """The catalog URL, defaulting to SQLite under the data directory."""
        if self.database.url:
            return self.database.url
        return f"sqlite:///{(self.paths.data_dir / 'catalog.db').resolve()}"


def setting_fields(
    model: type[BaseModel] = Settings, prefix: str = ENV_PREFIX
) -> Iterator[tuple[str, FieldInfo]]:
    """Every setting as (environment variable, field): ``MODALIGN_STORE__BACKEND``, ..."""
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from setting_fields(annotation, f"{prefix}{name.upper()}__")
        else:
            yield f"{prefix}{name.upper()}", field


def setting_names() -> list[str]:
    """Every environment variable that names a setting."""
    return [name for name, _ in setting_fields()]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from the environment (what every entry point calls); ConfigError for a
    ``MODALIGN_`` variable that names no setting, or a value a setting refuses."""
    env = os.environ if environ is None else environ
    known = set(setting_names()) | NOT_SETTINGS
    for name in sorted(k for k in env if k.upper().startswith(ENV_PREFIX)):
        if name.upper() not in known:
            raise ConfigError(_unknown(name, known))
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(f"bad setting: {_problems(exc)}") from None


def _unknown(name: str, known: set[str]) -> str:
    bare = {k.removeprefix(ENV_PREFIX): k for k in known}  # the shared prefix says nothing
    close = difflib.get_close_matches(name.upper().removeprefix(ENV_PREFIX), sorted(bare), n=1)
    hint = f"; did you mean {bare[close[0]]}?" if close else f"; see {DOC_HINT}"
    return f"unknown setting {name}{hint}"


def _problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ENV_PREFIX + "__".join(str(p).upper() for p in error["loc"])
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)
