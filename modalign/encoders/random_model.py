"""Random-weight model versions: a trained model's shape and compute without training (benchmarks).

The heads have the configured default shape and the pair memory the demo model's size (its
training split: 6,257 images, 11,853 captions), so encoding costs what it costs with a trained
model; the embeddings mean nothing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from modalign.config import Settings
from modalign.encoders.checkpoint import ModelCard, save_checkpoint
from modalign.encoders.memory import MemorySpec, PairMemory

DEMO_MEMORY_SIZE = (6257, 11853)  # (images, captions) of the demo training split


def random_memory(
    dim: int, images: int, captions: int, seed: int = 0, spec: MemorySpec | None = None
) -> PairMemory:
    """A pair memory of random unit embeddings; every image has at least one caption."""
    rng = np.random.default_rng(seed)
    owner = np.concatenate([np.arange(images), rng.integers(0, images, max(captions - images, 0))])
    return PairMemory.build(rng.normal(size=(images, dim)), rng.normal(size=(len(owner), dim)),
                            owner, spec or MemorySpec())


def register_random_model(
    settings: Settings, name: str, memory_size: tuple[int, int] | None = DEMO_MEMORY_SIZE
) -> Path:
    """Random heads of the default shape (and a random memory of ``memory_size``), saved under
    ``models_dir/name`` and registered as the active model version. Returns the directory."""
    import torch

    from modalign.catalog.migrate import upgrade
    from modalign.encoders.heads import AlignmentHeads, HeadSpec
    from modalign.encoders.model_versions import register_checkpoint

    torch.manual_seed(0)
    spec = HeadSpec(embed_dim=settings.encoders.embed_dim, kind=settings.encoders.head)
    memory = random_memory(spec.embed_dim, *memory_size) if memory_size else None
    card = ModelCard(name=name, towers={}, heads=spec.to_dict(), temperature=0.07, data_hash="-",
                     memory=memory.card_entry() if memory else {})
    directory = save_checkpoint(settings.paths.models_dir / name, AlignmentHeads(spec), card,
                                memory=memory)
    upgrade(settings.database_url)
    register_checkpoint(settings, directory, card)
    return directory
