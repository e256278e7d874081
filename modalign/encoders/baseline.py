"""The toy baseline: a 2-layer CNN on 64 px images and mean-pooled learned word embeddings.

Trained from scratch with the same loss, caption sampling and group masking as the real model, for a
fixed CPU-time budget, and evaluated by the same rank code, so the two can be reported side by side.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from modalign.encoders.data import Sample, load_image
from modalign.encoders.evaluate import EvalResult, evaluate_embeddings
from modalign.encoders.features.extract import group_ids
from modalign.encoders.heads import INIT_LOGIT_SCALE, MAX_LOGIT_SCALE
from modalign.encoders.loss import ClipLoss
from modalign.encoders.preprocess import letterbox

IMAGE_SIZE = 64
MAX_TOKENS = 24
WORD = re.compile(r"[a-z0-9]+")


def tokens(text: str) -> list[str]:
    """Lower-case word tokens."""
    return WORD.findall(text.lower())


@dataclass
class Vocabulary:
    """Word -> id (0 = padding, 1 = unknown)."""

    ids: dict[str, int]

    @classmethod
    def build(cls, texts: Sequence[str], max_size: int = 20000) -> Vocabulary:
        counts = Counter(word for text in texts for word in tokens(text))
        words = [w for w, _ in counts.most_common(max_size)]
        return cls({word: index + 2 for index, word in enumerate(words)})

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), MAX_TOKENS, dtype=torch.long)
        for row, text in enumerate(texts):
            ids = [self.ids.get(word, 1) for word in tokens(text)][:MAX_TOKENS] or [1]
            out[row, : len(ids)] = torch.tensor(ids)
        return out


class ToyModel(nn.Module):
    """2 conv layers + pooling for images; mean of word embeddings for texts; both to ``dim``."""

    def __init__(self, vocab_size: int, dim: int = 256) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.image_proj = nn.Linear(64, dim)
        self.embed = nn.Embedding(vocab_size + 2, dim, padding_idx=0)
        self.text_proj = nn.Linear(dim, dim)
        self.logit_scale = nn.Parameter(torch.tensor(INIT_LOGIT_SCALE))

    def embed_images(self, pixels: torch.Tensor) -> torch.Tensor:
        x = functional.max_pool2d(functional.relu(self.conv1(pixels)), 2)
        x = functional.relu(self.conv2(x)).mean(dim=(2, 3))
        return functional.normalize(self.image_proj(x), dim=-1)

    def embed_texts(self, ids: torch.Tensor) -> torch.Tensor:
        mask = (ids > 0).float().unsqueeze(-1)
        mean = (self.embed(ids) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return functional.normalize(self.text_proj(mean), dim=-1)

    def scale(self) -> torch.Tensor:
        return self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)


def pixels64(samples: Sequence[Sample]) -> torch.Tensor:
    """(N, 3, 64, 64) float tensor in [-1, 1] of the samples' letterboxed images."""
    arrays = [np.asarray(letterbox(load_image(s.path), IMAGE_SIZE)) for s in samples]
    stacked = np.stack(arrays).astype(np.float32).transpose(0, 3, 1, 2)
    return torch.from_numpy(stacked / 127.5 - 1.0)


@dataclass
class ToyData:
    """Pixels, tokenised captions and their bookkeeping for one split."""

    pixels: torch.Tensor
    captions: torch.Tensor
    owner: np.ndarray
    first: np.ndarray
    groups: np.ndarray

    @classmethod
    def build(cls, samples: Sequence[Sample], vocab: Vocabulary) -> ToyData:
        texts = [c for s in samples for c in s.captions]
        counts = [len(s.captions) for s in samples]
        return cls(
            pixels64(samples), vocab.encode(texts), np.repeat(np.arange(len(samples)), counts),
            np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64), group_ids(samples),
        )


def _epoch(
    model: ToyModel, data: ToyData, opt: torch.optim.Optimizer, rng: np.random.Generator,
    batch: int,
) -> None:
    model.train()
    counts = np.bincount(data.owner, minlength=len(data.pixels))
    order = rng.permutation(len(data.pixels))
    for start in range(0, len(order) - 1, batch):
        index = order[start : start + batch]
        if len(index) < 2:
            break
        caption = data.first[index] + (rng.random(len(index)) * counts[index]).astype(np.int64)
        loss = ClipLoss()(
            model.embed_images(data.pixels[index]), model.embed_texts(data.captions[caption]),
            model.scale(), torch.from_numpy(data.groups[index]),
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def evaluate_toy(model: ToyModel, data: ToyData, split: str) -> EvalResult:
    """Evaluate the toy model with the same rank code as the real one."""
    with torch.inference_mode():
        images = torch.cat([model.embed_images(c) for c in torch.split(data.pixels, 256)]).numpy()
        texts = torch.cat([model.embed_texts(c) for c in torch.split(data.captions, 1024)]).numpy()
    return evaluate_embeddings("baseline-toy", split, images, texts, data.owner, data.first)


@dataclass
class BaselineOutcome:
    """The toy model's evaluations and how long it trained."""

    evals: dict[str, EvalResult]
    epochs: int
    seconds: float


def _score(result: EvalResult) -> float:
    metrics = result.metrics()
    return float(metrics["text_to_image"]["R@10"] + metrics["image_to_text"]["R@10"]) / 2


def train_baseline(
    splits: dict[str, list[Sample]], seconds: float, seed: int = 0, batch: int = 128,
    max_epochs: int = 200, on_epoch: Callable[[int, float], None] | None = None,
) -> BaselineOutcome:
    """Train the toy model for about ``seconds`` of wall time; keep the best epoch on val.
    ``on_epoch(epochs, elapsed seconds)`` after each epoch."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    vocab = Vocabulary.build([c for s in splits["train"] for c in s.captions])
    data = {name: ToyData.build(items, vocab) for name, items in splits.items() if items}
    model = ToyModel(len(vocab.ids))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=0.01)
    started, epochs, best, best_state = time.perf_counter(), 0, -1.0, model.state_dict()
    while epochs < max_epochs and time.perf_counter() - started < seconds:
        _epoch(model, data["train"], opt, rng, batch)
        epochs += 1
        score = _score(evaluate_toy(model, data["val"], "val"))
        if score > best:
            best, best_state = score, {k: v.clone() for k, v in model.state_dict().items()}
        if on_epoch is not None:
            on_epoch(epochs, time.perf_counter() - started)
    model.load_state_dict(best_state)
    evals = {name: evaluate_toy(model, d, name) for name, d in data.items() if name != "train"}
    return BaselineOutcome(evals, epochs, time.perf_counter() - started)
