"""Fine-tuned top blocks of the image tower, stored beside a model version's heads.

``modalign train --finetune-top N`` trains the last N blocks of EfficientNet-Lite0 (with its
``conv_head`` and ``bn1``) together with the heads. Their weights go to ``tower.safetensors`` in the
checkpoint, and the card's ``towers.image.finetune`` records how many blocks and the file's SHA-256.
A ``TunedTower`` names those weights; its tower id (base id, blocks, hash prefix) keys the feature
cache and the ONNX export, so a fine-tuned model never reuses frozen-tower features or vice versa.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modalign.errors import EncoderError

if TYPE_CHECKING:
    import torch

TOWER_FILE = "tower.safetensors"


@dataclass(frozen=True)
class TunedTower:
    """Fine-tuned weights of the image tower's last ``top_blocks`` blocks (a safetensors file)."""

    weights: Path
    digest: str  # SHA-256 of the weights file
    top_blocks: int

    def tower_id(self, base_id: str) -> str:
        """Id of the features the base tower ``base_id`` computes with these weights."""
        return f"{base_id}-ft{self.top_blocks}-{self.digest[:12]}"


def serialize_weights(state: dict[str, torch.Tensor]) -> bytes:
    """The safetensors bytes of a tower's fine-tuned weights."""
    from safetensors.torch import save

    return save({name: state[name].contiguous() for name in sorted(state)})


def weights_digest(payload: bytes) -> str:
    """SHA-256 (hex) of serialised weights."""
    return hashlib.sha256(payload).hexdigest()


def card_entry(top_blocks: int, digest: str, lr_scale: float) -> dict[str, Any]:
    """The card's ``towers.image.finetune`` record."""
    return {"top_blocks": top_blocks, "weights": TOWER_FILE, "sha256": digest,
            "lr_scale": lr_scale}


def tuned_tower(directory: Path, image_card: dict[str, Any]) -> TunedTower | None:
    """The fine-tuned tower of the checkpoint in ``directory`` (None when its tower is frozen)."""
    entry = image_card.get("finetune")
    if not entry:
        return None
    path = directory / str(entry.get("weights", TOWER_FILE))
    try:
        digest = weights_digest(path.read_bytes())
    except OSError as exc:
        raise EncoderError(f"cannot read the fine-tuned tower weights {path}: {exc}") from exc
    if digest != entry.get("sha256"):
        raise EncoderError(f"{path} does not match the SHA-256 its model card records")
    return TunedTower(path.resolve(), digest, int(entry["top_blocks"]))


def load_tuned_weights(network: torch.nn.Module, tuned: TunedTower) -> None:
    """Replace the pretrained weights of ``network``'s top blocks by the fine-tuned ones."""
    from safetensors.torch import load_file

    try:
        state = load_file(str(tuned.weights))
    except Exception as exc:  # safetensors raises its own untyped errors
        raise EncoderError(f"cannot load the fine-tuned tower {tuned.weights}: {exc}") from exc
    unknown = sorted(set(state) - set(network.state_dict()))
    if unknown:
        raise EncoderError(f"{tuned.weights} holds weights the image tower lacks: {unknown[:3]}")
    try:
        network.load_state_dict(state, strict=False)
    except RuntimeError as exc:
        raise EncoderError(f"the fine-tuned tower {tuned.weights} does not fit: {exc}") from exc
