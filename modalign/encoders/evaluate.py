"""Evaluation of a model version on a split: exact ranks in both directions -> metrics.

text->image: each image's first (name) caption queries the split's images.
image->text: each image queries all the split's captions; a hit is any caption of that image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modalign.config import Settings
from modalign.encoders.data import Sample, samples_from_manifest
from modalign.encoders.dual import DualEncoder
from modalign.encoders.features.extract import SplitFeatures
from modalign.encoders.features.source import FeatureSource
from modalign.encoders.metrics import image_to_text_ranks, rank_metrics, text_to_image_ranks
from modalign.errors import InvalidInputError
from modalign.progress import ProgressSink


@dataclass
class EvalResult:
    """Exact ranks of one model on one split, and the metrics they give."""

    model: str
    split: str
    t2i_ranks: np.ndarray
    i2t_ranks: np.ndarray
    images: int
    captions: int

    def metrics(self) -> dict[str, Any]:
        """The issue's JSON object: model, split, text_to_image, image_to_text."""
        return {
            "model": self.model,
            "split": self.split,
            "text_to_image": rank_metrics(self.t2i_ranks, self.images),
            "image_to_text": rank_metrics(self.i2t_ranks, self.captions),
        }


def evaluate_embeddings(
    model: str,
    split: str,
    image_emb: np.ndarray,
    caption_emb: np.ndarray,
    caption_owner: np.ndarray,
    first_caption: np.ndarray,
) -> EvalResult:
    """Ranks of unit-norm embeddings (images; all captions with their owner image)."""
    return EvalResult(
        model=model,
        split=split,
        t2i_ranks=text_to_image_ranks(image_emb, caption_emb[first_caption]),
        i2t_ranks=image_to_text_ranks(image_emb, caption_emb, caption_owner),
        images=len(image_emb),
        captions=len(caption_emb),
    )


@dataclass(frozen=True)
class HardQuery:
    """A text->image query that ranked its image low: the query is image ``image``'s first
    caption, ``rank`` its image's rank, ``top`` the images retrieved first (split indices)."""

    image: int
    rank: int
    top: tuple[int, ...]


def worst_text_queries(
    image_emb: np.ndarray, query_emb: np.ndarray, ranks: np.ndarray, count: int = 20, top: int = 5
) -> list[HardQuery]:
    """The ``count`` text->image queries whose image ranked lowest (worst first; ties in split
    order), each with its ``top`` best-scoring images."""
    worst = np.argsort(-ranks, kind="stable")[:count]
    scores = query_emb[worst] @ image_emb.T
    best = np.argsort(-scores, axis=1, kind="stable")[:, :top]
    return [HardQuery(int(i), int(ranks[i]), tuple(int(j) for j in row))
            for i, row in zip(worst, best, strict=True)]


def evaluate_encoder(
    encoder: DualEncoder, split: str, features: SplitFeatures, worst: int = 0
) -> tuple[EvalResult, list[HardQuery]]:
    """Evaluate ``encoder`` on a split's tower features (the plain view of each image), with its
    ``worst`` text->image queries."""
    images = encoder.encode_image_features(features.images[:, 0])
    captions = encoder.encode_text_features(features.captions)
    result = evaluate_embeddings(
        encoder.version, split, images, captions, features.caption_owner, features.first_caption
    )
    queries = captions[features.first_caption]
    hard = worst_text_queries(images, queries, result.t2i_ranks, worst) if worst else []
    return result, hard


def summary_row(result: EvalResult) -> Sequence[float]:
    """t2i R@1/5/10 and i2t R@1/5/10 of a result, for tables."""
    metrics = result.metrics()
    return [metrics[d][f"R@{k}"] for d in ("text_to_image", "image_to_text") for k in (1, 5, 10)]


def ranks_file(directory: Path, split: str) -> Path:
    """Where a model's exact ranks on a split are kept (for reports beside other models)."""
    return directory / f"ranks-{split}.npz"


def save_ranks(result: EvalResult, path: Path) -> None:
    """Keep an evaluation's ranks (for reports that compare models)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, t2i=result.t2i_ranks, i2t=result.i2t_ranks,
             sizes=np.asarray([result.images, result.captions]), model=np.asarray(result.model))


def load_ranks(path: Path, split: str) -> EvalResult:
    """An evaluation saved by ``save_ranks``."""
    with np.load(path, allow_pickle=False) as data:
        images, captions = (int(x) for x in data["sizes"])
        return EvalResult(str(data["model"]), split, data["t2i"], data["i2t"], images, captions)


@dataclass
class ModelEvaluation:
    """An evaluation with what a report shows beside the figures: the split's samples (in the
    order of the ranks) and its worst text->image queries."""

    result: EvalResult
    samples: list[Sample]
    worst: list[HardQuery]


def evaluate_model(
    settings: Settings,
    manifest: Path,
    split: str,
    version: str | None = None,
    sink: ProgressSink | None = None,
    heads_only: bool = False,
    worst: int = 0,
) -> ModelEvaluation:
    """Exact-rank evaluation of a model version on one split of ``manifest`` (``heads_only``:
    without its pair memory), with its ``worst`` text->image queries."""
    from modalign.encoders.load import load_model, with_crop

    encoder, tuned = load_model(settings, version, heads_only)
    samples = samples_from_manifest(manifest, split)
    if not samples:
        raise InvalidInputError(f"{manifest}: no images in split {split!r}")
    prepared = with_crop(settings, encoder.crop_to_content)
    features = FeatureSource(prepared, sink, tuned=tuned).features(samples)
    result, hard = evaluate_encoder(encoder, split, features, worst)
    return ModelEvaluation(result, samples, hard)
