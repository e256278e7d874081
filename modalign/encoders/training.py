"""``modalign train`` end to end: manifest -> features -> heads (:mod:`.fit`) -> memory -> card.

Version names come from :mod:`.model_versions`; evaluating a version is :mod:`.evaluate`.

A training run lives in ``<models_dir>/<version>/``: ``train_state.pt`` while it runs (an
interrupted run resumes from it), then ``heads.safetensors`` + ``card.json`` + ``training.png``
(+ ``tower.safetensors`` when the image tower's top blocks were fine-tuned: then training runs on
cached activations, see ``modalign.encoders.finetune``, and evaluation uses the tuned tower).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from modalign.config import Settings
from modalign.encoders import defaults
from modalign.encoders.checkpoint import ModelCard, logit_temperature, save_checkpoint
from modalign.encoders.data import Sample, data_hash, samples_from_manifest
from modalign.encoders.ensemble import HeadEnsemble, Heads
from modalign.encoders.evaluate import EvalResult, evaluate_embeddings
from modalign.encoders.features.extract import SplitFeatures
from modalign.encoders.features.source import FeatureSource
from modalign.encoders.fit import (
    EpochRecord,
    TrainConfig,
    TrainResult,
    tower_features,
    train_heads,
)
from modalign.encoders.heads import AlignmentHeads
from modalign.encoders.memory import MemorySpec, PairMemory
from modalign.encoders.model_versions import choose_version
from modalign.encoders.report import plot_training
from modalign.encoders.shared_towers import image_cache_id, text_cache_id
from modalign.encoders.towers import IMAGE_FEATURE_DIM
from modalign.encoders.tuned import (
    TOWER_FILE,
    TunedTower,
    card_entry,
    serialize_weights,
    weights_digest,
)
from modalign.errors import InvalidInputError
from modalign.progress import ProgressSink

if TYPE_CHECKING:
    from torch import nn

    from modalign.encoders.finetune import FineTuneData

log = logging.getLogger(__name__)

STATE_FILE = "train_state.pt"
SPLITS = ("train", "val", "test")


@dataclass
class TrainOutcome:
    """A finished training run."""

    card: ModelCard
    directory: Path
    result: TrainResult
    evals: dict[str, EvalResult]
    timings: dict[str, float] = field(default_factory=dict)


PREPROCESS: Mapping[bool, str] = MappingProxyType({  # by encoders.crop_to_content
    False: "letterbox on white, bicubic, mean=std=0.5",
    True: "crop to content (4% margin), letterbox on white, bicubic, mean=std=0.5",
})


def split_samples(manifest: Path) -> dict[str, list[Sample]]:
    """The manifest's samples by split; train and val must not be empty."""
    samples = samples_from_manifest(manifest)
    by_split = {name: [s for s in samples if s.split == name] for name in SPLITS}
    for name in ("train", "val"):
        if len(by_split[name]) < 2:
            raise InvalidInputError(f"{manifest}: the {name} split needs at least 2 images")
    return by_split


def head_embeddings(
    heads: Heads, f: SplitFeatures, tower: nn.Module | None = None, view: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Unit image (one view, through ``tower`` if any) and caption embeddings of a split."""
    import torch

    rows = f.images[:, view]
    features = tower_features(tower, rows) if tower is not None else rows
    with torch.inference_mode():
        images = heads.embed_images(torch.from_numpy(features)).numpy()
        captions = heads.embed_texts(torch.from_numpy(f.captions)).numpy()
    return images, captions


def evaluate_heads(
    name: str, split: str, embedded: tuple[np.ndarray, np.ndarray], f: SplitFeatures,
    memory: PairMemory | None = None,
) -> EvalResult:
    """Evaluate a split's head embeddings (expanded by ``memory`` if given)."""
    images, captions = embedded
    if memory is not None:
        images, captions = memory.expand_images(images), memory.expand_texts(captions)
    return evaluate_embeddings(name, split, images, captions, f.caption_owner, f.first_caption)


def _card(
    settings: Settings, name: str, heads: Heads, config: TrainConfig,
    samples: dict[str, list[Sample]], evals: dict[str, EvalResult], extra: dict[str, object],
    tuned: TunedTower | None = None,
) -> ModelCard:
    image: dict[str, object] = {
        "name": "efficientnet-lite0", "id": image_cache_id(settings, "onnx", tuned),
        "feature_dim": heads.spec.image_dim, "image_size": settings.encoders.image_size,
        "preprocess": PREPROCESS[settings.encoders.crop_to_content],
        "crop_to_content": settings.encoders.crop_to_content,
    }
    if tuned is not None:
        image["base_id"] = image_cache_id(settings, "onnx")
        image["finetune"] = card_entry(tuned.top_blocks, tuned.digest, config.tower_lr_scale)
    towers = {
        "image": image,
        "text": {"name": "all-MiniLM-L6-v2", "id": text_cache_id(),
                 "feature_dim": heads.spec.text_dim},
    }
    return ModelCard(
        name=name, towers=towers, heads=heads.spec.to_dict(),
        temperature=logit_temperature(heads),
        data_hash=data_hash([*samples["train"], *samples["val"]]),
        metrics={split: result.metrics() for split, result in evals.items()},
        training={"config": config.to_dict(), **extra},
    )


def train_model(
    settings: Settings,
    manifest: Path,
    config: TrainConfig,
    version: str | None = None,
    views: Sequence[str] = defaults.TRAINING_VIEWS,
    sink: ProgressSink | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    memory_spec: MemorySpec = MemorySpec(),
) -> TrainOutcome:
    """Cache features, train the heads, build the pair memory from the training split (unless
    ``memory_spec`` weighs 0), evaluate on val and test, write the checkpoint."""
    started = time.perf_counter()
    if config.finetune_top and config.spec.members > 1:
        raise InvalidInputError("an ensemble of heads cannot be trained with a fine-tuned tower")
    samples = split_samples(manifest)
    # an interrupted run resumes only on images prepared the same way (size, crop to content)
    config = replace(config, image_features=image_cache_id(settings, "onnx"))
    tuning = _finetune_data(settings, samples, views, config, sink)
    features = tuning.features if tuning else _frozen_features(settings, samples, views, sink)
    extracted = time.perf_counter()
    config = config.with_spec(
        image_dim=IMAGE_FEATURE_DIM if tuning else features["train"].images.shape[2],
        text_dim=features["train"].captions.shape[1],
    )
    name = version or choose_version(settings.paths.models_dir)
    directory = settings.paths.models_dir / name
    if config.spec.members > 1:
        result = _train_ensemble(features, config, directory, on_epoch)
    else:
        result = train_heads(
            features["train"], features["val"], config, directory / STATE_FILE, on_epoch,
            tower=tuning.top if tuning else None,
        )
    embedded = {split: head_embeddings(result.heads, f, result.tower,
                                       _plain_view(views) if split == "train" else 0)
                for split, f in features.items()}
    memory = _memory(embedded["train"], features["train"], memory_spec)
    evals: dict[str, EvalResult] = {
        split: evaluate_heads(name, split, embedded[split], features[split], memory)
        for split in ("val", "test") if split in features
    }
    timings = {"features_s": extracted - started, "heads_s": result.seconds}
    extra: dict[str, object] = {
        "manifest": str(manifest), "views": list(views), "epochs_run": len(result.history),
        "best_epoch": result.best_epoch, "images": {k: len(v) for k, v in samples.items()},
        "timings": timings,
    }
    if memory is not None:
        extra["heads_only_metrics"] = {
            split: evaluate_heads(name, split, embedded[split], features[split]).metrics()
            for split in evals
        }
    weights, tuned = _tower_weights(directory, tuning)
    card = _card(settings, name, result.heads, config, samples, evals, extra, tuned)
    card.memory = memory.card_entry() if memory is not None else {}
    save_checkpoint(directory, result.heads, card, weights, memory)
    plot_training(result.history, directory / "training.png", f"model {name}")
    for state in directory.glob("train_state*.pt"):
        state.unlink()
    timings["total_s"] = time.perf_counter() - started
    return TrainOutcome(card, directory, result, evals, timings)


def _plain_view(views: Sequence[str]) -> int:
    """Index of the plain view among the training views (the memory's image keys), else 0."""
    if "plain" in views:
        return list(views).index("plain")
    log.warning("no plain view among %s: the pair memory keys the training images by %s",
                list(views), views[0])
    return 0


def _memory(
    embedded: tuple[np.ndarray, np.ndarray], train: SplitFeatures, spec: MemorySpec
) -> PairMemory | None:
    """The training split's pair memory (None when ``spec`` weighs 0)."""
    if spec.weight == 0:
        return None
    return PairMemory.build(*embedded, train.caption_owner, spec)


def _train_ensemble(
    features: dict[str, SplitFeatures], config: TrainConfig, directory: Path,
    on_epoch: Callable[[EpochRecord], None] | None,
) -> TrainResult:
    """``config.spec.members`` heads under seeds seed, seed + 1, ... (each resumable from its own
    state file), joined by a projection fitted on the training split's plain view."""
    single = config.with_spec(members=1)
    members = [
        train_heads(
            features["train"], features["val"], replace(single, seed=config.seed + index),
            directory / f"train_state-{index}.pt", on_epoch,
        )
        for index in range(config.spec.members)
    ]
    heads = [m.heads for m in members if isinstance(m.heads, AlignmentHeads)]
    ensemble = HeadEnsemble(config.spec, heads)
    ensemble.fit_projection(features["train"].images[:, 0], features["train"].captions)
    history, offset = [], 0  # members' epochs numbered on from each other (one training curve)
    for member in members:
        history += [replace(record, epoch=offset + record.epoch) for record in member.history]
        offset += len(member.history)
    return TrainResult(
        ensemble.eval(), history, members[0].best_epoch, sum(m.seconds for m in members)
    )


def _frozen_features(
    settings: Settings, samples: dict[str, list[Sample]], views: Sequence[str],
    sink: ProgressSink | None,
) -> dict[str, SplitFeatures]:
    """Tower features of every split (train: every view) from the frozen, exact image tower."""
    backend = "onnx" if settings.encoders.image_backend == "onnx-int8" else None
    source = FeatureSource(settings, sink, backend=backend)
    return {
        name: source.features(samples[name], views if name == "train" else ("plain",))
        for name in SPLITS if samples[name]
    }


def _finetune_data(
    settings: Settings, samples: dict[str, list[Sample]], views: Sequence[str],
    config: TrainConfig, sink: ProgressSink | None,
) -> FineTuneData | None:
    """Cached activations and the network to tune, when ``config`` fine-tunes the tower."""
    if not config.finetune_top:
        return None
    from modalign.encoders.finetune import finetune_data

    chosen = {name: samples[name] for name in SPLITS}
    return finetune_data(settings, chosen, views, config.finetune_top, sink)


def _tower_weights(
    directory: Path, tuning: FineTuneData | None
) -> tuple[bytes | None, TunedTower | None]:
    """The fine-tuned tower's serialised weights and their ``TunedTower`` (None if frozen)."""
    if tuning is None:
        return None, None
    weights = serialize_weights(tuning.network.top_state(tuning.top_blocks))
    return weights, TunedTower(directory / TOWER_FILE, weights_digest(weights), tuning.top_blocks)


def default_manifest(settings: Settings) -> Path:
    """The demo manifest under the data directory."""
    return settings.paths.demo_dir / "manifest.jsonl"
