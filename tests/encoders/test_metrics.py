"""Metrics on hand-made rank lists and similarity matrices."""

from __future__ import annotations

import itertools

import numpy as np

from modalign.encoders.metrics import (
    image_to_text_ranks,
    rank_metrics,
    ranks_any,
    ranks_single,
    recall_curve,
    text_to_image_ranks,
)


def test_rank_metrics_on_hand_made_ranks() -> None:
    metrics = rank_metrics([1, 2, 5, 6, 11, 30, 1, 10], gallery=40)
    assert metrics == {
        "R@1": 25.0, "R@5": 50.0, "R@10": 75.0, "median_rank": 5.5, "mean_rank": 8.25,
        "queries": 8, "gallery": 40,
    }


def test_rank_metrics_of_no_queries() -> None:
    assert rank_metrics([], gallery=3)["queries"] == 0


def test_ranks_single_counts_strictly_better_items() -> None:
    scores = np.array([[0.9, 0.1, 0.5], [0.9, 0.1, 0.5], [0.2, 0.2, 0.3]])
    assert ranks_single(scores, np.array([0, 1, 2])).tolist() == [1, 3, 1]


def test_ranks_any_uses_the_best_correct_item() -> None:
    # gallery items 0,1 belong to query 0; items 2,3 to query 1
    owners = np.array([0, 0, 1, 1])
    scores = np.array([[0.1, 0.8, 0.9, 0.2], [0.7, 0.6, 0.5, 0.1]])
    assert ranks_any(scores, owners).tolist() == [2, 3]


def test_text_and_image_ranks_from_embeddings() -> None:
    eye = np.eye(3, dtype=np.float32)
    images = eye
    captions = np.stack([eye[0], eye[1], eye[1], eye[2]])  # image 1 has two captions
    owner = np.array([0, 1, 1, 2])
    assert text_to_image_ranks(images, captions[[0, 1, 3]]).tolist() == [1, 1, 1]
    assert image_to_text_ranks(images, captions, owner, chunk=2).tolist() == [1, 1, 1]
    swapped = images[[1, 0, 2]]
    assert text_to_image_ranks(swapped, captions[[0, 1, 3]]).tolist() == [2, 2, 1]


def test_recall_curve_is_monotone() -> None:
    curve = recall_curve(np.array([1, 3, 7, 50]), max_k=10)
    assert curve[0] == 25.0 and curve[2] == 50.0 and curve[9] == 75.0
    assert all(a <= b for a, b in itertools.pairwise(curve))
