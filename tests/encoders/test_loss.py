"""Symmetric InfoNCE: equals a direct computation; masks same-group pairs; falls when learnable."""

from __future__ import annotations

import math

import pytest
import torch
from torch.nn import functional

from modalign.encoders.fit import TrainConfig, train_heads
from modalign.encoders.heads import INIT_LOGIT_SCALE, AlignmentHeads, HeadSpec
from modalign.encoders.loss import ClipLoss

from .toy import toy_split


def direct_loss(img: list[list[float]], txt: list[list[float]], scale: float,
                negatives_off: frozenset[tuple[int, int]] = frozenset()) -> float:
    """CLIP loss written out with loops: mean over both directions of -log softmax(diagonal)."""
    n = len(img)
    sim = [[scale * sum(a * b for a, b in zip(img[i], txt[j], strict=True)) for j in range(n)]
           for i in range(n)]
    total = 0.0
    for i in range(n):
        row = [sim[i][j] for j in range(n) if (i, j) not in negatives_off]
        col = [sim[j][i] for j in range(n) if (j, i) not in negatives_off]
        total += -(sim[i][i] - math.log(sum(math.exp(v) for v in row)))
        total += -(sim[i][i] - math.log(sum(math.exp(v) for v in col)))
    return total / (2 * n)


def approx(value: float) -> object:
    return pytest.approx(value, rel=1e-5, abs=1e-6)


def unit(rows: torch.Tensor) -> torch.Tensor:
    return functional.normalize(rows, dim=-1)


def test_loss_equals_direct_computation() -> None:
    gen = torch.Generator().manual_seed(1)
    img, txt = unit(torch.randn(4, 3, generator=gen)), unit(torch.randn(4, 3, generator=gen))
    scale = torch.tensor(math.exp(INIT_LOGIT_SCALE))
    got = float(ClipLoss()(img, txt, scale))
    assert got == approx(direct_loss(img.tolist(), txt.tolist(), float(scale)))


def test_same_group_pairs_are_not_negatives() -> None:
    gen = torch.Generator().manual_seed(2)
    img, txt = unit(torch.randn(4, 3, generator=gen)), unit(torch.randn(4, 3, generator=gen))
    scale = torch.tensor(10.0)
    groups = torch.tensor([0, 1, 1, 2])  # items 1 and 2 are variants of each other
    got = float(ClipLoss()(img, txt, scale, groups))
    expected = direct_loss(img.tolist(), txt.tolist(), 10.0, frozenset({(1, 2), (2, 1)}))
    assert got == approx(expected)
    assert got != approx(direct_loss(img.tolist(), txt.tolist(), 10.0))


def test_logit_scale_is_clamped_at_100() -> None:
    heads = AlignmentHeads(HeadSpec(image_dim=4, text_dim=4, embed_dim=2, kind="linear"))
    with torch.no_grad():
        heads.logit_scale.fill_(10.0)
    assert float(heads.scale().detach()) == 100.0
    assert float(AlignmentHeads(HeadSpec()).scale().detach()) == approx(1 / 0.07)


def test_loss_falls_and_recall_rises_on_a_separable_toy_set() -> None:
    data = toy_split(64, 0)
    spec = HeadSpec(image_dim=16, text_dim=12, embed_dim=8, kind="linear")
    config = TrainConfig(spec=spec, epochs=30, batch_size=16, lr=1e-2, patience=30, ema_decay=0.0)
    result = train_heads(data, data, config)
    losses = [record.loss for record in result.history]
    assert losses[-1] < 0.5 * losses[0]
    assert result.history[-1].val_t2i_r10 > 90
