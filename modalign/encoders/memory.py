"""PairMemory: the training split's image-caption pairs in the joint space, to expand embeddings.

A trained model's embeddings are expanded with what its training pairs say about their neighbours
(in the manner of RECO, "Retrieval-Enhanced Contrastive Vision-Text Models", Iscen et al. 2023, with
a fixed weighted mean in place of its learned fusion). An image embedding ``x`` finds its ``k``
nearest training images (cosine in the joint space); their captions' mean embeddings, weighted by a
softmax of those cosines at ``temperature``, are added to ``x`` with ``weight`` and the sum is
normalised again. A caption embedding does the same with its nearest training captions and their
images. Queries and indexed items go through the same expansion, so every search direction keeps
one space. The memory holds training pairs only: validation and test items are never in it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from modalign.encoders import defaults
from modalign.errors import EncoderError, InvalidInputError

MEMORY_FILE = "memory.safetensors"
CHUNK_ROWS = 256  # rows expanded at once: bounds the (rows x memory) similarity matrix


@dataclass(frozen=True)
class MemorySpec:
    """How embeddings are expanded: neighbours taken, softmax temperature, weight of their mean."""

    neighbours: int = defaults.MEMORY_NEIGHBOURS
    temperature: float = defaults.MEMORY_TEMPERATURE
    weight: float = defaults.MEMORY_WEIGHT

    def __post_init__(self) -> None:
        if self.neighbours < 1 or self.temperature <= 0 or self.weight < 0:
            raise InvalidInputError(
                "memory needs neighbours >= 1, temperature > 0 and weight >= 0"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MemorySpec:
        return cls(**{key: data[key] for key in cls.__dataclass_fields__ if key in data})


def _unit(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return np.asarray(rows / np.maximum(norms, 1e-12), dtype=np.float32)


@dataclass(frozen=True, eq=False)
class PairMemory:
    """Unit embeddings of the training images and captions, and the image each caption describes."""

    images: np.ndarray  # (n_images, dim)
    captions: np.ndarray  # (n_captions, dim)
    caption_owner: np.ndarray  # (n_captions,) row of ``images`` each caption describes
    spec: MemorySpec
    caption_means: np.ndarray  # (n_images, dim) each image's unit mean caption embedding

    @classmethod
    def build(
        cls, images: np.ndarray, captions: np.ndarray, caption_owner: np.ndarray, spec: MemorySpec
    ) -> PairMemory:
        """A memory of the given image and caption embeddings, normalised (every image needs a
        caption)."""
        return cls._of_unit_rows(_unit(images), _unit(captions), caption_owner, spec)

    @classmethod
    def _of_unit_rows(
        cls, images: np.ndarray, captions: np.ndarray, caption_owner: np.ndarray, spec: MemorySpec
    ) -> PairMemory:
        owner = np.asarray(caption_owner, dtype=np.int64)
        if len(captions) != len(owner) or len(images) == 0:
            raise InvalidInputError("a memory needs images and one owner per caption")
        if images.ndim != 2 or captions.ndim != 2 or images.shape[1] != captions.shape[1]:
            raise InvalidInputError("memory images and captions need one embedding dimension")
        if np.unique(owner).size != len(images) or owner.min() < 0 or owner.max() >= len(images):
            raise InvalidInputError("every memory image needs at least one caption")
        sums = np.zeros_like(images)
        np.add.at(sums, owner, captions)
        return cls(images, captions, owner, spec, _unit(sums))

    def expand_images(self, embeddings: np.ndarray) -> np.ndarray:
        """Image embeddings plus the weighted captions of their nearest training images."""
        return self._expand(embeddings, self.images, self.caption_means, None)

    def expand_texts(self, embeddings: np.ndarray) -> np.ndarray:
        """Caption embeddings plus the weighted images of their nearest training captions."""
        return self._expand(embeddings, self.captions, self.images, self.caption_owner)

    def _expand(
        self, embeddings: np.ndarray, keys: np.ndarray, values: np.ndarray,
        value_of_key: np.ndarray | None,
    ) -> np.ndarray:
        rows = np.asarray(embeddings, dtype=np.float32)
        if len(rows) == 0 or self.spec.weight == 0:
            return np.ascontiguousarray(rows)
        parts = [self._mixed(rows[start : start + CHUNK_ROWS], keys, values, value_of_key)
                 for start in range(0, len(rows), CHUNK_ROWS)]
        return np.ascontiguousarray(_unit(rows + self.spec.weight * np.concatenate(parts)))

    def _mixed(
        self, rows: np.ndarray, keys: np.ndarray, values: np.ndarray,
        value_of_key: np.ndarray | None,
    ) -> np.ndarray:
        """Softmax-weighted mean of the values of each row's nearest keys (key i's value is
        ``values[value_of_key[i]]``, or ``values[i]`` without a mapping)."""
        k = min(self.spec.neighbours, len(keys))
        similarity = rows @ keys.T
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        scores = np.take_along_axis(similarity, nearest, axis=1) / self.spec.temperature
        weights = np.exp(scores - scores.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        chosen = nearest if value_of_key is None else value_of_key[nearest]
        mixed: np.ndarray = np.einsum("nk,nkd->nd", weights, values[chosen])
        return mixed

    def card_entry(self) -> dict[str, Any]:
        """What the model card says of the memory: its spec and size."""
        return {**self.spec.to_dict(), "images": len(self.images), "captions": len(self.captions)}

    def serialize(self) -> bytes:
        """The memory's arrays as safetensors bytes (written to ``MEMORY_FILE``)."""
        from safetensors.numpy import save

        return save({"images": self.images, "captions": self.captions,
                     "caption_owner": self.caption_owner})

    @classmethod
    def load(cls, directory: Path, spec: MemorySpec) -> PairMemory:
        """The memory written to ``directory`` from ``serialize``."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        try:
            tensors = load_file(str(directory / MEMORY_FILE))
            return cls._of_unit_rows(
                tensors["images"], tensors["captions"], tensors["caption_owner"], spec
            )
        except (OSError, KeyError, ValueError, SafetensorError, InvalidInputError) as exc:
            raise EncoderError(f"cannot load the pair memory in {directory}: {exc}") from exc
