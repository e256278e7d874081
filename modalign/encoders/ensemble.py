"""Several independently trained heads used as one: ``HeadEnsemble``.

Members are ``AlignmentHeads`` trained under different seeds. Their 256-d spaces are not aligned
with each other (each starts from its own random initialisation), so their embeddings cannot be
averaged; concatenated (each unit row scaled by 1/sqrt(N)) a dot product is the mean of the
members' cosines. ``fit_projection`` then maps that N x dim concatenation back to ``dim`` with the
top principal directions of the training split's image and caption embeddings, so an ensemble's
vectors are as long as a single model's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from modalign.encoders.heads import AlignmentHeads, HeadSpec
from modalign.errors import ConfigError


class HeadEnsemble(nn.Module):
    """N heads -> concatenated unit embeddings -> a learned-once linear projection -> unit rows."""

    projection: torch.Tensor

    def __init__(self, spec: HeadSpec, members: Sequence[AlignmentHeads] | None = None) -> None:
        super().__init__()
        if spec.members < 2:
            raise ConfigError("an ensemble needs at least 2 members")
        single = replace(spec, members=1)
        self.spec = spec
        heads = members or [AlignmentHeads(single) for _ in range(spec.members)]
        self.members = nn.ModuleList(heads)
        if len(self.members) != spec.members:
            raise ConfigError(f"expected {spec.members} members, got {len(self.members)}")
        wide = spec.members * spec.embed_dim
        self.register_buffer("projection", torch.eye(wide, spec.embed_dim))

    def _concatenated(self, features: torch.Tensor, kind: str) -> torch.Tensor:
        """The members' unit ``kind`` ("images" or "texts") embeddings side by side."""
        parts = [
            (m.embed_images if kind == "images" else m.embed_texts)(features) for m in self._heads()
        ]
        return torch.cat(parts, dim=-1)

    def _joined(self, features: torch.Tensor, kind: str) -> torch.Tensor:
        joined = self._concatenated(features, kind) / math.sqrt(len(self.members))
        return functional.normalize(joined @ self.projection, dim=-1)

    def embed_images(self, features: torch.Tensor) -> torch.Tensor:
        """L2-normalised image embeddings (``embed_dim``) of image tower features."""
        return self._joined(features, "images")

    def embed_texts(self, features: torch.Tensor) -> torch.Tensor:
        """L2-normalised text embeddings (``embed_dim``) of text tower features."""
        return self._joined(features, "texts")

    def scale(self) -> torch.Tensor:
        """The members' mean logit scale (for the card's temperature)."""
        return torch.stack([m.scale() for m in self._heads()]).mean()

    def _heads(self) -> list[AlignmentHeads]:
        return [m for m in self.members if isinstance(m, AlignmentHeads)]

    def fit_projection(self, image_features: np.ndarray, text_features: np.ndarray) -> None:
        """Set the projection to the top ``embed_dim`` principal directions (uncentred) of the
        concatenated member embeddings of these tower features (the training split's)."""
        images, texts = torch.from_numpy(image_features), torch.from_numpy(text_features)
        with torch.inference_mode():
            rows = torch.cat([
                self._concatenated(images, "images"), self._concatenated(texts, "texts")
            ])
            # eigenvectors of the (N*dim)^2 Gram matrix: as many directions as columns, even when
            # there are fewer rows than embed_dim
            _, vectors = torch.linalg.eigh(rows.T.double() @ rows.double())
        self.projection.copy_(vectors.flip(-1)[:, : self.spec.embed_dim].float())


Heads = AlignmentHeads | HeadEnsemble


def build_heads(spec: HeadSpec) -> Heads:
    """Untrained heads of ``spec``: one ``AlignmentHeads``, or an ensemble of ``spec.members``."""
    return AlignmentHeads(spec) if spec.members <= 1 else HeadEnsemble(spec)
