"""Checkpoints: ``<models_dir>/<version>/heads.safetensors`` + ``card.json``.

The card records what is needed to rebuild and judge the model: towers (ids, feature dims, input
size), head shape, embedding dim, temperature, the training-data hash, metrics and created_at.
A model trained with a fine-tuned image tower also holds ``tower.safetensors`` (its top blocks),
named with its SHA-256 in the card's ``towers.image.finetune`` (see ``modalign.encoders.tuned``).
A model with a pair memory holds ``memory.safetensors``, described by the card's ``memory``
(see ``modalign.encoders.memory``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from modalign.disk import write_atomic
from modalign.encoders.ensemble import Heads, build_heads
from modalign.encoders.heads import HeadSpec
from modalign.encoders.memory import MEMORY_FILE, MemorySpec, PairMemory
from modalign.errors import EncoderError, InvalidInputError, NotFoundError

WEIGHTS_FILE = "heads.safetensors"
CARD_FILE = "card.json"


@dataclass
class ModelCard:
    """Description of one trained model version."""

    name: str
    towers: dict[str, Any]
    heads: dict[str, Any]
    temperature: float
    data_hash: str
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    memory: dict[str, Any] = field(default_factory=dict)  # PairMemory.card_entry(); {}: none
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def spec(self) -> HeadSpec:
        return HeadSpec.from_dict(self.heads)

    @property
    def dim(self) -> int:
        return self.spec.embed_dim

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["dims"] = {"embed": self.dim, "image": self.spec.image_dim, "text": self.spec.text_dim}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def save_checkpoint(
    directory: Path, heads: Heads, card: ModelCard, tower_weights: bytes | None = None,
    memory: PairMemory | None = None,
) -> Path:
    """Write the heads' weights (fine-tuned tower weights, pair memory) and the card into
    ``directory``.

    ``tower_weights`` are serialised by ``tuned.serialize_weights``. Each file is written whole
    or not at all; an earlier card is removed first and the card is written last, so a save cut
    short (a full disk: DiskFullError, a crash) leaves a directory that does not load, never a
    card beside weights it does not describe. Returns the directory.
    """
    from safetensors.torch import save

    from modalign.encoders.tuned import TOWER_FILE

    directory.mkdir(parents=True, exist_ok=True)
    (directory / CARD_FILE).unlink(missing_ok=True)
    if tower_weights is not None:
        write_atomic(directory / TOWER_FILE, tower_weights)
    if memory is not None:
        write_atomic(directory / MEMORY_FILE, memory.serialize())
    tensors = {name: t.detach().contiguous() for name, t in heads.state_dict().items()}
    write_atomic(directory / WEIGHTS_FILE, save(tensors, metadata={"name": card.name}))
    write_card(directory, card)
    return directory


def write_card(directory: Path, card: ModelCard) -> None:
    """(Re)write ``card.json`` in ``directory``."""
    text = json.dumps(card.to_dict(), indent=2, sort_keys=True) + "\n"
    write_atomic(directory / CARD_FILE, text.encode())


def read_card(directory: Path) -> ModelCard:
    """The card of the checkpoint in ``directory``."""
    path = directory / CARD_FILE
    if not path.exists():
        raise NotFoundError(f"no model card at {path}")
    try:
        return ModelCard.from_dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise EncoderError(f"unreadable model card {path}: {exc}") from exc


def load_checkpoint(directory: Path) -> tuple[Heads, ModelCard]:
    """The heads (eval mode) and card stored in ``directory``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    card = read_card(directory)
    heads = build_heads(card.spec)
    try:
        state = load_file(str(directory / WEIGHTS_FILE))
        heads.load_state_dict(state)
    except (OSError, RuntimeError, SafetensorError) as exc:
        raise EncoderError(f"cannot load the heads in {directory}: {exc}") from exc
    return heads.eval(), card


def load_memory(directory: Path, card: ModelCard) -> PairMemory | None:
    """The pair memory the card describes (None if the model has none), checked against it."""
    if not card.memory:
        return None
    try:
        spec = MemorySpec.from_dict(card.memory)
    except (InvalidInputError, TypeError) as exc:
        raise EncoderError(f"bad pair memory entry in {directory / CARD_FILE}: {exc}") from exc
    memory = PairMemory.load(directory, spec)
    found = (memory.images.shape[1], len(memory.images), len(memory.captions))
    wanted = (card.dim, card.memory.get("images"), card.memory.get("captions"))
    if found != wanted:
        raise EncoderError(
            f"the pair memory in {directory} (dim, images, captions) {found} does not match "
            f"its card {wanted}"
        )
    return memory


def logit_temperature(heads: Heads) -> float:
    """The learned temperature 1 / exp(logit_scale)."""
    with torch.no_grad():
        return float(1.0 / heads.scale())
