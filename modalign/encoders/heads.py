"""Projection heads: tower features -> the shared embedding space.

A head is a LayerNorm over the tower features followed by either one linear map or a 2-layer MLP
(Linear -> GELU -> Dropout -> Linear) with a linear skip path. ``AlignmentHeads`` holds the image
head, the text head and the learnable logit scale of the InfoNCE loss; a checkpoint stores it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

import torch
from torch import nn
from torch.nn import functional

from modalign.encoders import defaults
from modalign.errors import ConfigError

INIT_LOGIT_SCALE = math.log(1 / 0.07)
MAX_LOGIT_SCALE = 100.0


@dataclass(frozen=True)
class HeadSpec:
    """Shape of both projection heads."""

    image_dim: int = 3328
    text_dim: int = 384
    embed_dim: int = 256
    kind: Literal["linear", "mlp"] = "mlp"
    hidden_dim: int = defaults.HIDDEN_DIM
    dropout: float = defaults.HEAD_DROPOUT
    input_dropout: float = defaults.INPUT_DROPOUT
    text_kind: Literal["linear", "mlp", "identity"] | None = None  # None: same as ``kind``
    members: int = 1  # > 1: an ensemble of that many heads (``modalign.encoders.ensemble``)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HeadSpec:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


class MlpHead(nn.Module):
    """LayerNorm -> Linear -> GELU -> Dropout -> Linear, plus a linear skip from the input."""

    def __init__(
        self, in_dim: int, out_dim: int, hidden_dim: int, dropout: float, input_dropout: float
    ) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.input_dropout = nn.Dropout(input_dropout)
        self.hidden = nn.Linear(in_dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_dim, out_dim)
        self.skip = nn.Linear(in_dim, out_dim, bias=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.input_dropout(self.norm(features))
        out: torch.Tensor = self.out(self.dropout(functional.gelu(self.hidden(x))))
        skip: torch.Tensor = self.skip(x)
        return out + skip


class LinearHead(nn.Module):
    """LayerNorm -> Linear."""

    def __init__(self, in_dim: int, out_dim: int, input_dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.input_dropout = nn.Dropout(input_dropout)
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.proj(self.input_dropout(self.norm(features)))  # type: ignore[no-any-return]


def build_head(in_dim: int, spec: HeadSpec, kind: str) -> nn.Module:
    """One projection head (``linear``, ``mlp`` or ``identity``) from ``in_dim`` to embed_dim.

    ``identity`` keeps the tower's own space (locked-tower training, as in LiT): it needs
    ``embed_dim == in_dim``.
    """
    if kind == "identity":
        if in_dim != spec.embed_dim:
            raise ConfigError(f"an identity head needs embed_dim == {in_dim}")
        return nn.Identity()
    if kind == "linear":
        return LinearHead(in_dim, spec.embed_dim, spec.input_dropout)
    return MlpHead(in_dim, spec.embed_dim, spec.hidden_dim, spec.dropout, spec.input_dropout)


class AlignmentHeads(nn.Module):
    """The trained part of the dual encoder: two heads and the logit scale."""

    def __init__(self, spec: HeadSpec) -> None:
        super().__init__()
        self.spec = spec
        self.image_head = build_head(spec.image_dim, spec, spec.kind)
        self.text_head = build_head(spec.text_dim, spec, spec.text_kind or spec.kind)
        self.logit_scale = nn.Parameter(torch.tensor(INIT_LOGIT_SCALE))

    def embed_images(self, features: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings of image tower features."""
        return functional.normalize(self.image_head(features), dim=-1)

    def embed_texts(self, features: torch.Tensor) -> torch.Tensor:
        """L2-normalised text embeddings of text tower features."""
        return functional.normalize(self.text_head(features), dim=-1)

    def scale(self) -> torch.Tensor:
        """exp(logit_scale), clamped at 100 (CLIP)."""
        return self.logit_scale.exp().clamp(max=MAX_LOGIT_SCALE)
