"""The fast text tower: all-MiniLM-L6-v2 exported to ONNX once and run by ONNX Runtime.

It computes what ``SentenceTextTower`` computes (the model dir's ``modules.json`` is checked to be
Transformer -> mean Pooling -> Normalize): the BERT encoder, the attention-masked mean of the token
states and L2 normalisation are exported as one graph (dynamic batch and sequence axes); the
model's own tokenizer truncates to ``max_seq_length``. Texts are sorted by length and batched to
limit padding; rows come back in the input order. The export is cached under
``<cache_dir>/onnx/<tower id>.onnx`` and checked against eager (features within cosine
``onnx_tower.MIN_COSINE`` on ``CHECK_TEXTS``) before it is kept. Same features, hence the eager
tower's id.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from modalign.encoders.onnx_tower import export_checked, min_row_cosine, session
from modalign.encoders.towers import TEXT_FEATURE_DIM, hub_offline, text_model_path, text_tower_id
from modalign.errors import EncoderError

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

OUTPUT_NAME = "embedding"
BATCH_SIZE = 64
EXPECTED_MODULES = (
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
)
CHECK_TEXTS = (
    "dog",
    "a small red car parked next to a green leafy tree on a sunny afternoon",
    "grinning face with smiling eyes, type 1–2 — café crème brûlée 🍕 日本語のテキスト",
    " ".join(["a very long caption that goes on and on past the truncation limit"] * 40),
)


def max_seq_length(model_dir: Path) -> int:
    """``max_seq_length`` of the model, after checking it is Transformer -> mean -> Normalize."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
    except (OSError, ValueError) as exc:
        raise EncoderError(f"cannot read the sentence-transformers config in {model_dir}") from exc
    types = tuple(module["type"] for module in sorted(modules, key=lambda m: m["idx"]))
    modes = {key for key, value in pooling.items() if key.startswith("pooling_mode") and value}
    if types != EXPECTED_MODULES or modes != {"pooling_mode_mean_tokens"}:
        raise EncoderError(f"{model_dir} is not Transformer -> mean Pooling -> Normalize")
    return int(config["max_seq_length"])


def mean_pooled_network(transformer: torch.nn.Module) -> torch.nn.Module:
    """(input_ids, attention_mask, token_type_ids) -> mean-pooled, L2-normalised embedding."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
            token_type_ids: torch.Tensor,
        ) -> torch.Tensor:
            states = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )[0]
            mask = attention_mask.unsqueeze(-1).to(states.dtype)
            pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    return MeanPooled().eval()


def tokenize(tokenizer: Any, texts: Sequence[str], max_length: int) -> dict[str, np.ndarray]:
    """int64 input_ids / attention_mask / token_type_ids, padded to the longest, truncated."""
    encoded = tokenizer(
        list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="np"
    )
    ids = np.asarray(encoded["input_ids"], dtype=np.int64)
    types = encoded.get("token_type_ids")
    return {
        "input_ids": ids,
        "attention_mask": np.asarray(encoded["attention_mask"], dtype=np.int64),
        "token_type_ids": np.zeros_like(ids) if types is None else np.asarray(types, np.int64),
    }


def export_text_onnx(path: Path, threads: int) -> Path:
    """Export the text tower to ``path`` (dynamic batch and sequence axes); checked; atomic."""
    import torch

    from modalign.encoders.towers import SentenceTextTower

    eager = SentenceTextTower(threads)
    transformer: Any = eager.model[0]
    tokenizer, max_length = transformer.tokenizer, max_seq_length(text_model_path())
    network = mean_pooled_network(transformer.auto_model)
    sample = {k: torch.from_numpy(v) for k, v in tokenize(tokenizer, CHECK_TEXTS[:2], 16).items()}
    reference = eager.features(CHECK_TEXTS)

    def cosine(exported: Path) -> float:
        fast = run_batches(session(exported, threads), tokenizer, CHECK_TEXTS, max_length)
        return min_row_cosine(fast, reference)

    axes = {name: {0: "n", 1: "tokens"} for name in sample}
    return export_checked(path, network, sample, axes, cosine, "text tower", OUTPUT_NAME)


def run_batches(
    runner: Any, tokenizer: Any, texts: Sequence[str], max_length: int,
    batch_size: int = BATCH_SIZE,
) -> np.ndarray:
    """Embeddings of ``texts`` in input order, computed in length-sorted batches."""
    out = np.zeros((len(texts), TEXT_FEATURE_DIM), dtype=np.float32)
    order = np.argsort([-len(text) for text in texts], kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        inputs = tokenize(tokenizer, [texts[i] for i in rows], max_length)
        out[rows] = runner.run([OUTPUT_NAME], inputs)[0]
    return out


def onnx_text_model_path(cache_dir: Path, threads: int) -> Path:
    """Path of the (exported on first use) ONNX text tower in ``cache_dir``."""
    path = cache_dir / "onnx" / f"{text_tower_id()}.onnx"
    if not path.exists():
        export_text_onnx(path, threads)
    return path


class OnnxTextTower:
    """all-MiniLM-L6-v2 sentence embeddings (384-d, unit norm) through ONNX Runtime."""

    feature_dim = TEXT_FEATURE_DIM

    def __init__(self, cache_dir: Path, threads: int = 2, batch_size: int = BATCH_SIZE) -> None:
        hub_offline()
        from transformers import AutoTokenizer

        model_dir = text_model_path()
        self.tower_id = text_tower_id()
        self.batch_size = batch_size
        self.max_length = max_seq_length(model_dir)
        self.model_path = onnx_text_model_path(cache_dir, threads)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        except (OSError, ValueError) as exc:
            raise EncoderError(f"cannot load the all-MiniLM-L6-v2 tokenizer: {exc}") from exc
        self.session = session(self.model_path, threads)

    def features(self, texts: Sequence[str]) -> np.ndarray:
        return run_batches(self.session, self.tokenizer, texts, self.max_length, self.batch_size)
