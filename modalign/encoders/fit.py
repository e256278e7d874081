"""Training the projection heads on cached tower features with symmetric InfoNCE.

Each step takes a batch of images, one (randomly chosen) augmented view and one sampled caption per
image, and minimises the CLIP loss with same-group pairs masked. AdamW, linear warmup then cosine
decay; after every epoch the validation recall@10 (mean of both directions) is measured, the
best heads kept, and training stops after ``patience`` epochs without improvement. The full state
is saved after every epoch, so an interrupted run resumes where it stopped and ends with the same
weights.

With a ``tower`` (the top blocks of the image tower, ``image_net.TopFeatures``), the split's image
rows are that tower's inputs (cached activations): it is trained with the heads, at
``tower_lr_scale`` times their learning rate, and its best weights are kept the same way.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from modalign.disk import write_atomic
from modalign.encoders import defaults
from modalign.encoders.ensemble import Heads
from modalign.encoders.features.extract import SplitFeatures
from modalign.encoders.heads import AlignmentHeads, HeadSpec
from modalign.encoders.loss import ClipLoss
from modalign.encoders.metrics import image_to_text_ranks, rank_metrics, text_to_image_ranks
from modalign.encoders.schedule import warmup_cosine

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of head training; the defaults are the recipe (:mod:`.defaults`)."""

    spec: HeadSpec = field(default_factory=HeadSpec)
    epochs: int = defaults.EPOCHS
    batch_size: int = 256
    lr: float = defaults.LEARNING_RATE
    weight_decay: float = defaults.WEIGHT_DECAY
    warmup_fraction: float = 0.05
    patience: int = 5
    first_caption_prob: float = defaults.FIRST_CAPTION_PROB
    feature_noise: float = defaults.FEATURE_NOISE  # Gaussian, x the image features' std
    text_noise: float = defaults.TEXT_NOISE  # the same on caption features
    ema_decay: float = 0.995  # > 0: evaluate and keep an exponential moving average of weights
    seed: int = 0
    finetune_top: int = 0  # image tower blocks trained with the heads (0: frozen tower)
    tower_lr_scale: float = defaults.TOWER_LR_SCALE  # the tower's lr relative to the heads'
    image_features: str = ""  # id of the image features trained on: a run resumes only on the same

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        data = self.to_dict()
        if not self.finetune_top:  # frozen-tower runs keep the fingerprint they had before
            del data["finetune_top"], data["tower_lr_scale"]
        if not self.text_noise:  # so do runs from before text noise existed
            del data["text_noise"]
        if not self.image_features:
            del data["image_features"]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def with_spec(self, **changes: Any) -> TrainConfig:
        return replace(self, spec=replace(self.spec, **changes))


def recipe(
    seed: int = 0, embed_dim: int = 256, kind: Literal["linear", "mlp"] = "mlp"
) -> TrainConfig:
    """The configuration ``modalign train`` uses when given no options."""
    return TrainConfig(spec=HeadSpec(embed_dim=embed_dim, kind=kind), seed=seed)


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
    """The best heads (and tower top, if trained) and the history that led to them."""

    heads: Heads
    history: list[EpochRecord]
    best_epoch: int
    seconds: float
    tower: nn.Module | None = None


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
    tower: nn.Module | None = None
    ema_tower: nn.Module | None = None
    best_tower: dict[str, torch.Tensor] = field(default_factory=dict)

    @property
    def model(self) -> AlignmentHeads:
        """The weights that are evaluated and kept: the moving average if there is one."""
        return self.ema if self.ema is not None else self.heads

    @property
    def model_tower(self) -> nn.Module | None:
        """The tower weights that are evaluated and kept (the moving average if there is one)."""
        return self.ema_tower if self.ema_tower is not None else self.tower

    def update_ema(self, decay: float) -> None:
        with torch.no_grad():
            for live, ema in ((self.heads, self.ema), (self.tower, self.ema_tower)):
                if live is None or ema is None:
                    continue
                current = live.state_dict()
                for name, value in ema.state_dict().items():
                    if value.is_floating_point():
                        value.lerp_(current[name], 1.0 - decay)


def tower_features(tower: nn.Module, rows: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Image features of tower inputs (e.g. cached activations) through ``tower``, in eval mode."""
    tower.eval()
    parts = []
    with torch.inference_mode():
        for start in range(0, len(rows), batch_size):
            parts.append(tower(torch.from_numpy(rows[start : start + batch_size])).numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


def evaluate_features(
    heads: AlignmentHeads, split: SplitFeatures, tower: nn.Module | None = None
) -> dict[str, dict[str, Any]]:
    """Retrieval metrics of ``heads`` (after ``tower``) on a split's cached rows (plain view)."""
    rows = split.images[:, 0]
    features = tower_features(tower, rows) if tower is not None else rows
    with torch.inference_mode():
        images = heads.embed_images(torch.from_numpy(features)).numpy()
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


def _param_groups(module: nn.Module, weight_decay: float, lr_scale: float) -> list[dict[str, Any]]:
    """AdamW groups: matrices decay, vectors and scalars do not; ``lr_scale`` x the base rate."""
    params = [p for p in module.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay,
         "lr_scale": lr_scale},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0, "lr_scale": lr_scale},
    ]


def _new_state(config: TrainConfig, tower: nn.Module | None = None) -> _State:
    torch.manual_seed(config.seed)
    heads = AlignmentHeads(config.spec)
    groups = _param_groups(heads, config.weight_decay, 1.0)
    if tower is not None:
        groups += _param_groups(tower, config.weight_decay, config.tower_lr_scale)
    optimizer = torch.optim.AdamW(groups, lr=config.lr)
    averaged = config.ema_decay > 0
    return _State(
        heads, optimizer, np.random.default_rng(config.seed),
        ema=copy.deepcopy(heads).eval() if averaged else None, tower=tower,
        ema_tower=copy.deepcopy(tower).eval() if averaged and tower is not None else None,
    )


def _set_mode(state: _State, training: bool) -> None:
    for module in (state.heads, state.tower):
        if module is not None:
            module.train(training)


def _jitter(features: torch.Tensor, scale: float) -> torch.Tensor:
    """``features`` plus Gaussian noise of ``scale`` times their standard deviation (if > 0)."""
    if scale <= 0:
        return features
    noise = scale * features.detach().std()
    return features + noise * torch.randn_like(features)


def _run_epoch(state: _State, split: SplitFeatures, config: TrainConfig, total: int) -> float:
    _set_mode(state, True)
    loss_fn, losses = ClipLoss(), []
    order = state.rng.permutation(split.n_images)
    warmup = int(config.warmup_fraction * total)
    for start in range(0, len(order) - 1, config.batch_size):
        index = order[start : start + config.batch_size]
        if len(index) < 2:
            break
        images, texts = _sample_batch(split, index, state.rng, config.first_caption_prob)
        image_t, text_t = torch.from_numpy(images), torch.from_numpy(texts)
        if state.tower is not None:
            image_t = state.tower(image_t)
        image_t, text_t = _jitter(image_t, config.feature_noise), _jitter(text_t, config.text_noise)
        factor = warmup_cosine(state.step, warmup, total)
        for group in state.optimizer.param_groups:
            group["lr"] = config.lr * group.get("lr_scale", 1.0) * factor
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
    _set_mode(state, False)
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
        "tower": _weights(state.tower), "ema_tower": _weights(state.ema_tower),
        "best_tower": state.best_tower,
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(path, buffer.getvalue())  # a full disk keeps the last epoch's state whole


def _weights(module: nn.Module | None) -> dict[str, torch.Tensor] | None:
    return module.state_dict() if module is not None else None


def _load_state(path: Path, config: TrainConfig, tower: nn.Module | None) -> _State | None:
    if not path.exists():
        return None
    payload = torch.load(path, weights_only=False)
    if payload.get("fingerprint") != config.fingerprint():
        log.warning("ignoring %s: it was made with another training configuration", path)
        return None
    state = _new_state(config, tower)
    state.heads.load_state_dict(payload["heads"])
    state.optimizer.load_state_dict(payload["optimizer"])
    state.rng.bit_generator.state = payload["rng"]
    torch.set_rng_state(payload["torch_rng"])
    for name in ("step", "epoch", "best_score", "best_epoch", "best_weights", "stale"):
        setattr(state, name, payload[name])
    state.history = [EpochRecord(**record) for record in payload["history"]]
    if state.ema is not None:
        state.ema.load_state_dict(payload["ema"])
    for module, name in ((state.tower, "tower"), (state.ema_tower, "ema_tower")):
        if module is not None:
            module.load_state_dict(payload[name])
    state.best_tower = payload.get("best_tower") or {}
    log.info("resuming training from %s after epoch %d", path, state.epoch)
    return state


def _record(state: _State, val: SplitFeatures, loss: float, seconds: float) -> EpochRecord:
    metrics = evaluate_features(state.model, val, state.model_tower)
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
        tower = state.model_tower
        state.best_tower = copy.deepcopy(tower.state_dict()) if tower is not None else {}
    else:
        state.stale += 1


def train_heads(
    train: SplitFeatures,
    val: SplitFeatures,
    config: TrainConfig,
    state_path: Path | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    tower: nn.Module | None = None,
) -> TrainResult:
    """Train heads on ``train``, early-stopped on ``val``; resumable through ``state_path``.

    ``tower`` (trained in place, ending with its best weights) maps the splits' image rows to the
    heads' image features; without it the rows are the features.
    """
    started = time.perf_counter()
    loaded = _load_state(state_path, config, tower) if state_path else None
    state = loaded or _new_state(config, tower)
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
    if state.tower is not None:
        state.tower.load_state_dict(state.best_tower)
        state.tower.eval()
    return TrainResult(
        state.heads.eval(), state.history, state.best_epoch, time.perf_counter() - started,
        state.tower,
    )
