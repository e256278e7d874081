"""Training the projection heads on cached tower features with symmetric InfoNCE.

Each step takes a batch of images, one (randomly chosen) augmented view and one sampled caption per
image, and minimises the CLIP loss with same-group pairs masked. AdamW, linear warmup then cosine
decay; after every epoch the validation recall@10 (mean of both directions) is measured, the
best heads kept, and training stops after ``patience`` epochs without improvement. The full state
is saved after every epoch, so an interrupted run resumes where it stopped and ends with the same
weights.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from modalign.encoders.extract import SplitFeatures
from modalign.encoders.heads import AlignmentHeads, HeadSpec
from modalign.encoders.loss import ClipLoss
from modalign.encoders.metrics import image_to_text_ranks, rank_metrics, text_to_image_ranks
from modalign.encoders.schedule import warmup_cosine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of head training."""

    spec: HeadSpec = field(default_factory=HeadSpec)
    epochs: int = 30
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.05
    patience: int = 5
    first_caption_prob: float = 0.5
    feature_noise: float = 0.0
    ema_decay: float = 0.995  # > 0: evaluate and keep an exponential moving average of weights
    seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def with_spec(self, **changes: Any) -> TrainConfig:
        return replace(self, spec=replace(self.spec, **changes))


@dataclass
class EpochRecord:
    """What one epoch did."""

    epoch: int
    loss: float
    lr: float
    temperature: float
    val_t2i_r10: float
    val_i2t_r10: float
    seconds: float

    @property
    def score(self) -> float:
        return (self.val_t2i_r10 + self.val_i2t_r10) / 2


@dataclass
class TrainResult:
    """The best heads and the history that led to them."""

    heads: AlignmentHeads
    history: list[EpochRecord]
    best_epoch: int
    seconds: float


@dataclass
class _State:
    heads: AlignmentHeads
    optimizer: torch.optim.Optimizer
    rng: np.random.Generator
    step: int = 0
    epoch: int = 0
    best_score: float = -1.0
    best_epoch: int = 0
    best_weights: dict[str, torch.Tensor] = field(default_factory=dict)
    history: list[EpochRecord] = field(default_factory=list)
    stale: int = 0
    ema: AlignmentHeads | None = None

    @property
    def model(self) -> AlignmentHeads:
        """The weights that are evaluated and kept: the moving average if there is one."""
        return self.ema if self.ema is not None else self.heads

    def update_ema(self, decay: float) -> None:
        if self.ema is None:
            return
        with torch.no_grad():
            current = self.heads.state_dict()
            for name, value in self.ema.state_dict().items():
                value.lerp_(current[name], 1.0 - decay)


def evaluate_features(heads: AlignmentHeads, split: SplitFeatures) -> dict[str, dict[str, Any]]:
    """Retrieval metrics of ``heads`` on a split's cached features (plain view)."""
    with torch.inference_mode():
        images = heads.embed_images(torch.from_numpy(split.images[:, 0])).numpy()
        captions = heads.embed_texts(torch.from_numpy(split.captions)).numpy()
    t2i = text_to_image_ranks(images, captions[split.first_caption])
    i2t = image_to_text_ranks(images, captions, split.caption_owner)
    return {
        "text_to_image": rank_metrics(t2i, len(images)),
        "image_to_text": rank_metrics(i2t, len(captions)),
    }


def _sample_batch(
    split: SplitFeatures, index: np.ndarray, rng: np.random.Generator, first_prob: float
) -> tuple[np.ndarray, np.ndarray]:
    """Image features (one random view each) and one sampled caption's features per image."""
    views = rng.integers(0, split.images.shape[1], size=len(index))
    counts = np.bincount(split.caption_owner, minlength=split.n_images)[index]
    other = 1 + np.floor(rng.random(len(index)) * np.maximum(counts - 1, 1)).astype(np.int64)
    use_first = (rng.random(len(index)) < first_prob) | (counts <= 1)
    offset = np.where(use_first, 0, np.minimum(other, counts - 1))
    return split.images[index, views], split.captions[split.first_caption[index] + offset]


def _new_state(config: TrainConfig) -> _State:
    torch.manual_seed(config.seed)
    heads = AlignmentHeads(config.spec)
    decay = [p for n, p in heads.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in heads.named_parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=config.lr,
    )
    ema = copy.deepcopy(heads).eval() if config.ema_decay > 0 else None
    return _State(heads, optimizer, np.random.default_rng(config.seed), ema=ema)


def _run_epoch(state: _State, split: SplitFeatures, config: TrainConfig, total: int) -> float:
    state.heads.train()
    loss_fn, losses = ClipLoss(), []
    order = state.rng.permutation(split.n_images)
    warmup = int(config.warmup_fraction * total)
    for start in range(0, len(order) - 1, config.batch_size):
        index = order[start : start + config.batch_size]
        if len(index) < 2:
            break
        images, texts = _sample_batch(split, index, state.rng, config.first_caption_prob)
        image_t, text_t = torch.from_numpy(images), torch.from_numpy(texts)
        if config.feature_noise > 0:
            image_t = image_t + config.feature_noise * image_t.std() * torch.randn_like(image_t)
        for group in state.optimizer.param_groups:
            group["lr"] = config.lr * warmup_cosine(state.step, warmup, total)
        loss = loss_fn(
            state.heads.embed_images(image_t), state.heads.embed_texts(text_t),
            state.heads.scale(), torch.from_numpy(split.groups[index]),
        )
        state.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        state.optimizer.step()
        state.update_ema(config.ema_decay)
        state.step += 1
        losses.append(loss.item())
    state.heads.eval()
    return float(np.mean(losses)) if losses else float("nan")


def _save_state(path: Path, state: _State, config: TrainConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "fingerprint": config.fingerprint(), "heads": state.heads.state_dict(),
        "optimizer": state.optimizer.state_dict(), "rng": state.rng.bit_generator.state,
        "torch_rng": torch.get_rng_state(), "step": state.step, "epoch": state.epoch,
        "best_score": state.best_score, "best_epoch": state.best_epoch,
        "best_weights": state.best_weights, "stale": state.stale,
        "history": [asdict(record) for record in state.history],
        "ema": state.ema.state_dict() if state.ema is not None else None,
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def _load_state(path: Path, config: TrainConfig) -> _State | None:
    if not path.exists():
        return None
    payload = torch.load(path, weights_only=False)
    if payload.get("fingerprint") != config.fingerprint():
        log.warning("ignoring %s: it was made with another training configuration", path)
        return None
    state = _new_state(config)
    state.heads.load_state_dict(payload["heads"])
    state.optimizer.load_state_dict(payload["optimizer"])
    state.rng.bit_generator.state = payload["rng"]
    torch.set_rng_state(payload["torch_rng"])
    for name in ("step", "epoch", "best_score", "best_epoch", "best_weights", "stale"):
        setattr(state, name, payload[name])
    state.history = [EpochRecord(**record) for record in payload["history"]]
    if state.ema is not None:
        state.ema.load_state_dict(payload["ema"])
    log.info("resuming training from %s after epoch %d", path, state.epoch)
    return state


def _record(state: _State, val: SplitFeatures, loss: float, seconds: float) -> EpochRecord:
    metrics = evaluate_features(state.model, val)
    return EpochRecord(
        epoch=state.epoch, loss=loss, lr=float(state.optimizer.param_groups[0]["lr"]),
        temperature=float(1.0 / state.model.scale().detach()),
        val_t2i_r10=metrics["text_to_image"]["R@10"], val_i2t_r10=metrics["image_to_text"]["R@10"],
        seconds=seconds,
    )


def _update_best(state: _State, record: EpochRecord) -> None:
    if record.score > state.best_score:
        state.best_score, state.best_epoch, state.stale = record.score, record.epoch, 0
        state.best_weights = copy.deepcopy(state.model.state_dict())
    else:
        state.stale += 1


def train_heads(
    train: SplitFeatures,
    val: SplitFeatures,
    config: TrainConfig,
    state_path: Path | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
) -> TrainResult:
    """Train heads on ``train``, early-stopped on ``val``; resumable through ``state_path``."""
    started = time.perf_counter()
    state = (_load_state(state_path, config) if state_path else None) or _new_state(config)
    steps_per_epoch = max(1, -(-train.n_images // config.batch_size))
    total = config.epochs * steps_per_epoch
    while state.epoch < config.epochs and state.stale < config.patience:
        epoch_start = time.perf_counter()
        loss = _run_epoch(state, train, config, total)
        state.epoch += 1
        record = _record(state, val, loss, time.perf_counter() - epoch_start)
        state.history.append(record)
        _update_best(state, record)
        if state_path:
            _save_state(state_path, state, config)
        if on_epoch:
            on_epoch(record)
    state.heads.load_state_dict(state.best_weights)
    return TrainResult(
        state.heads.eval(), state.history, state.best_epoch, time.perf_counter() - started
    )
