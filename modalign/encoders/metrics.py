"""Retrieval metrics from exact 1-based ranks: recall@K (percent), median and mean rank.

Ranks come from a full similarity matrix (numpy matmul), never from the ANN index. A query's rank is
1 + the number of gallery items scoring strictly higher than its best-scoring correct item.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

RECALL_KS = (1, 5, 10)


def recall_at(ranks: np.ndarray, k: int) -> float:
    """Percent of queries whose rank is <= k."""
    if len(ranks) == 0:
        return 0.0
    return float(100.0 * np.mean(ranks <= k))


def rank_metrics(ranks: np.ndarray | Sequence[int], gallery: int) -> dict[str, Any]:
    """``{"R@1", "R@5", "R@10", "median_rank", "mean_rank", "queries", "gallery"}`` of ``ranks``."""
    values = np.asarray(ranks, dtype=np.int64)
    metrics: dict[str, Any] = {f"R@{k}": round(recall_at(values, k), 2) for k in RECALL_KS}
    empty = len(values) == 0
    metrics["median_rank"] = 0.0 if empty else float(np.median(values))
    metrics["mean_rank"] = 0.0 if empty else round(float(np.mean(values)), 2)
    metrics["queries"] = len(values)
    metrics["gallery"] = gallery
    return metrics


def ranks_single(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Rank of ``targets[i]`` in row i of ``scores`` (queries x gallery)."""
    rows = np.arange(len(scores))
    true_scores = scores[rows, targets]
    return np.asarray(1 + (scores > true_scores[:, None]).sum(axis=1), dtype=np.int64)


def ranks_any(scores: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """Rank of the best correct item of query i (gallery item j is correct iff owners[j] == i)."""
    correct = owners[None, :] == np.arange(len(scores))[:, None]
    best = np.where(correct, scores, -np.inf).max(axis=1)
    return np.asarray(1 + (scores > best[:, None]).sum(axis=1), dtype=np.int64)


def text_to_image_ranks(image_emb: np.ndarray, query_emb: np.ndarray) -> np.ndarray:
    """Ranks of image i for text query i (its first caption) over all images."""
    scores = query_emb @ image_emb.T
    return ranks_single(scores, np.arange(len(query_emb)))


def image_to_text_ranks(
    image_emb: np.ndarray, caption_emb: np.ndarray, caption_owner: np.ndarray, chunk: int = 1024
) -> np.ndarray:
    """Ranks of image i's best caption over all captions (``caption_owner[j]``: image of j)."""
    parts = []
    for start in range(0, len(image_emb), chunk):
        scores = image_emb[start : start + chunk] @ caption_emb.T
        parts.append(ranks_any(scores, caption_owner - start))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def recall_curve(ranks: np.ndarray, max_k: int = 50) -> list[float]:
    """Recall@K in percent for K = 1..max_k."""
    return [recall_at(ranks, k) for k in range(1, max_k + 1)]
