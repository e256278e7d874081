"""Symmetric InfoNCE (the CLIP loss) with in-batch negatives and same-group masking.

Row i of the image and text embeddings is a matching pair. Pairs (i, j), i != j, whose items share
a group (the same image, or near-duplicates such as skin-tone variants) are removed from the
negatives: their logits are set to -inf, so a caption is never pushed away from an image it also
describes.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional


def get_ground_truth(n: int, device: torch.device | None = None) -> torch.Tensor:
    """Target class of each row: its own index."""
    return torch.arange(n, device=device)


def negative_mask(groups: torch.Tensor | None, n: int) -> torch.Tensor | None:
    """(n, n) True where an off-diagonal pair shares a group and must not be a negative."""
    if groups is None:
        return None
    same = groups.unsqueeze(0) == groups.unsqueeze(1)
    same.fill_diagonal_(False)
    return same if bool(same.any()) else None


def get_logits(
    image_emb: torch.Tensor,
    text_emb: torch.Tensor,
    logit_scale: torch.Tensor,
    groups: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Image->text and text->image logits, scaled, with same-group pairs masked out."""
    logits_per_image = logit_scale * image_emb @ text_emb.T
    mask = negative_mask(groups, len(image_emb))
    if mask is not None:
        logits_per_image = logits_per_image.masked_fill(mask, float("-inf"))
    return logits_per_image, logits_per_image.T


class ClipLoss(nn.Module):
    """Mean of the image->text and text->image cross-entropies."""

    def forward(
        self,
        image_emb: torch.Tensor,
        text_emb: torch.Tensor,
        logit_scale: torch.Tensor,
        groups: torch.Tensor | None = None,
    ) -> torch.Tensor:
        logits_per_image, logits_per_text = get_logits(image_emb, text_emb, logit_scale, groups)
        labels = get_ground_truth(len(image_emb), image_emb.device)
        loss_i = functional.cross_entropy(logits_per_image, labels)
        loss_t = functional.cross_entropy(logits_per_text, labels)
        return (loss_i + loss_t) / 2
