"""EfficientNet-Lite0 as multi-stage pooled features, and its split into a frozen bottom and a top.

``PooledFeatures`` is the image tower's network (3,328-d features). Fine-tuning the last ``N``
blocks splits it at block ``split = n_blocks - N``: ``BottomFeatures`` maps pixels to one flat row
per image (the activation at the input of block ``split``, then the pooled stage means of the
stages that end before it), computed once and cached; ``TopFeatures`` maps such rows to the same
pooled features through the shared (trainable) last blocks, ``conv_head`` and ``bn1``.
``bottom`` followed by ``top`` computes exactly what ``forward`` computes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from modalign.errors import ConfigError

HEAD_MODULES = ("net._conv_head.", "net._bn1.")


class PooledFeatures(nn.Module):
    """EfficientNet-Lite0 -> [last map avg, last map max, stage means (24..320 channels)].

    The stage means are the average-pooled outputs of each stage after the first (24, 40, 80, 112,
    192, 320 channels): mid-level stages keep colour and shape cues the ImageNet-specific last
    layer discards, and the heads use them (docs/experiments.md has the comparison).
    """

    def __init__(self, net: Any) -> None:
        super().__init__()
        self.net = net
        outs = [block._block_args.output_filters for block in net._blocks]
        self.stage_ends = [
            i for i in range(1, len(outs)) if i == len(outs) - 1 or outs[i + 1] != outs[i]
        ]

    @property
    def n_blocks(self) -> int:
        return len(self.net._blocks)

    def bottom(self, pixels: torch.Tensor, split: int) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The activation at the input of block ``split`` and the stage means before it."""
        net = self.net
        x = net._swish(net._bn0(net._conv_stem(pixels)))
        stages = []
        for index in range(split):
            x = net._blocks[index](x)
            if index in self.stage_ends:
                stages.append(x.mean(dim=(2, 3)))
        return x, stages

    def top(self, x: torch.Tensor, stages: Sequence[torch.Tensor], split: int) -> torch.Tensor:
        """Pooled features from the activation at the input of block ``split``."""
        net = self.net
        means = list(stages)
        for index in range(split, self.n_blocks):
            x = net._blocks[index](x)
            if index in self.stage_ends:
                means.append(x.mean(dim=(2, 3)))
        x = net._swish(net._bn1(net._conv_head(x)))
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3)), *means], dim=1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x, stages = self.bottom(pixels, self.n_blocks)
        return self.top(x, stages, self.n_blocks)

    def split_index(self, top_blocks: int) -> int:
        """Index of the first of the last ``top_blocks`` blocks."""
        if not 1 <= top_blocks <= self.n_blocks:
            raise ConfigError(f"can fine-tune 1 to {self.n_blocks} top blocks, not {top_blocks}")
        return self.n_blocks - top_blocks

    def top_state(self, top_blocks: int) -> dict[str, torch.Tensor]:
        """The weights (and batch-norm statistics) of the last ``top_blocks`` blocks and head."""
        split = self.split_index(top_blocks)
        prefixes = (*(f"net._blocks.{i}." for i in range(split, self.n_blocks)), *HEAD_MODULES)
        return {
            name: value.detach().clone().contiguous()
            for name, value in self.state_dict().items() if name.startswith(prefixes)
        }


class BottomFeatures(nn.Module):
    """Pixels -> flat rows [activation at the input of block ``split`` ; earlier stage means]."""

    def __init__(self, pooled: PooledFeatures, split: int, dim: int) -> None:
        super().__init__()
        self.pooled, self.split, self.dim = pooled, split, dim

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        x, stages = self.pooled.bottom(pixels, self.split)
        return torch.cat([x.flatten(1), *stages], dim=1)


class TopFeatures(nn.Module):
    """Flat bottom rows -> pooled features, through the last blocks shared with ``pooled``.

    Its parameters are those of the last blocks, ``conv_head`` and ``bn1``; training them trains
    ``pooled``. Batch-norm layers stay in eval mode (the pretrained statistics are kept).
    """

    def __init__(self, pooled: PooledFeatures, split: int, shape: tuple[int, int, int]) -> None:
        super().__init__()
        net = pooled.net
        self.blocks = nn.ModuleList(net._blocks[split:])
        self.conv_head, self.bn1, self.act = net._conv_head, net._bn1, net._swish
        self.stage_ends = [i - split for i in pooled.stage_ends if i >= split]
        self.shape = shape
        self.size = shape[0] * shape[1] * shape[2]

    def train(self, mode: bool = True) -> TopFeatures:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self

    def forward(self, rows: torch.Tensor) -> torch.Tensor:
        x = rows[:, : self.size].reshape(-1, *self.shape)
        means = [rows[:, self.size :]]
        for index, block in enumerate(self.blocks):
            x = block(x)
            if index in self.stage_ends:
                means.append(x.mean(dim=(2, 3)))
        x = self.act(self.bn1(self.conv_head(x)))
        return torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3)), *means], dim=1)


def split_network(
    pooled: PooledFeatures, top_blocks: int, image_size: int
) -> tuple[BottomFeatures, TopFeatures]:
    """The frozen bottom and the trainable top of ``pooled`` for fine-tuning ``top_blocks``."""
    split = pooled.split_index(top_blocks)
    with torch.inference_mode():
        x, stages = pooled.bottom(torch.zeros(1, 3, image_size, image_size), split)
    shape = (int(x.shape[1]), int(x.shape[2]), int(x.shape[3]))
    dim = int(x[0].numel()) + sum(int(stage.shape[1]) for stage in stages)
    for parameter in pooled.parameters():
        parameter.requires_grad_(False)
    top = TopFeatures(pooled, split, shape)
    for parameter in top.parameters():
        parameter.requires_grad_(True)
    return BottomFeatures(pooled, split, dim).eval(), top.eval()

